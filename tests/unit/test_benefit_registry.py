"""The benefit registry (``app/rules/benefits/__init__.py``) is the one list of benefit types.

Every other list — the API's benefit union, the stored document's, the
wording, the property-test strategies — is checked against it here, so a type
registered and forgotten elsewhere fails with the place named.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from app.api import wording
from app.api.schemas import BenefitBody
from app.promotions.document import BenefitDocument
from app.rules import benefits, model
from app.rules.benefits.threshold import ThresholdRule
from tests.unit import strategies


def _union_types(union: Any) -> set[str]:
    """The ``type`` literals of a discriminated union of pydantic models."""
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in members}


def places() -> Mapping[str, set[str]]:
    return {
        "app/api/schemas.py BenefitBody": _union_types(BenefitBody),
        "app/promotions/document.py BenefitDocument": _union_types(BenefitDocument),
        "app/api/wording.py DESCRIPTIONS": set(wording.DESCRIPTIONS),
        "tests/unit/strategies.py _DRAW": set(strategies.DRAWN),
        "app/rules/model.py (a Benefit record per type)": {
            cls.type for cls in typing.get_args(model.Benefit)
        },
    }


def missing(registered: Iterable[str]) -> dict[str, list[str]]:
    """Per place, the registered types it lacks (places lacking none left out)."""
    wanted = set(registered)
    return {place: sorted(wanted - have) for place, have in places().items() if wanted - have}


def test_every_registered_type_is_everywhere() -> None:
    assert missing(benefits.registered()) == {}


def test_no_place_knows_a_type_the_registry_does_not() -> None:
    registered = set(benefits.registered())
    assert {place: sorted(have - registered) for place, have in places().items()} == {
        place: [] for place in places()
    }


def test_the_strategies_draw_the_registrys_types() -> None:
    assert benefits.registered() == strategies.BENEFIT_TYPES


def test_a_type_registered_alone_is_pointed_at_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        benefits, "ORDER_RULES", {**benefits.ORDER_RULES, "cashback": ThresholdRule()}
    )
    assert "cashback" in benefits.registered()
    assert missing(benefits.registered()) == {place: ["cashback"] for place in places()}
