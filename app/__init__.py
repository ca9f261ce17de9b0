"""Promotion pricing service."""
