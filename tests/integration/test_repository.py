"""The SQL repository on both back ends: versions, codes, wallets, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from app.errors import Conflict, NotFound, Unavailable
from app.promotions.repository import NewCode, NewPromotion, PromotionFilter
from app.storage import db, sql_promotions
from app.storage.sql_promotions import SqlPromotionRepository
from app.storage.tables import JSONDocument, UtcDateTime
from tests.conftest import Backend

T0 = datetime(2026, 11, 11, tzinfo=UTC)
BODY = {"id": "p1", "benefit": {"type": "amount_off", "amount": 100}}


@pytest.fixture
async def repo(backend: Backend) -> AsyncIterator[SqlPromotionRepository]:
    settings = backend.settings()
    engine = db.make_engine(settings)
    await db.migrate(engine, settings)
    await db.migrate(engine, settings)  # idempotent: already at head
    try:
        yield SqlPromotionRepository(engine, timeout=5)
    finally:
        await engine.dispose()


async def test_every_write_bumps_the_version_once(repo: SqlPromotionRepository) -> None:
    v0 = await repo.current_version()
    assert v0.counter == 0
    await repo.add(id="p1", status="active", trigger="coupon", body=BODY)
    v1 = await repo.current_version()
    assert v1.counter == 1
    assert v1.changed_at >= v0.changed_at
    assert str(v1).endswith("Z#1")
    await repo.replace(id="p1", status="paused", trigger="coupon", body=BODY)
    await repo.add_codes("p1", [NewCode(code="A", kind="shared")])
    await repo.delete("p1")
    assert (await repo.current_version()).counter == 4
    # failures change nothing
    with pytest.raises(NotFound):
        await repo.delete("p1")
    with pytest.raises(NotFound):
        await repo.replace(id="p1", status="active", trigger="auto", body=BODY)
    assert (await repo.current_version()).counter == 4


async def test_add_conflicts_and_leaves_the_first(repo: SqlPromotionRepository) -> None:
    await repo.add(id="p1", status="active", trigger="auto", body=BODY)
    with pytest.raises(Conflict):
        await repo.add(id="p1", status="paused", trigger="auto", body=BODY)
    stored = await repo.get("p1")
    assert stored is not None
    assert stored.status == "active"
    assert (await repo.current_version()).counter == 1


async def test_load_and_list(repo: SqlPromotionRepository) -> None:
    for pid, status in [("b", "active"), ("a", "paused"), ("c", "active")]:
        await repo.add(id=pid, status=status, trigger="auto", body={**BODY, "id": pid})
    version, rows = await repo.load()
    assert version.counter == 3
    assert [r.id for r in rows] == ["a", "b", "c"]
    active = PromotionFilter(now=datetime.now(UTC), status="active")
    assert [r.id for r in await repo.page(active, after=None, limit=10)] == ["b", "c"]
    assert [r.id for r in await repo.page(active, after="b", limit=10)] == ["c"]
    assert rows[0].body == {**BODY, "id": "a"}
    assert rows[0].created_at.tzinfo is not None


async def test_codes_resolve_and_wallets(repo: SqlPromotionRepository) -> None:
    await repo.add(id="p1", status="active", trigger="coupon", body=BODY)
    await repo.add_codes(
        "p1",
        [
            NewCode(code="SHARED", kind="shared"),
            NewCode(code="U1", kind="unique", customer_id="u-1"),
            NewCode(code="U2", kind="unique"),
        ],
    )
    found = await repo.resolve_codes(["SHARED", "U1", "NOPE"])
    assert set(found) == {"SHARED", "U1"}
    assert found["U1"].customer_id == "u-1"
    assert found["SHARED"].kind == "shared"
    assert [c.code for c in await repo.customer_codes("u-1")] == ["U1"]
    assert await repo.customer_codes("u-2") == []
    counts = await repo.code_counts("p1")
    assert (counts.total, counts.claimed, counts.used) == (3, 1, 0)
    with pytest.raises(Conflict):
        await repo.add_codes(
            "p1", [NewCode(code="U3", kind="unique"), NewCode(code="U1", kind="unique")]
        )
    assert await repo.resolve_codes(["U3"]) == {}
    with pytest.raises(NotFound):
        await repo.add_codes("nope", [NewCode(code="X", kind="shared")])


async def test_an_unreachable_database_is_unavailable() -> None:
    engine = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", connect_args={"timeout": 1}
    )
    try:
        repo = SqlPromotionRepository(engine, timeout=2)
        with pytest.raises(Unavailable):
            await repo.get("p1")
        with pytest.raises(Unavailable):
            await repo.current_version()
    finally:
        await engine.dispose()


async def test_a_slow_database_is_unavailable(repo: SqlPromotionRepository) -> None:
    slow = SqlPromotionRepository(repo._engine, timeout=0.000_001)
    with pytest.raises(Unavailable, match="did not answer"):
        await slow.load()


async def test_changes_since_a_version_name_only_what_changed(
    repo: SqlPromotionRepository,
) -> None:
    for promotion_id in ("p1", "p2", "p3"):
        await repo.add(id=promotion_id, status="active", trigger="auto", body=BODY)
    at = (await repo.current_version()).counter
    await repo.replace(id="p2", status="paused", trigger="auto", body=BODY)
    await repo.delete("p3")
    changes = await repo.changes_since(at)
    assert changes.complete
    assert changes.version.counter == at + 2
    assert [(r.id, r.status) for r in changes.rows] == [("p2", "paused")]
    assert changes.removed == ("p3",)
    assert (await repo.changes_since(at + 2)).rows == ()
    assert not (await repo.changes_since(-1)).complete  # never loaded: load everything


async def test_changes_since_a_version_the_log_no_longer_reaches_are_incomplete(
    backend: Backend, repo: SqlPromotionRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the log keeps one version (on PostgreSQL a version missing inside what is kept is
    # a write that failed after taking it, not a pruned one: see the test below)
    monkeypatch.setattr(sql_promotions, "RULES_CHANGES_KEPT", 1)
    await repo.add(id="p1", status="active", trigger="auto", body=BODY)
    await repo.add(id="p2", status="active", trigger="auto", body=BODY)
    engine = create_async_engine(backend.settings().database_url)
    try:  # as pruning leaves it: the first version no longer logged
        async with engine.begin() as conn:
            if backend.name == "postgres":
                await conn.execute(
                    text(f'SET search_path TO "{backend.options["database_schema"]}"')
                )
            await conn.execute(text("DELETE FROM rules_changes WHERE version = 1"))
    finally:
        await engine.dispose()
    assert not (await repo.changes_since(0)).complete
    assert (await repo.changes_since(1)).complete


async def test_versions_committed_out_of_order_are_all_seen_in_order(
    postgres_backend: Backend,
) -> None:
    """PostgreSQL takes versions from a sequence: a writer may commit version N+1
    while N is still open, or N may never commit. A reader at N-1 must not move
    past N while N may still commit (else it would never read N's change), and
    must not wait for a version whose write failed."""
    settings = postgres_backend.settings()
    engine = db.make_engine(settings)
    await db.migrate(engine, settings)
    repo = SqlPromotionRepository(engine, timeout=5)
    try:
        await repo.add(id="p1", status="active", trigger="auto", body=BODY)
        at = (await repo.current_version()).counter
        async with engine.connect() as slow:  # takes version at + 1, commits last
            await slow.begin()
            taken = (await slow.execute(text("SELECT rules_next_version()"))).scalar_one()
            assert taken == at + 1
            await slow.execute(text("UPDATE promotions SET status = 'paused' WHERE id = 'p1'"))
            await slow.execute(
                text("INSERT INTO rules_changes VALUES (:v, 'p1', now())"), {"v": taken}
            )
            fast = await repo.add(id="p2", status="active", trigger="auto", body=BODY)
            assert fast.written_at is not None
            assert fast.written_at.counter == at + 2  # committed before at + 1
            reading = asyncio.create_task(repo.changes_since(at))
            await asyncio.sleep(0.3)
            assert not reading.done()  # waits for the open write, not past it
            await slow.commit()
        changes = await asyncio.wait_for(reading, 5)
        assert changes.complete
        assert changes.version.counter == at + 2
        assert sorted((r.id, r.status) for r in changes.rows) == [
            ("p1", "paused"),
            ("p2", "active"),
        ]
        # a write that took a version and failed: the reader goes past it at once
        async with engine.connect() as failed:
            await failed.begin()
            lost = (await failed.execute(text("SELECT rules_next_version()"))).scalar_one()
            await failed.rollback()
        later = await repo.add(id="p3", status="active", trigger="auto", body=BODY)
        assert later.written_at is not None
        assert later.written_at.counter == lost + 1
        changes = await asyncio.wait_for(repo.changes_since(at + 2), 5)
        assert changes.complete
        assert changes.version.counter == lost + 1
        assert [r.id for r in changes.rows] == ["p3"]
        # a conflict takes no version
        with pytest.raises(Conflict):
            await repo.add(id="p3", status="active", trigger="auto", body=BODY)
        assert (await repo.current_version()).counter == lost + 1
    finally:
        await engine.dispose()


async def test_an_import_is_one_version_and_all_or_nothing(repo: SqlPromotionRepository) -> None:
    await repo.add(id="p1", status="active", trigger="auto", body=BODY)
    new = [NewPromotion(id=f"n{i}", status="active", trigger="auto", body=BODY) for i in range(3)]
    with pytest.raises(Conflict, match="'p1'"):
        await repo.import_many([*new, NewPromotion("p1", "paused", "auto", BODY)], replace=False)
    assert [p.id for p in (await repo.load())[1]] == ["p1"]
    imported = await repo.import_many(
        [*new, NewPromotion("p1", "paused", "auto", BODY)], replace=True
    )
    assert (imported.created, imported.updated) == (3, 1)
    assert imported.version == await repo.current_version()
    assert [(p.id, p.status) for p in (await repo.load())[1]] == [
        ("n0", "active"), ("n1", "active"), ("n2", "active"), ("p1", "paused"),
    ]  # fmt: skip
    changes = await repo.changes_since(imported.version.counter - 1)
    assert sorted(r.id for r in changes.rows) == ["n0", "n1", "n2", "p1"]


async def test_claims_stored_before_slots_get_slots_in_the_order_made(backend: Backend) -> None:
    """Migration 0004 numbers the claims each promotion had (1..n, oldest first),
    makes the slot unique per promotion and drops the promotion-wide count rows."""
    settings = backend.settings()
    engine = db.make_engine(settings)

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = db.alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    try:
        async with engine.begin() as conn:
            await db.prepare(conn, settings.database_schema)
            await conn.run_sync(upgrade_to("0003_coupons_claims"))
            for promotion in ("a", "b"):
                await conn.execute(
                    text("INSERT INTO promotions (id, status, trigger, body, created_at, "
                         "updated_at) VALUES (:id, 'active', 'coupon', '{}', :at, :at)"),
                    {"id": promotion, "at": T0},
                )  # fmt: skip
            for n, (promotion, second) in enumerate([("a", 3), ("a", 1), ("b", 2), ("a", 2)]):
                at = T0 + timedelta(seconds=second)
                await conn.execute(
                    text("INSERT INTO coupon_claims VALUES (:id, :p, :c, :code, :at)"),
                    {"id": f"k{n}", "p": promotion, "c": f"u{n}", "code": f"C{n}", "at": at},
                )
            await conn.execute(
                text("INSERT INTO coupon_claim_counts VALUES ('a', '', 3), ('a', 'u0', 1)")
            )
            await conn.run_sync(upgrade_to("head"))
            slots = (
                await conn.execute(text("SELECT claim_id, slot FROM coupon_claims ORDER BY 1"))
            ).all()
            counts = (await conn.execute(text("SELECT customer_id FROM coupon_claim_counts"))).all()
        assert [tuple(row) for row in slots] == [("k0", 3), ("k1", 1), ("k2", 1), ("k3", 2)]
        assert [tuple(row) for row in counts] == [("u0",)]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO coupon_claims VALUES ('k9', 'a', 'u9', 'C9', :at, 2)"),
                    {"at": T0},
                )
    finally:
        await engine.dispose()


async def test_the_history_migration_fills_in_what_is_stored(backend: Backend) -> None:
    """Promotions stored before 0005 get version 1, an author, the copied filter
    columns and a ``created`` history entry."""
    settings = backend.settings()
    engine = db.make_engine(settings)

    def upgrade(connection: Connection, revision: str) -> None:
        config = db.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    old = sa.table(
        "promotions",
        sa.column("id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("trigger", sa.String()),
        sa.column("body", JSONDocument),
        sa.column("created_at", UtcDateTime()),
        sa.column("updated_at", UtcDateTime()),
    )
    at = datetime(2026, 11, 1, tzinfo=UTC)
    body = {
        **BODY,
        "id": "old",
        "name": "Old Sale",
        "starts_at": "2026-11-11T00:00:00+08:00",
        "ends_at": "2026-11-12T00:00:00+08:00",
    }
    try:
        async with engine.begin() as conn:
            await db.prepare(conn, settings.database_schema)
            await conn.run_sync(upgrade, "0003_coupons_claims")
            await conn.execute(
                sa.insert(old).values(
                    id="old", status="active", trigger="auto", body=body, created_at=at,
                    updated_at=at,
                )
            )  # fmt: skip
            await conn.run_sync(upgrade, "head")
        repo = SqlPromotionRepository(engine, timeout=5)
        stored = await repo.get("old")
        assert stored is not None
        assert (stored.version, stored.updated_by, stored.body) == (1, "unknown", body)
        (entry,) = await repo.history("old")
        assert (entry.version, entry.action, entry.before, entry.after) == (
            1,
            "created",
            None,
            body,
        )
        ended = PromotionFilter(now=datetime(2026, 11, 12, 1, tzinfo=UTC), effective="ended")
        running = PromotionFilter(now=datetime(2026, 11, 11, 1, tzinfo=UTC), effective="running")
        named = PromotionFilter(now=at, q="old sale", benefit_type="amount_off")
        for filters in (ended, running, named):
            assert [p.id for p in await repo.page(filters, after=None, limit=5)] == ["old"]
        await repo.replace(id="old", status="paused", trigger="auto", body=body, by="ops")
        assert [e.version for e in await repo.history("old")] == [2, 1]
    finally:
        await engine.dispose()
