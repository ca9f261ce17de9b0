"""The stored order: the quote a reservation was made at, as the ledger keeps it.

A reservation row keeps the quote its customer was given (amounts, the
promotions applied, and the sentences shown with them), so that reading the
reservation later answers with that quote, and confirming it writes the
ledger's order from it — whatever the rules or the API look like by then.
Its schema is this module's, versioned, and independent of the HTTP models:
``SCHEMA_VERSION`` 1 is the JSON reservations were stored with before the
version existed (a row without ``schema_version`` is version 1).

The sentences are made at the edge (``app.api.wording``): the reservation
service is handed a ``RecordQuote`` that turns the engine's ``Quote`` into
this document, so it never needs to know the words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.rules.model import Quote

SCHEMA_VERSION = 1


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AdjustmentDocument(_Document):
    promotion_id: str
    amount: int
    units: int
    capped: Literal["price_floor"] | None = None


class NoticeDocument(_Document):
    promotion_id: str
    reason: str
    message: str


class LineDocument(_Document):
    line_id: str
    sku: str
    qty: int
    unit_price: int
    list_total: int
    discount: int
    final_total: int
    adjustments: list[AdjustmentDocument]
    notices: list[NoticeDocument] = []  # added in schema 1 as optional: older rows have none


class AppliedDocument(_Document):
    promotion_id: str
    name: str
    stage: str
    benefit_type: str
    amount: int
    coupon_code: str | None
    description: str


class GiftDocument(_Document):
    sku: str
    qty: int
    promotion_id: str


class CouponDocument(_Document):
    code: str
    status: Literal["applied", "rejected"]
    reason: str | None
    message: str


class HintDocument(_Document):
    promotion_id: str
    missing_amount: int | None
    missing_qty: int | None
    reward_amount: int
    message: str


class OrderDocument(_Document):
    """The quote of one reservation, amounts in minor units."""

    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    currency: str
    subtotal: int
    discount_total: int
    shipping_fee: int
    shipping_discount: int
    total: int
    lines: list[LineDocument]
    applied: list[AppliedDocument]
    gifts: list[GiftDocument]
    coupons: list[CouponDocument]
    hints: list[HintDocument]
    optimal: bool
    degraded: bool
    warnings: list[str]
    rules_version: str

    @classmethod
    def from_stored(cls, stored: Any) -> OrderDocument:
        return cls.model_validate(stored)

    def to_stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """``to_stored`` as JSON text, in one pass."""
        return self.model_dump_json()


RecordQuote = Callable[[Quote], OrderDocument]
"""Turns the engine's quote into the stored order, with its sentences."""
