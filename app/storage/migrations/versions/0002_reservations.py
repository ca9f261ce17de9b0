"""Reservations and the order ledger; the reservation holding a coupon code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _order_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["order_id"],
        ["orders.order_id"],
        name=f"fk_{table}_order_id_orders",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.add_column("coupon_codes", sa.Column("reservation_id", sa.String(64), nullable=True))
    op.create_index("ix_coupon_codes_reservation_id", "coupon_codes", ["reservation_id"])

    op.create_table(
        "reservations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("total"),
        sa.Column("quote", JSONDocument, nullable=False),
        sa.Column("coupon_codes", JSONDocument, nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        sa.UniqueConstraint("order_id", name="uq_reservations_order_id"),
    )
    op.create_index("ix_reservations_customer_id", "reservations", ["customer_id"])
    op.create_index("ix_reservations_status_expires_at", "reservations", ["status", "expires_at"])

    op.create_table(
        "reservation_promotions",
        sa.Column("reservation_id", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        _money("amount"),
        sa.Column("use_counted", sa.Boolean(), nullable=False),
        _money("budget_amount"),
        sa.Column("units", JSONDocument, nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", "promotion_id", name="pk_reservation_promotions"),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name="fk_reservation_promotions_reservation_id_reservations",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_reservation_promotions_promotion_id", "reservation_promotions", ["promotion_id"]
    )

    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("reservation_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money("subtotal"),
        _money("discount_total"),
        _money("shipping_fee"),
        _money("shipping_discount"),
        _money("total"),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
        sa.UniqueConstraint("reservation_id", name="uq_orders_reservation_id"),
        sa.ForeignKeyConstraint(
            ["reservation_id"], ["reservations.id"], name="fk_orders_reservation_id_reservations"
        ),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        _money("unit_price"),
        _money("list_total"),
        _money("discount"),
        _money("final_total"),
        sa.PrimaryKeyConstraint("order_id", "line_id", name="pk_order_lines"),
        _order_fk("order_lines"),
    )
    op.create_table(
        "order_adjustments",
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        _money("amount"),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_id", "promotion_id", name="pk_order_adjustments"),
        _order_fk("order_adjustments"),
    )
    op.create_table(
        "order_promotions",
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("benefit_type", sa.String(32), nullable=False),
        _money("amount"),
        sa.Column("coupon_code", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("order_id", "promotion_id", name="pk_order_promotions"),
        _order_fk("order_promotions"),
    )
    op.create_index("ix_order_promotions_promotion_id", "order_promotions", ["promotion_id"])
    op.create_table(
        "order_coupons",
        sa.Column("order_id", sa.String(128), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "code", name="pk_order_coupons"),
        _order_fk("order_coupons"),
    )


def downgrade() -> None:
    op.drop_table("order_coupons")
    op.drop_index("ix_order_promotions_promotion_id", table_name="order_promotions")
    op.drop_table("order_promotions")
    op.drop_table("order_adjustments")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_customer_id", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_reservation_promotions_promotion_id", table_name="reservation_promotions")
    op.drop_table("reservation_promotions")
    op.drop_index("ix_reservations_status_expires_at", table_name="reservations")
    op.drop_index("ix_reservations_customer_id", table_name="reservations")
    op.drop_table("reservations")
    op.drop_index("ix_coupon_codes_reservation_id", table_name="coupon_codes")
    with op.batch_alter_table("coupon_codes") as batch:
        batch.drop_column("reservation_id")
