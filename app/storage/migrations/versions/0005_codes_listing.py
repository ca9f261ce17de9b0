"""Codes listed and exported by promotion in code order: an index on
coupon_codes (promotion_id, code), so each page of the keyset walk is a range
scan, not a sort of every code of the promotion.

Revision ID: 0005_codes_listing
Revises: 0004_claim_slots
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_codes_listing"
down_revision: str | None = "0004_claim_slots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_coupon_codes_promotion_id_code", "coupon_codes", ["promotion_id", "code"])


def downgrade() -> None:
    op.drop_index("ix_coupon_codes_promotion_id_code", table_name="coupon_codes")
