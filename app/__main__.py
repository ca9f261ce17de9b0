"""``python -m app``: serve the API (``app.cli.serve``)."""

from app.cli.serve import main

if __name__ == "__main__":
    main()
