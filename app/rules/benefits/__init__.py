"""The registry of benefit types: one rule per type string.

Adding a benefit type is one new module beside these and one line below.
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
