"""The registry of benefit types: one rule per type string — the one list of types.

Adding a benefit type is one new module beside these and one line below. Every
other list of benefit types is checked against ``registered()``
(``tests/unit/test_benefit_registry.py``): the API's ``BenefitBody`` union, the
stored ``BenefitDocument`` union, the wording (``app.api.wording.DESCRIPTIONS``)
and the property-test strategies; a type registered here and missing there
fails that test, which names the place.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.rules.benefits.base import ItemRule, OrderRule, ShippingRule
from app.rules.benefits.bundle import BundleRule
from app.rules.benefits.flash_sale import FlashSaleRule
from app.rules.benefits.gift import GiftRule
from app.rules.benefits.item import (
    ItemAmountOffRule,
    ItemFixedPriceRule,
    ItemPercentOffRule,
    MemberPriceRule,
)
from app.rules.benefits.nth_item import NthItemRule
from app.rules.benefits.shipping import FreeShippingRule, ShippingAmountOffRule
from app.rules.benefits.threshold import AmountOffRule, PercentOffRule, ThresholdRule

ITEM_RULES: Mapping[str, ItemRule] = {
    "item_percent_off": ItemPercentOffRule(),
    "item_amount_off": ItemAmountOffRule(),
    "item_fixed_price": ItemFixedPriceRule(),
    "member_price": MemberPriceRule(),
    "flash_sale": FlashSaleRule(),
}

ORDER_RULES: Mapping[str, OrderRule] = {
    "threshold": ThresholdRule(),
    "amount_off": AmountOffRule(),
    "percent_off": PercentOffRule(),
    "nth_item": NthItemRule(),
    "bundle": BundleRule(),
    "gift": GiftRule(),
}

SHIPPING_RULES: Mapping[str, ShippingRule] = {
    "free_shipping": FreeShippingRule(),
    "shipping_amount_off": ShippingAmountOffRule(),
}

BENEFIT_TYPES: frozenset[str] = (
    frozenset(ITEM_RULES) | frozenset(ORDER_RULES) | frozenset(SHIPPING_RULES)
)


def registered() -> tuple[str, ...]:
    """Every registered benefit type, in registry order (item, order, shipping)."""
    return (*ITEM_RULES, *ORDER_RULES, *SHIPPING_RULES)
