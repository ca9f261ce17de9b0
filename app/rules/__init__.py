"""The pricing engine: a pure functional core.

``RuleSet`` (an immutable, indexed snapshot of the active promotions) and
``price(rules, request) -> Quote`` are the whole surface. Nothing here does
I/O or imports a framework; see docs/engine.md.
"""
