"""Rules versions from a sequence on PostgreSQL; the time of each version in its log.

``rules_changes`` gains ``changed_at`` (the time of its version; rows written
before are given ``rules_meta``'s time). On PostgreSQL a write takes its version
from ``rules_next_version()`` (``nextval`` of ``rules_version_seq``, after taking
the schema's shared ``rules_version`` advisory lock for the rest of its
transaction) instead of updating the ``rules_meta`` row, so writes no longer
queue on that row's lock; ``rules_meta`` stays as the version of an empty log.
SQLite keeps updating ``rules_meta``. Why the lock: docs/performance.md, "Rule
changes (issue 14)" and ``app.storage.sql_promotions``.

Revision ID: 0007_rules_version_sequence
Revises: 0006_promotion_history
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_rules_version_sequence"
down_revision: str | None = "0006_promotion_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app.storage.sql_promotions.RULES_VERSION_LOCK: the advisory lock's first key
# (the second is the schema's hashtext)
RULES_VERSION_LOCK = 0x52554C45  # "RULE"


def upgrade() -> None:
    op.add_column("rules_changes", sa.Column("changed_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE rules_changes SET changed_at = (SELECT updated_at FROM rules_meta WHERE id = 1)"
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE rules_version_seq AS bigint MINVALUE 1")
    op.execute(
        "SELECT setval('rules_version_seq', "
        "(SELECT version FROM rules_meta WHERE id = 1) + 1, false)"
    )
    op.execute(
        f"""
        CREATE FUNCTION rules_next_version() RETURNS bigint
        LANGUAGE sql VOLATILE AS $$
            SELECT pg_advisory_xact_lock_shared({RULES_VERSION_LOCK}, hashtext(current_schema()));
            SELECT nextval('rules_version_seq');
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE rules_meta SET version = GREATEST(version, "
            "(SELECT coalesce(max(version), 0) FROM rules_changes)) WHERE id = 1"
        )
        op.execute("DROP FUNCTION rules_next_version()")
        op.execute("DROP SEQUENCE rules_version_seq")
    with op.batch_alter_table("rules_changes") as batch:
        batch.drop_column("changed_at")
