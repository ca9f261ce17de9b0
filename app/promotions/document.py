"""The promotion document: what admins write, the database stores and the snapshot loads.

Its schema is this module's, versioned, and independent of the HTTP models in
``app.api.schemas``: the API may tighten a validator or rename a field without
making a stored promotion unreadable. ``SCHEMA_VERSION`` 1 is the JSON every
promotion was stored as before the version existed (a row without
``schema_version`` is version 1), so every stored row reads.

Reading is deliberately lenient — the API checks what admins send; a stored
document only needs to be convertible — and a document that does not read is
never dropped in silence (``app.promotions.snapshot`` reports it).
``PromotionDocument.to_record`` makes the engine's ``Promotion`` (percent as the
exact ``Fraction`` of the decimal given, hours in minutes, the time zone as a
``ZoneInfo``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictBool, StrictInt

from app.rules import model

SCHEMA_VERSION = 1
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def new_promotion_id() -> str:
    """The id of a promotion created without one: ``p-`` and 16 hex digits."""
    return f"p-{uuid.uuid4().hex[:16]}"


def _percent_json(value: Decimal) -> int | float:
    # at most two decimals, so a float round-trips exactly
    return int(value) if value == value.to_integral_value() else float(value)


Percent = Annotated[Decimal, PlainSerializer(_percent_json, return_type=int | float)]
Amount = StrictInt
Keys = list[str]


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class ScopeDocument(_Document):
    skus: Keys = []
    categories: Keys = []
    brands: Keys = []
    merchants: Keys = []
    tags: Keys = []
    exclude_skus: Keys = []
    exclude_categories: Keys = []

    def to_record(self) -> model.Scope:
        return model.Scope(
            **{name: frozenset(getattr(self, name)) for name in type(self).model_fields}
        )


class ConditionsDocument(_Document):
    customer_tiers: Keys = []
    segments: Keys = []
    new_customer: StrictBool | None = None
    first_order: StrictBool | None = None
    phone_verified: StrictBool | None = None
    channels: Keys = []
    min_qty: StrictInt | None = None
    min_amount: Amount | None = None

    def to_record(self) -> model.Conditions:
        return model.Conditions(
            customer_tiers=frozenset(self.customer_tiers),
            segments=frozenset(self.segments),
            new_customer=self.new_customer,
            first_order=self.first_order,
            phone_verified=self.phone_verified,
            channels=frozenset(self.channels),
            min_qty=self.min_qty,
            min_amount=self.min_amount,
        )


class LimitsDocument(_Document):
    max_uses: StrictInt | None = None
    max_uses_per_customer: StrictInt | None = None
    budget: Amount | None = None
    max_claims: StrictInt | None = None
    max_claims_per_customer: StrictInt | None = None

    def to_record(self) -> model.Limits:
        return model.Limits(**self.model_dump())


class HoursDocument(_Document):
    from_: str = Field(alias="from", pattern=r"^\d\d:\d\d$")
    to: str = Field(pattern=r"^\d\d:\d\d$")

    def to_record(self) -> model.HourWindow:
        return model.HourWindow(start=_minutes(self.from_), end=_minutes(self.to))


# ------------------------------------------------------------------- benefits


class ItemPercentOffDocument(_Document):
    type: Literal["item_percent_off"]
    percent: Percent

    def to_record(self) -> model.Benefit:
        return model.ItemPercentOff(percent=Fraction(self.percent))


class ItemAmountOffDocument(_Document):
    type: Literal["item_amount_off"]
    amount: Amount

    def to_record(self) -> model.Benefit:
        return model.ItemAmountOff(amount=self.amount)


class ItemFixedPriceDocument(_Document):
    type: Literal["item_fixed_price"]
    price: Amount

    def to_record(self) -> model.Benefit:
        return model.ItemFixedPrice(price=self.price)


class MemberTierDocument(_Document):
    percent: Percent


class MemberPriceDocument(_Document):
    type: Literal["member_price"]
    tiers: dict[str, MemberTierDocument] = {}
    prices: dict[str, dict[str, Amount]] = {}

    def to_record(self) -> model.Benefit:
        return model.MemberPrice(
            tiers={tier: Fraction(body.percent) for tier, body in self.tiers.items()},
            prices={tier: dict(prices) for tier, prices in self.prices.items()},
        )


class FlashItemDocument(_Document):
    sku: str
    price: Amount
    stock: StrictInt
    per_customer_limit: StrictInt | None = None


class FlashSaleDocument(_Document):
    type: Literal["flash_sale"]
    items: list[FlashItemDocument]

    def to_record(self) -> model.Benefit:
        return model.FlashSale(items=tuple(model.FlashItem(**i.model_dump()) for i in self.items))


class TierDocument(_Document):
    min_amount: Amount | None = None
    min_qty: StrictInt | None = None
    amount_off: Amount | None = None
    percent: Percent | None = None


class ThresholdDocument(_Document):
    type: Literal["threshold"]
    tiers: list[TierDocument]
    repeat: StrictBool = False
    max_discount: Amount | None = None

    def to_record(self) -> model.Benefit:
        return model.Threshold(
            tiers=tuple(
                model.Tier(
                    min_amount=t.min_amount,
                    min_qty=t.min_qty,
                    amount_off=t.amount_off,
                    percent=None if t.percent is None else Fraction(t.percent),
                )
                for t in self.tiers
            ),
            repeat=self.repeat,
            max_discount=self.max_discount,
        )


class AmountOffDocument(_Document):
    type: Literal["amount_off"]
    amount: Amount

    def to_record(self) -> model.Benefit:
        return model.AmountOff(amount=self.amount)


class PercentOffDocument(_Document):
    type: Literal["percent_off"]
    percent: Percent
    max_discount: Amount | None = None

    def to_record(self) -> model.Benefit:
        return model.PercentOff(percent=Fraction(self.percent), max_discount=self.max_discount)


class NthItemDocument(_Document):
    type: Literal["nth_item"]
    every: StrictInt
    percent: Percent

    def to_record(self) -> model.Benefit:
        return model.NthItem(every=self.every, percent=Fraction(self.percent))


class SkuQtyDocument(_Document):
    sku: str
    qty: StrictInt


class BundleDocument(_Document):
    type: Literal["bundle"]
    items: list[SkuQtyDocument]
    price: Amount
    max_applications: StrictInt | None = None

    def to_record(self) -> model.Benefit:
        return model.Bundle(
            items=tuple(model.BundleItem(sku=i.sku, qty=i.qty) for i in self.items),
            price=self.price,
            max_applications=self.max_applications,
        )


class GiftTierDocument(_Document):
    min_amount: Amount | None = None
    min_qty: StrictInt | None = None
    gifts: list[SkuQtyDocument]


class GiftDocument(_Document):
    type: Literal["gift"]
    tiers: list[GiftTierDocument]

    def to_record(self) -> model.Benefit:
        return model.Gift(
            tiers=tuple(
                model.GiftTier(
                    gifts=tuple(model.GiftItem(sku=g.sku, qty=g.qty) for g in t.gifts),
                    min_amount=t.min_amount,
                    min_qty=t.min_qty,
                )
                for t in self.tiers
            )
        )


class FreeShippingDocument(_Document):
    type: Literal["free_shipping"]

    def to_record(self) -> model.Benefit:
        return model.FreeShipping()


class ShippingAmountOffDocument(_Document):
    type: Literal["shipping_amount_off"]
    amount: Amount

    def to_record(self) -> model.Benefit:
        return model.ShippingAmountOff(amount=self.amount)


BenefitDocument = Annotated[
    ItemPercentOffDocument
    | ItemAmountOffDocument
    | ItemFixedPriceDocument
    | MemberPriceDocument
    | FlashSaleDocument
    | ThresholdDocument
    | AmountOffDocument
    | PercentOffDocument
    | NthItemDocument
    | BundleDocument
    | GiftDocument
    | FreeShippingDocument
    | ShippingAmountOffDocument,
    Field(discriminator="type"),
]


class PromotionDocument(_Document):
    """One stored promotion, normalised: every field present with its default."""

    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    id: str = Field(pattern=ID_PATTERN)
    name: str
    status: str = "active"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    hours: list[HoursDocument] | None = None
    weekdays: list[StrictInt] | None = None
    timezone: str | None = None
    trigger: Literal["auto", "coupon"] = "auto"
    exclusive: StrictBool = False
    exclusion_group: str | None = None
    priority: StrictInt = 0
    scope: ScopeDocument = ScopeDocument()
    conditions: ConditionsDocument = ConditionsDocument()
    limits: LimitsDocument = LimitsDocument()
    benefit: BenefitDocument
    # the writer confirmed a benefit past MAX_DISCOUNT_PERCENT (app.promotions.guard)
    confirm_deep_discount: StrictBool = False

    @classmethod
    def from_stored(cls, stored: Any) -> PromotionDocument:
        """Read what the database holds; ``ValidationError`` when it does not read."""
        return cls.model_validate(stored)

    def to_stored(self) -> dict[str, Any]:
        """The JSON the database keeps."""
        return self.model_dump(mode="json", by_alias=True)

    def effective(self, now: datetime) -> str:
        """What the promotion is doing at ``now``, by its status and its window
        (``hours`` and ``weekdays`` aside): ``ended`` (status ``ended``, or active or
        paused past ``ends_at``), ``paused``, ``scheduled`` (active, before
        ``starts_at``), ``running`` (active, inside the window); ``draft`` and
        ``archived`` are what they say. ``PromotionFilter.effective`` selects the
        same in SQL."""
        if self.status == "ended":
            return "ended"
        if self.status not in ("active", "paused"):
            return self.status
        if self.ends_at is not None and self.ends_at <= now:
            return "ended"
        if self.status == "paused":
            return "paused"
        if self.starts_at is not None and self.starts_at > now:
            return "scheduled"
        return "running"

    def to_record(self, *, default_timezone: ZoneInfo) -> model.Promotion:
        """The engine's record; ``ValueError`` (or ``KeyError`` for an unknown time zone)
        when the document cannot become one."""
        return model.Promotion(
            id=self.id,
            name=self.name,
            benefit=self.benefit.to_record(),
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            status=self.status,
            hours=tuple(h.to_record() for h in self.hours or ()),
            weekdays=frozenset(self.weekdays or ()),
            timezone=ZoneInfo(self.timezone) if self.timezone else default_timezone,
            trigger=self.trigger,
            exclusive=self.exclusive,
            exclusion_group=self.exclusion_group,
            priority=self.priority,
            scope=self.scope.to_record(),
            conditions=self.conditions.to_record(),
            limits=self.limits.to_record(),
        )
