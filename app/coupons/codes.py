"""Coupon codes: normalising what customers type, and making unguessable ones.

Codes are case-insensitive: stored and compared upper-case, surrounding
spaces dropped. A generated code is ``prefix`` + 12 characters drawn with
``secrets`` (5 random bits each) from 32 unambiguous symbols (no 0/O, 1/I): 60 bits, so guessing a
live code is hopeless even with millions issued.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no 0/O/1/I
RANDOM_LENGTH = 12
MAX_LENGTH = 64
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
PREFIX_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


def normalize(code: str) -> str:
    return code.strip().upper()


def is_valid(code: str) -> bool:
    return CODE_PATTERN.fullmatch(code) is not None


def generate(prefix: str, count: int) -> list[str]:
    """``count`` distinct random codes starting with ``prefix`` (normalised)."""
    prefix = normalize(prefix)
    made: dict[str, None] = {}
    while len(made) < count:
        # 32 symbols: the low 5 bits of a random byte pick one uniformly (256 = 8 x 32)
        symbols = secrets.token_bytes(RANDOM_LENGTH * (count - len(made)))
        text = symbols.translate(_SYMBOL_OF_BYTE).decode("ascii")
        for i in range(0, len(text), RANDOM_LENGTH):
            made[prefix + text[i : i + RANDOM_LENGTH]] = None
    return list(made)


_SYMBOL_OF_BYTE = bytes(ord(ALPHABET[b % 32]) for b in range(256))
