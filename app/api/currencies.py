"""ISO 4217: the currency codes a cart may be priced in, and plain words for a wrong one.

``CODES`` is the ISO 4217 list of currencies (from Debian's ``iso-codes`` 4.15,
``/usr/share/iso-codes/json/iso_4217.json``, with the codes added since: XCG,
ZWG) less the codes that are not money a shop takes: precious metals (XAU, XAG,
XPD, XPT), bond-market units (XBA–XBD), XDR, XSU, XUA, the testing code XTS and
"no currency" XXX. ``tests/unit/test_currencies.py`` holds it against that file
where the machine has it. A frozen set, not a dependency: the list changes a
code or two a year.
"""

from __future__ import annotations

from collections.abc import Mapping

CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV
    BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE
    CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
    HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
    MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST
    XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 (a list literal is 190 lines)
)

NOT_MONEY: frozenset[str] = frozenset("XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX".split())  # noqa: SIM905
"""ISO 4217 codes that are not currencies a cart is priced in."""

MISTAKES: Mapping[str, str] = {
    "RMB": "CNY",
    "YUAN": "CNY",
    "CNH": "CNY",  # offshore yuan: a market's name, not an ISO 4217 code
    "NTD": "TWD",
    "NT$": "TWD",
    "YEN": "JPY",
    "EURO": "EUR",
    "EUROS": "EUR",
    "US$": "USD",
    "HK$": "HKD",
    "RUR": "RUB",
    "UKP": "GBP",
    "STG": "GBP",
}
"""Names people type for a currency, and its ISO 4217 code."""


def currency_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a cart's currency, in plain words, or None."""
    if value in CODES:
        return None
    upper = value.strip().upper()
    if upper in MISTAKES:
        return f"{value!r} is not an ISO 4217 code: use {MISTAKES[upper]!r}"
    if upper in CODES:
        return f"currency codes are upper case: use {upper!r}"
    if upper in NOT_MONEY:
        return f"{value!r} is an ISO 4217 code but not a currency a cart is priced in"
    return f"{value!r} is not an ISO 4217 currency code (such as 'CNY', 'USD', 'EUR')"
