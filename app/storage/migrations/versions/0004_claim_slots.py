"""Claim slots: coupon_claims.slot, unique per promotion; no total count row.

Each claim holds a slot 1..max_claims handed out by the Redis counters; the
unique (promotion_id, slot) bounds a promotion's claims in the database without
the promotion-wide row of coupon_claim_counts, which every claim locked through
its commit. Existing claims get slots 1..n per promotion in the order made.

Revision ID: 0004_claim_slots
Revises: 0003_coupons_claims
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_claim_slots"
down_revision: str | None = "0003_coupons_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("coupon_claims", sa.Column("slot", sa.BigInteger(), nullable=True))
    op.execute(
        """
        UPDATE coupon_claims SET slot = (
            SELECT ranked.n FROM (
                SELECT claim_id, ROW_NUMBER() OVER (
                    PARTITION BY promotion_id ORDER BY claimed_at, claim_id
                ) AS n
                FROM coupon_claims
            ) AS ranked
            WHERE ranked.claim_id = coupon_claims.claim_id
        )
        """
    )
    with op.batch_alter_table("coupon_claims") as batch:
        batch.alter_column("slot", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint(
            "uq_coupon_claims_promotion_id_slot", ["promotion_id", "slot"]
        )
    op.execute("DELETE FROM coupon_claim_counts WHERE customer_id = ''")


def downgrade() -> None:
    op.execute(
        """
        INSERT INTO coupon_claim_counts (promotion_id, customer_id, claimed)
        SELECT promotion_id, '', COUNT(*) FROM coupon_claims GROUP BY promotion_id
        """
    )
    with op.batch_alter_table("coupon_claims") as batch:
        batch.drop_constraint("uq_coupon_claims_promotion_id_slot", type_="unique")
        batch.drop_column("slot")
