"""Every worked example in tests/examples, through HTTP, on both back ends.

Promotions are created with ``POST /v1/admin/promotions``, codes with
``POST .../codes``, then the cart goes to ``POST /v1/quote``; the answer is
compared as tests/examples/README.md says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, CHECKOUT, Start

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.json"))
TOP_LEVEL = ("subtotal", "discount_total", "shipping_discount", "total", "optimal")


def test_the_examples_are_there() -> None:
    assert len(EXAMPLES) >= 18


def compare(expect: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Every difference between the expectation and the answer, as readable lines."""
    wrong: list[str] = []
    for key in TOP_LEVEL:
        if key in expect and got[key] != expect[key]:
            wrong.append(f"{key}: expected {expect[key]!r}, got {got[key]!r}")
    lines = {line["line_id"]: line for line in got["lines"]}
    for line_id, fields in expect.get("lines", {}).items():
        if line_id not in lines:
            wrong.append(f"line {line_id}: missing")
            continue
        for field, value in fields.items():
            if lines[line_id].get(field) != value:
                wrong.append(
                    f"line {line_id} {field}: expected {value!r}, got {lines[line_id].get(field)!r}"
                )
    if "applied" in expect:
        applied = {a["promotion_id"]: a["amount"] for a in got["applied"]}
        if applied != expect["applied"]:
            wrong.append(f"applied: expected {expect['applied']!r}, got {applied!r}")
    if "coupons" in expect:
        outcomes = {
            c["code"].upper(): "applied" if c["status"] == "applied" else c["reason"]
            for c in got["coupons"]
        }
        for code, outcome in expect["coupons"].items():
            if outcomes.get(code.upper()) != outcome:
                wrong.append(
                    f"coupon {code}: expected {outcome!r}, got {outcomes.get(code.upper())!r}"
                )
    if "hints" in expect:
        hints = {h["promotion_id"]: h for h in got["hints"]}
        for promotion_id, fields in expect["hints"].items():
            if promotion_id not in hints:
                wrong.append(f"hint {promotion_id}: missing (hints: {sorted(hints)})")
                continue
            for field, value in fields.items():
                if hints[promotion_id].get(field) != value:
                    wrong.append(
                        f"hint {promotion_id} {field}: expected {value!r}, "
                        f"got {hints[promotion_id].get(field)!r}"
                    )
    if "gifts" in expect:

        def key(g: dict[str, Any]) -> tuple[str, str, int]:
            return (g["promotion_id"], g["sku"], g["qty"])

        gifts = sorted(key(g) for g in got["gifts"])
        if gifts != sorted(key(g) for g in expect["gifts"]):
            wrong.append(f"gifts: expected {expect['gifts']!r}, got {got['gifts']!r}")
    return wrong


def check_invariants(got: dict[str, Any]) -> list[str]:
    wrong: list[str] = []
    if (
        got["total"]
        != got["subtotal"] - got["discount_total"] + got["shipping_fee"] - got["shipping_discount"]
    ):
        wrong.append("total != subtotal - discount_total + shipping_fee - shipping_discount")
    if got["discount_total"] != sum(line["discount"] for line in got["lines"]):
        wrong.append("discount_total != sum of line discounts")
    for line in got["lines"]:
        if not 0 <= line["final_total"] <= line["list_total"]:
            wrong.append(f"line {line['line_id']} final_total out of bounds")
    return wrong


LOADED = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_example(start: Start, path: Path) -> None:
    example = LOADED[path.name]
    client = (await start()).client
    for body in example["promotions"]:
        created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert created.status_code == 201, (body["id"], created.text)
    for promotion_id, codes in (example.get("codes") or {}).items():
        for code in codes:
            made = await client.post(
                f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code}, headers=ADMIN
            )
            assert made.status_code == 201, (promotion_id, code, made.text)
    response = await client.post("/v1/quote", json=example["request"], headers=CHECKOUT)
    assert response.status_code == 200, response.text
    got = response.json()
    wrong = compare(example["expect"], got) + check_invariants(got)
    assert not wrong, f"{path.name}: {example.get('about', '')}\n  " + "\n  ".join(wrong)
