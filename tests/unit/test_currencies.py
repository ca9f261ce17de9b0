"""The ISO 4217 list a cart's currency is checked against (``app.api.currencies``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.api import currencies, wording

ISO_CODES = Path("/usr/share/iso-codes/json/iso_4217.json")  # Debian's iso-codes
ADDED_SINCE = {"XCG", "ZWG"}  # ISO 4217 amendments after iso-codes 4.15


@pytest.mark.skipif(not ISO_CODES.exists(), reason="iso-codes is not installed here")
def test_the_list_is_iso_4217_less_what_is_not_money() -> None:
    source = {c["alpha_3"] for c in json.loads(ISO_CODES.read_text(encoding="utf-8"))["4217"]}
    assert source >= currencies.NOT_MONEY
    # iso-codes may gain the newer codes (or drop withdrawn ones) in later releases
    assert source - currencies.NOT_MONEY >= currencies.CODES - ADDED_SINCE
    assert source - currencies.NOT_MONEY - currencies.CODES == set()


def test_the_list_holds_every_currency_the_wording_formats() -> None:
    assert wording.ZERO_DECIMAL | wording.THREE_DECIMAL <= currencies.CODES
    assert {"CNY", "USD", "EUR", "JPY", "HKD", "TWD", "KRW", "GBP"} <= currencies.CODES
    assert not currencies.CODES & currencies.NOT_MONEY
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in currencies.CODES)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("CNY", None),
        ("RMB", "'RMB' is not an ISO 4217 code: use 'CNY'"),
        ("rmb", "'rmb' is not an ISO 4217 code: use 'CNY'"),
        ("cny", "currency codes are upper case: use 'CNY'"),
        ("XAU", "'XAU' is an ISO 4217 code but not a currency a cart is priced in"),
        ("ABC", "'ABC' is not an ISO 4217 currency code (such as 'CNY', 'USD', 'EUR')"),
    ],
)
def test_a_wrong_currency_is_said_plainly(value: str, words: str | None) -> None:
    assert currencies.currency_problem(value) == words
