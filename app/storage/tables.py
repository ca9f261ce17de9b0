"""The tables. Promotions are stored as their validated JSON body.

- ``promotions``: one row per promotion; ``body`` is the body as accepted by
  the admin API (already validated); ``status``, ``trigger``, ``name``,
  ``benefit_type``, ``starts_at`` and ``ends_at`` are copied out of it for
  filtering. ``version`` goes up by one on every change of the promotion (an
  id stored again after a removal goes on from its history's last version);
  ``updated_by`` is the name of the API key that wrote it.
- ``promotion_history``: every change of a promotion (``version`` as the
  change made it; ``action`` ``created``, ``replaced``, ``patched``,
  ``deleted`` or ``imported``), with the bodies before and after (``NULL``
  before a creation and after a removal); written in the change's
  transaction, kept when the promotion is removed.
- ``rules_meta``: a single row (``id = 1``). On SQLite its ``version`` goes up
  by one on every change of promotions or codes, with the time of that change.
  On PostgreSQL a change takes its version from the sequence
  ``rules_version_seq`` (through ``rules_next_version()``, migration 0007) and
  ``rules_meta`` is only the version of an empty change log.
  ``rules_version`` on a quote is ``<changed_at>Z#<version>``.
- ``rules_changes``: which promotions each version touched, and when
  (``changed_at``; one row per version and promotion id; every version
  committed has at least one), so an instance that is at version N reads only
  the promotions changed after N. On PostgreSQL versions may be missing (a
  write that failed after taking its version) or commit out of order; see
  ``app.storage.sql_promotions`` for how readers stay in order.
  Versions older than ``RULES_CHANGES_KEPT`` behind the newest are pruned; an
  instance further behind loads everything.
- ``coupon_codes``: codes, normalised upper-case. ``kind`` is ``shared`` (one
  code, many customers) or ``unique`` (single-use); ``customer_id`` is the
  owner of a claimed unique code; ``reservation_id`` the reservation that
  holds (``reserved``) or used (``used``) a unique code; ``revoked``: an
  admin revoked it (unknown to quotes and reservations from then on).

Claims (领券; docs/coupons.md):

- ``coupon_claims``: one row per claim: its ``claim_id`` (the idempotency
  key), the promotion, the customer and the code given (a ``coupon_codes``
  row of kind ``unique`` with that ``customer_id``, written together).
- ``coupon_claim_counts``: per promotion and customer, the claims that
  customer holds; each claim raises its customer's row in its transaction,
  only while below ``max_claims_per_customer``. The promotion's total has no
  row: each claim holds a slot (1..``max_claims``, from the Redis counters),
  unique per promotion in ``coupon_claims``, so claims of one hot promotion do
  not queue on one row lock through their commits.

The reservations and the ledger (docs/reservations.md):

- ``reservations``: one row per reservation, ``order_id`` (the caller's
  idempotency key) unique. ``status`` is ``pending`` (being made: the row is
  written before anything is taken), ``reserved``, ``confirmed``,
  ``cancelled`` or ``expired``. ``quote`` is the priced answer (as sent);
  ``coupon_codes`` the single-use codes it holds.
- ``reservation_promotions``: per reservation, every promotion its price
  applied, with what it took: the discount (``amount``), a use
  (``use_counted``), the budget spent (``budget_amount``) and flash-sale
  ``units`` by sku. The counters in Redis are rebuilt from these rows.
- ``orders`` (the ledger; one per confirmed reservation) with
  ``order_lines``, ``order_adjustments``, ``order_promotions`` and
  ``order_coupons``: what was sold, at what price, with which promotions
  and codes. Written in the transaction that confirms the reservation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PromotionRow(Base):
    __tablename__ = "promotions"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(Text, default="")
    benefit_type: Mapped[str] = mapped_column(String(32), index=True, default="")
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class PromotionHistoryRow(Base):
    __tablename__ = "promotion_history"

    promotion_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_by: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    body_before: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    body_after: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)


class RulesMetaRow(Base):
    __tablename__ = "rules_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RulesChangeRow(Base):
    __tablename__ = "rules_changes"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    promotion_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class CouponCodeRow(Base):
    __tablename__ = "coupon_codes"
    # the admin listing and export walk a promotion's codes in code order (keyset)
    __table_args__ = (Index("ix_coupon_codes_promotion_id_code", "promotion_id", "code"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("promotions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # shared | unique
    customer_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # available | reserved | used | revoked
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reservation_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)


class CouponClaimRow(Base):
    __tablename__ = "coupon_claims"
    __table_args__ = (
        Index("ix_coupon_claims_promotion_id_claimed_at", "promotion_id", "claimed_at"),
        # distinct slots bound a promotion's claims without a shared count row
        UniqueConstraint("promotion_id", "slot", name="uq_coupon_claims_promotion_id_slot"),
    )

    claim_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("promotions.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    slot: Mapped[int] = mapped_column(BigInteger)


class CouponClaimCountRow(Base):
    __tablename__ = "coupon_claim_counts"

    promotion_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # '': every claim
    claimed: Mapped[int] = mapped_column(BigInteger)


class ReservationRow(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending|reserved|confirmed|cancelled|expired
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    quote: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    coupon_codes: Mapped[list[str]] = mapped_column(JSONDocument)
    rules_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReservationPromotionRow(Base):
    __tablename__ = "reservation_promotions"

    reservation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    promotion_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    use_counted: Mapped[bool] = mapped_column(Boolean)
    budget_amount: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[dict[str, int]] = mapped_column(JSONDocument)  # flash-sale units by sku


class OrderRow(Base):
    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("reservations.id"), unique=True
    )
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount_total: Mapped[int] = mapped_column(BigInteger)
    shipping_fee: Mapped[int] = mapped_column(BigInteger)
    shipping_discount: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    rules_version: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrderLineRow(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(128))
    qty: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    list_total: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    final_total: Mapped[int] = mapped_column(BigInteger)


class OrderAdjustmentRow(Base):
    __tablename__ = "order_adjustments"

    order_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(Integer)
    capped: Mapped[bool] = mapped_column(Boolean)


class OrderPromotionRow(Base):
    __tablename__ = "order_promotions"

    order_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    promotion_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    name: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(16))
    benefit_type: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    coupon_code: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OrderCouponRow(Base):
    __tablename__ = "order_coupons"

    order_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(String(128))
