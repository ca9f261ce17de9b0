"""The coupon shapes of a marketplace as worked scenarios, through HTTP, on both
back ends (tests/coupon_scenarios/README.md says the format): a 新人红包, a
segment-only coupon, shop coupons beside a platform coupon from the wallet, and
a coupon claimable only inside its window.

A scenario creates its promotions, then runs its steps in order: claims
(``POST /v1/coupons/claim``: the status, the problem code, fields of the
answer; a claimed code gets a ``name`` that later steps write as ``$name``),
quotes (``POST /v1/quote``, compared as the worked examples are, and checked
for the quote invariants) and wallets (``GET /v1/customers/{id}/coupons``:
exactly these codes with these statuses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_examples import check_invariants, compare
from tests.conftest import ADMIN, CHECKOUT, Start

SCENARIOS = sorted((Path(__file__).parents[1] / "coupon_scenarios").glob("*.json"))
LOADED = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCENARIOS}


def test_the_scenarios_are_there() -> None:
    assert len(SCENARIOS) >= 4


def named(value: Any, codes: dict[str, str]) -> Any:
    """``value`` with every ``$name`` (a whole string, or a key) replaced by its code."""
    if isinstance(value, str) and value.startswith("$"):
        if value[1:] not in codes:
            raise KeyError(f"{value}: no claim of that name before this step")
        return codes[value[1:]]
    if isinstance(value, list):
        return [named(v, codes) for v in value]
    if isinstance(value, dict):
        return {named(k, codes): named(v, codes) for k, v in value.items()}
    return value


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_scenario(start: Start, path: Path) -> None:
    scenario = LOADED[path.name]
    client = (await start()).client
    for body in scenario["promotions"]:
        created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert created.status_code == 201, (body["id"], created.text)
    codes: dict[str, str] = {}
    for number, step in enumerate(scenario["steps"], 1):
        where = f"{path.name} step {number}"
        if "claim" in step:
            answer = await client.post("/v1/coupons/claim", json=step["claim"], headers=CHECKOUT)
            assert answer.status_code == step["status"], f"{where}: {answer.text}"
            got = answer.json()
            if "code" in step:
                assert got["code"] == step["code"], f"{where}: {answer.text}"
                continue
            for field, value in step.get("expect", {}).items():
                assert got[field] == value, f"{where} {field}: {got[field]!r}"
            if "name" in step:
                codes[step["name"]] = got["code"]
        elif "quote" in step:
            answer = await client.post(
                "/v1/quote", json=named(step["quote"], codes), headers=CHECKOUT
            )
            assert answer.status_code == 200, f"{where}: {answer.text}"
            got = answer.json()
            wrong = compare(named(step["expect"], codes), got) + check_invariants(got)
            assert not wrong, f"{where}: {scenario['about']}\n  " + "\n  ".join(wrong)
        else:
            answer = await client.get(f"/v1/customers/{step['wallet']}/coupons", headers=CHECKOUT)
            assert answer.status_code == 200, f"{where}: {answer.text}"
            wallet = {c["code"]: c["status"] for c in answer.json()["coupons"]}
            assert wallet == named(step["expect"], codes), f"{where}: {wallet}"
