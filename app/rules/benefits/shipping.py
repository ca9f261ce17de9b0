"""Shipping benefits: free shipping (包邮) and an amount off the fee."""

from __future__ import annotations

from app.rules.model import Benefit, ShippingAmountOff, Stage


class FreeShippingRule:
    stage = Stage.SHIPPING

    def waive(self, benefit: Benefit, fee: int) -> int:
        return fee


class ShippingAmountOffRule:
    stage = Stage.SHIPPING

    def waive(self, benefit: Benefit, fee: int) -> int:
        assert isinstance(benefit, ShippingAmountOff)
        return min(benefit.amount, fee)
