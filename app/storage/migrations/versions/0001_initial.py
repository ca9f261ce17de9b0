"""Initial tables: promotions, rules_meta, coupon_codes.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("body", JSONDocument, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_promotions"),
    )
    op.create_index("ix_promotions_status", "promotions", ["status"])

    meta = op.create_table(
        "rules_meta",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rules_meta"),
    )
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored naive UTC, like app.storage.tables.UtcDateTime
    op.bulk_insert(meta, [{"id": 1, "version": 0, "updated_at": now}])

    op.create_table(
        "coupon_codes",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_coupon_codes"),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name="fk_coupon_codes_promotion_id_promotions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_coupon_codes_promotion_id", "coupon_codes", ["promotion_id"])
    op.create_index("ix_coupon_codes_customer_id", "coupon_codes", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_coupon_codes_customer_id", table_name="coupon_codes")
    op.drop_index("ix_coupon_codes_promotion_id", table_name="coupon_codes")
    op.drop_table("coupon_codes")
    op.drop_table("rules_meta")
    op.drop_index("ix_promotions_status", table_name="promotions")
    op.drop_table("promotions")
