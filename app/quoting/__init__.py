"""Quoting: gather a cart's inputs (rules, codes, wallet, counter readings), call the
engine's ``price``, hand back its ``Quote``."""
