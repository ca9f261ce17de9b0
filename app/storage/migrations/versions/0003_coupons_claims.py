"""Claims (领券): coupon_claims and coupon_claim_counts.

Revision ID: 0003_coupons_claims
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_coupons_claims"
down_revision: str | None = "0002_rules_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _promotion_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["promotion_id"],
        ["promotions.id"],
        name=f"fk_{table}_promotion_id_promotions",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "coupon_claims",
        sa.Column("claim_id", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name="pk_coupon_claims"),
        sa.UniqueConstraint("code", name="uq_coupon_claims_code"),
        _promotion_fk("coupon_claims"),
    )
    op.create_index("ix_coupon_claims_customer_id", "coupon_claims", ["customer_id"])
    op.create_index(
        "ix_coupon_claims_promotion_id_claimed_at",
        "coupon_claims",
        ["promotion_id", "claimed_at"],
    )
    op.create_table(
        "coupon_claim_counts",
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("promotion_id", "customer_id", name="pk_coupon_claim_counts"),
        _promotion_fk("coupon_claim_counts"),
    )


def downgrade() -> None:
    op.drop_table("coupon_claim_counts")
    op.drop_index("ix_coupon_claims_promotion_id_claimed_at", table_name="coupon_claims")
    op.drop_index("ix_coupon_claims_customer_id", table_name="coupon_claims")
    op.drop_table("coupon_claims")
