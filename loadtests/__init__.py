"""Benchmarks and locust load tests (see docs/performance.md)."""
