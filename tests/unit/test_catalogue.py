"""The load tests' catalogue (``loadtests.catalogue``): every benefit type, the
hot flash-sale SKUs named by no other promotion, the same catalogue for the
same seed. (That the service takes it through the bulk import is the smoke
run's job: tests/integration/test_loadtest_smoke.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.rules.benefits import registered
from loadtests.catalogue import Catalogue

NOW = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


def test_every_benefit_type_tiers_coupons_and_limits_are_there() -> None:
    catalogue = Catalogue.make(now=NOW)
    bodies = catalogue.promotions
    assert {b["benefit"]["type"] for b in bodies} == set(registered())
    assert len({b["id"] for b in bodies}) == len(bodies) == 300
    assert any(b.get("conditions", {}).get("customer_tiers") for b in bodies)
    assert any(b.get("limits", {}).get("budget") for b in bodies)
    assert any(b.get("trigger") == "coupon" for b in bodies)
    assert set(catalogue.shared_codes.values()) <= {b["id"] for b in bodies}
    assert len({s.merchant for s in catalogue.skus}) >= 40
    assert len({s.category for s in catalogue.skus}) >= 40


def test_the_hot_skus_are_a_shop_no_other_promotion_names() -> None:
    catalogue = Catalogue.make(now=NOW)
    hot = {item.sku for item in catalogue.hot}
    hot_ids = {item.promotion_id for item in catalogue.hot}
    shop = {s.merchant for s in catalogue.skus if s.sku in hot}
    for body in catalogue.promotions:
        if body["id"] in hot_ids:
            continue
        scope = body.get("scope", {})
        assert not hot & set(scope.get("skus", [])), body["id"]
        assert not shop & set(scope.get("merchants", [])), body["id"]
        benefit = body["benefit"]
        named = {i["sku"] for i in benefit.get("items", [])}
        assert not hot & named, body["id"]


def test_same_seed_same_catalogue_and_it_round_trips(tmp_path: Path) -> None:
    one, two = Catalogue.make(3, now=NOW), Catalogue.make(3, now=NOW)
    assert one == two
    assert Catalogue.make(4, now=NOW).promotions != one.promotions
    one.save(tmp_path / "c.json")
    assert Catalogue.load(tmp_path / "c.json") == one
