"""Promotion pricing service."""

# Before anything imports the engine: load its mypyc build when built and current.
from app import native as native
