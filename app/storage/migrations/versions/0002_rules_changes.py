"""The rules change log: which promotions each rules version touched.

An instance catching up from version N reads the promotions changed after N
instead of every promotion.

Revision ID: 0002_rules_changes
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_rules_changes"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rules_changes",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("version", "promotion_id", name="pk_rules_changes"),
    )


def downgrade() -> None:
    op.drop_table("rules_changes")
