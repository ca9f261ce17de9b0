"""Command-line entry points: ``python -m app`` (``serve``) and ``python -m app.cli.recover``."""
