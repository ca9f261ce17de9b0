"""Every Lua script the service sends names keys of one Redis Cluster hash slot.

The service runs here on the embedded set-up with a Redis client that checks
each ``EVAL``/``EVALSHA`` before passing it on: its keys must all hash to one
slot (``CROSSSLOT`` on a real cluster otherwise). The traffic covers every
script: stock loaded and rebuilt (start-up, admin writes), takes over several
promotions, confirm, cancel, expiry by the sweeper, claims and failed code
attempts. The races on a real 3-node cluster are in
``tests/integration/test_scale_out.py`` and ``test_inventory_cluster.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from hashlib import sha1
from typing import Any

import fakeredis
from redis.crc import key_slot

from app.coupons.redis_claims import SCRIPTS as CLAIM_SCRIPTS
from app.coupons.redis_claims import lua_source as coupons_lua
from app.inventory.redis_stock import SCRIPTS as INVENTORY_SCRIPTS
from app.inventory.redis_stock import lua_source as inventory_lua
from tests.conftest import ADMIN, CHECKOUT, Start


class SlotCheckingRedis(fakeredis.FakeAsyncRedis):  # type: ignore[misc]
    """fakeredis that records each script call's key slots."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(server=fakeredis.FakeServer(), **kwargs)
        self.scripts: Counter[str] = Counter()
        self.crossing: list[tuple[Any, ...]] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        if name in ("EVAL", "EVALSHA"):
            keys = args[3 : 3 + int(args[2])]
            slots = {key_slot(k.encode() if isinstance(k, str) else k) for k in keys}
            self.scripts[str(args[1])[:8]] += 1
            if len(slots) > 1:
                self.crossing.append(keys)
        return await super().execute_command(*args, **options)


FLASH = {
    "id": "slots-flash",
    "benefit": {
        "type": "flash_sale",
        "items": [
            {"sku": "A", "price": 1000, "stock": 5, "per_customer_limit": 2},
            {"sku": "B", "price": 2000, "stock": 5},
        ],
    },
}
LIMITED = {
    "id": "slots-limited",
    "limits": {"max_uses": 10, "max_uses_per_customer": 3, "budget": 100000},
    "benefit": {"type": "amount_off", "amount": 100},
}
COUPON = {
    "id": "slots-coupon",
    "trigger": "coupon",
    "limits": {"max_claims": 3, "max_claims_per_customer": 1},
    "benefit": {"type": "amount_off", "amount": 500},
}


def reservation(order_id: str, customer: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": {"id": customer},
        "lines": [
            {"sku": "A", "qty": 1, "unit_price": 5000},
            {"sku": "B", "qty": 2, "unit_price": 5000},
        ],
    }


async def test_the_check_sees_a_script_across_slots() -> None:
    redis = SlotCheckingRedis()
    await redis.eval("return 1", 2, "{p:a}:x", "{p:a}:y")
    assert redis.crossing == []
    await redis.eval("return 1", 2, "{p:a}:x", "{p:b}:x")
    assert redis.crossing == [("{p:a}:x", "{p:b}:x")]
    await redis.aclose()


async def test_every_script_call_stays_in_one_slot(start_sqlite: Start) -> None:
    redis = SlotCheckingRedis()
    running = await start_sqlite(
        redis=redis, reservation_ttl_seconds=1, sweep_interval_seconds=0.2, sweep_grace_seconds=0
    )
    client = running.client
    for body in (FLASH, LIMITED, COUPON):
        created = await client.post("/v1/admin/promotions", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text

    made = []
    for n in range(3):
        response = await client.post(
            "/v1/reservations", json=reservation(f"o{n}", f"c{n}"), headers=CHECKOUT
        )
        assert response.status_code == 201, response.text
        applied = {a["promotion_id"] for a in response.json()["quote"]["applied"]}
        assert applied == {"slots-flash", "slots-limited"}  # a take over two slots
        made.append(response.json()["reservation_id"])
    confirmed = await client.post(f"/v1/reservations/{made[0]}/confirm", headers=CHECKOUT)
    cancelled = await client.post(f"/v1/reservations/{made[1]}/cancel", headers=CHECKOUT)
    assert (confirmed.status_code, cancelled.status_code) == (200, 200)
    for n in range(4):
        claim = {"customer_id": f"c{n % 3}", "promotion_id": "slots-coupon"}
        await client.post("/v1/coupons/claim", json=claim, headers=CHECKOUT)
    guess = {
        "customer": {"id": "c9"},
        "lines": [{"sku": "A", "qty": 1, "unit_price": 5000}],
        "coupon_codes": ["NOSUCHCODE"],
    }
    assert (await client.post("/v1/quote", json=guess, headers=CHECKOUT)).status_code == 200
    # the stock changed by an admin write (load_stock again) and rebuilt after a flush
    changed = {**FLASH, "benefit": {**FLASH["benefit"], "items": FLASH["benefit"]["items"][:1]}}
    replaced = await client.put("/v1/admin/promotions/slots-flash", json=changed, headers=ADMIN)
    assert replaced.status_code == 200, replaced.text
    expired = await client.get(f"/v1/reservations/{made[2]}", headers=CHECKOUT)
    for _ in range(50):  # the sweeper expires the third one
        if expired.json()["status"] == "expired":
            break
        await asyncio.sleep(0.1)
        expired = await client.get(f"/v1/reservations/{made[2]}", headers=CHECKOUT)
    assert expired.json()["status"] == "expired"
    await redis.flushall()
    for _ in range(50):  # the sweeper rebuilds the counters from the ledger
        level = await client.get("/v1/flash-sales/slots-flash", headers=CHECKOUT)
        if level.status_code == 200 and level.json()["items"][0]["sold"] == 1:
            break
        await asyncio.sleep(0.1)
    assert level.json()["items"][0]["sold"] == 1

    assert redis.crossing == []
    # every script but unclaim (it undoes a claim the database refused) ran, often
    names = {sha1(inventory_lua(n).encode()).hexdigest()[:8]: n for n in INVENTORY_SCRIPTS}
    names |= {sha1(coupons_lua(n).encode()).hexdigest()[:8]: n for n in CLAIM_SCRIPTS}
    names[sha1(coupons_lua("attempts").encode()).hexdigest()[:8]] = "attempts"
    ran = {names[sha]: calls for sha, calls in redis.scripts.items()}
    assert set(ran) == {*INVENTORY_SCRIPTS, *CLAIM_SCRIPTS, "attempts"} - {"unclaim"}, ran
    assert sum(ran.values()) > 20
