"""Promotion versions, authors and history; columns for the admin listing's filters.

``promotions`` gains ``version`` (+1 per change), ``updated_by`` (the API key's
name), and ``name``, ``benefit_type``, ``starts_at``, ``ends_at`` copied out of
the body (filled here from each stored body). ``promotion_history`` keeps every
change with the bodies before and after; each promotion stored now gets a
``created`` entry with its body as it is.

Revision ID: 0006_promotion_history
Revises: 0005_codes_listing
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_promotion_history"
down_revision: str | None = "0005_codes_listing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UNKNOWN_AUTHOR = "unknown"


def _time(value: Any, dialect: str) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    parsed = parsed.astimezone(UTC)
    return parsed.replace(tzinfo=None) if dialect == "sqlite" else parsed


def upgrade() -> None:
    op.add_column(
        "promotions",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column(
        "promotions",
        sa.Column("updated_by", sa.String(64), nullable=False, server_default=UNKNOWN_AUTHOR),
    )
    op.add_column("promotions", sa.Column("name", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "promotions",
        sa.Column("benefit_type", sa.String(32), nullable=False, server_default=""),
    )
    op.add_column("promotions", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("promotions", sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_promotions_benefit_type", "promotions", ["benefit_type"])

    bind = op.get_bind()
    promotions = sa.table(
        "promotions",
        sa.column("id", sa.String()),
        sa.column("body", JSONDocument),
        sa.column("name", sa.Text()),
        sa.column("benefit_type", sa.String()),
        sa.column("starts_at", sa.DateTime(timezone=True)),
        sa.column("ends_at", sa.DateTime(timezone=True)),
    )
    copied = []
    for promotion_id, body in bind.execute(sa.select(promotions.c.id, promotions.c.body)):
        document = body if isinstance(body, dict) else {}
        benefit = document.get("benefit")
        copied.append(
            {
                "key": promotion_id,
                "name": str(document.get("name") or promotion_id),
                "benefit_type": str(benefit.get("type", ""))[:32]
                if isinstance(benefit, dict)
                else "",
                "starts_at": _time(document.get("starts_at"), bind.dialect.name),
                "ends_at": _time(document.get("ends_at"), bind.dialect.name),
            }
        )
    if copied:
        bind.execute(
            promotions.update()
            .where(promotions.c.id == sa.bindparam("key"))
            .values(
                name=sa.bindparam("name"),
                benefit_type=sa.bindparam("benefit_type"),
                starts_at=sa.bindparam("starts_at"),
                ends_at=sa.bindparam("ends_at"),
            ),
            copied,
        )

    op.create_table(
        "promotion_history",
        sa.Column("promotion_id", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("body_before", JSONDocument, nullable=True),
        sa.Column("body_after", JSONDocument, nullable=True),
        sa.PrimaryKeyConstraint("promotion_id", "version", name="pk_promotion_history"),
    )
    op.execute(
        "INSERT INTO promotion_history (promotion_id, version, changed_at, changed_by, action, "
        "body_before, body_after) "
        f"SELECT id, 1, updated_at, '{UNKNOWN_AUTHOR}', 'created', NULL, body FROM promotions"
    )


def downgrade() -> None:
    op.drop_table("promotion_history")
    op.drop_index("ix_promotions_benefit_type", table_name="promotions")
    for column in ("ends_at", "starts_at", "benefit_type", "name", "updated_by", "version"):
        op.drop_column("promotions", column)
