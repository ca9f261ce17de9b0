"""A realistic catalogue and sale for the load tests, made from a seed, and the
calls that load it into a running service (``seed``).

``Catalogue.make(seed, skus=3000, promotions=300)`` draws:

* SKUs across merchants, categories and brands, each with a list price (fen) and
  a popularity weight (a few sell a lot: a Zipf-like tail);
* promotions of every benefit type of API.md (item percent/amount off, fixed
  price, member price, threshold 满减, amount and percent off the order, nth
  item, bundle, gift, free shipping, shipping amount off), scoped to a
  merchant, category, brand or a few SKUs; some only for member tiers, some
  coupons (shared codes), some with a usage limit or a budget (预算);
* flash sales (秒杀): ``hot`` ones, a few SKUs with little stock each that the
  ``flash-sale`` and ``redis-outage`` scenarios rush, and ``open`` ones with
  plenty of stock that ``checkout`` carts touch;
* claimable coupons (领券) with a total and a per-customer claim limit, for
  ``coupon-grab``.

Every promotion runs from an hour before ``now`` to two days after it, so that
reservations (priced at the server's clock) get them. ``seed`` loads them with
one ``POST /v1/admin/promotions/import`` (``mode: upsert``), adds the shared
codes, and waits until the service prices with them.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIERS = ("silver", "gold", "platinum")
CHANNELS = ("app", "web", "mini_program")


@dataclass(frozen=True)
class Sku:
    sku: str
    unit_price: int  # fen
    merchant: str
    category: str
    brand: str
    weight: float  # popularity

    def line(self, qty: int = 1) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "qty": qty,
            "unit_price": self.unit_price,
            "merchant": self.merchant,
            "category": self.category,
            "brand": self.brand,
        }


@dataclass(frozen=True)
class FlashItem:
    promotion_id: str
    sku: str
    list_price: int
    price: int
    stock: int
    per_customer_limit: int


@dataclass
class Catalogue:
    skus: list[Sku]
    promotions: list[dict[str, Any]]
    shared_codes: dict[str, str]  # code -> promotion id
    hot: list[FlashItem]  # rushed by flash-sale and redis-outage
    open_flash: list[FlashItem]  # plenty of stock, in checkout carts
    claimable: dict[str, int]  # coupon promotion id -> max_claims (领券)
    seed: int = 7
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ making

    @classmethod
    def make(
        cls,
        seed: int = 7,
        *,
        skus: int = 3000,
        promotions: int = 300,
        hot_skus: int = 3,
        hot_stock: int = 100,
        claims: int = 500,
        now: datetime | None = None,
    ) -> Catalogue:
        rng = random.Random(seed)
        start = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI) - timedelta(hours=1)
        window = {
            "starts_at": start.isoformat(timespec="seconds"),
            "ends_at": (start + timedelta(days=2)).isoformat(timespec="seconds"),
            "status": "active",
        }
        merchants = [f"m{n:03d}" for n in range(max(5, skus // 60))]
        categories = [f"cat{n:02d}" for n in range(40)]
        brands = [f"brand{n:03d}" for n in range(120)]
        # the hot flash-sale SKUs are a shop of their own that no other promotion
        # names: the flash price is the price their page shows until they sell out
        items = [
            Sku(
                sku=f"SKU-{n:05d}",
                unit_price=rng.choice((990, 1990, 2990, 4990, 9900, 15900, 29900, 59900, 129900)),
                merchant="m-flash" if n < hot_skus else rng.choice(merchants),
                category="cat-flash" if n < hot_skus else rng.choice(categories),
                brand="brand-flash" if n < hot_skus else rng.choice(brands),
                weight=1.0 / (n + 1) ** 0.8,
            )
            for n in range(skus)
        ]
        named = items[hot_skus:]  # what other promotions may name
        bodies: list[dict[str, Any]] = []
        shared: dict[str, str] = {}

        def add(pid: str, benefit: dict[str, Any], **more: Any) -> dict[str, Any]:
            body = {"id": pid, "name": pid, **window, "benefit": benefit, **more}
            bodies.append(body)
            return body

        # hot flash sales: one promotion per hot sku, little stock, one unit a customer
        hot: list[FlashItem] = []
        for n, item in enumerate(items[:hot_skus]):
            price = max(100, item.unit_price // 5)
            pid = f"lt-flash-hot-{n}"
            add(
                pid,
                {
                    "type": "flash_sale",
                    "items": [
                        {
                            "sku": item.sku,
                            "price": price,
                            "stock": hot_stock,
                            "per_customer_limit": 1,
                        }
                    ],
                },
                priority=10,
            )
            hot.append(FlashItem(pid, item.sku, item.unit_price, price, hot_stock, 1))
        # open flash sales: plenty of stock, for checkout carts
        open_flash: list[FlashItem] = []
        for n in range(4):
            chosen = rng.sample(items[hot_skus : hot_skus + 200], 5)
            pid = f"lt-flash-open-{n}"
            flash_items = []
            for item in chosen:
                price = item.unit_price * 7 // 10
                flash_items.append(
                    {"sku": item.sku, "price": price, "stock": 100_000, "per_customer_limit": 5}
                )
                open_flash.append(FlashItem(pid, item.sku, item.unit_price, price, 100_000, 5))
            add(pid, {"type": "flash_sale", "items": flash_items}, priority=5)
        # claimable coupons (领券)
        claimable: dict[str, int] = {}
        for n in range(3):
            pid = f"lt-claim-{n}"
            add(
                pid,
                {"type": "amount_off", "amount": 2000},
                trigger="coupon",
                conditions={"min_amount": 10000},
                limits={"max_claims": claims, "max_claims_per_customer": 1},
            )
            claimable[pid] = claims

        kinds = [
            "item_percent_off",
            "item_amount_off",
            "item_fixed_price",
            "member_price",
            "threshold",
            "threshold_qty",
            "amount_off",
            "percent_off",
            "nth_item",
            "bundle",
            "gift",
            "free_shipping",
            "shipping_amount_off",
        ]
        remaining = max(0, promotions - len(bodies))
        for n in range(remaining):
            kind = kinds[n % len(kinds)]
            pid = f"lt-{kind.replace('_', '-')}-{n:04d}"
            scope_kind = rng.choice(("merchants", "categories", "brands", "skus"))
            if scope_kind == "skus":
                scope = {"skus": [s.sku for s in rng.sample(named[:600], 4)]}
            else:
                pool = {"merchants": merchants, "categories": categories, "brands": brands}
                scope = {scope_kind: [rng.choice(pool[scope_kind])]}
            more: dict[str, Any] = {"scope": scope}
            if rng.random() < 0.15:
                more["conditions"] = {"customer_tiers": rng.sample(TIERS, rng.randint(1, 2))}
            if rng.random() < 0.2:
                more["limits"] = {"budget": rng.choice((500_000, 2_000_000, 10_000_000))}
            elif rng.random() < 0.1:
                more["limits"] = {"max_uses": 10_000, "max_uses_per_customer": 3}
            if rng.random() < 0.1:
                more["exclusion_group"] = f"group{rng.randint(0, 4)}"
            benefit: dict[str, Any]
            if kind == "item_percent_off":
                benefit = {"type": kind, "percent": rng.choice((5, 10, 15, 20, 30))}
            elif kind == "item_amount_off":
                benefit = {"type": kind, "amount": rng.choice((100, 200, 500))}
            elif kind == "item_fixed_price":
                pick = rng.sample(named[:600], 3)
                scope = {"skus": [s.sku for s in pick]}
                more["scope"] = scope
                benefit = {"type": kind, "price": min(s.unit_price for s in pick) * 8 // 10}
            elif kind == "member_price":
                more.pop("conditions", None)
                benefit = {
                    "type": kind,
                    "tiers": {t: {"percent": p} for t, p in zip(TIERS, (3, 5, 8), strict=True)},
                }
            elif kind == "threshold":
                step = rng.choice((10000, 20000, 30000))
                benefit = {
                    "type": kind,
                    "repeat": rng.random() < 0.3,
                    "tiers": [
                        {"min_amount": step, "amount_off": step // 10},
                        {"min_amount": step * 2, "amount_off": step // 4},
                    ],
                }
            elif kind == "threshold_qty":
                benefit = {
                    "type": "threshold",
                    "tiers": [{"min_qty": 2, "percent": 5}, {"min_qty": 3, "percent": 10}],
                }
            elif kind == "amount_off":
                more["conditions"] = {**more.get("conditions", {}), "min_amount": 20000}
                benefit = {"type": kind, "amount": rng.choice((1000, 2000, 3000))}
            elif kind == "percent_off":
                benefit = {"type": kind, "percent": 5, "max_discount": 5000}
            elif kind == "nth_item":
                benefit = {"type": kind, "every": 2, "percent": 50}
            elif kind == "bundle":
                pick = rng.sample(named[:300], 2)
                more["scope"] = {"skus": [s.sku for s in pick]}
                benefit = {
                    "type": kind,
                    "items": [{"sku": s.sku, "qty": 1} for s in pick],
                    "price": sum(s.unit_price for s in pick) * 85 // 100,
                    "max_applications": 2,
                }
            elif kind == "gift":
                gift = rng.choice(items[-100:])
                benefit = {
                    "type": kind,
                    "tiers": [{"min_amount": 30000, "gifts": [{"sku": gift.sku, "qty": 1}]}],
                }
            elif kind == "free_shipping":
                more["conditions"] = {**more.get("conditions", {}), "min_amount": 9900}
                benefit = {"type": kind}
            else:  # shipping_amount_off
                benefit = {"type": kind, "amount": 500}
            if rng.random() < 0.12 and kind in ("amount_off", "percent_off", "threshold"):
                more["trigger"] = "coupon"
                code = f"LT{n:04d}"
                shared[code] = pid
            add(pid, benefit, **more)
        return cls(
            skus=items,
            promotions=bodies,
            shared_codes=shared,
            hot=hot,
            open_flash=open_flash,
            claimable=claimable,
            seed=seed,
        )

    # ----------------------------------------------------------- sharing with locust

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        raw = json.loads(path.read_text())
        return cls(
            skus=[Sku(**s) for s in raw["skus"]],
            promotions=raw["promotions"],
            shared_codes=raw["shared_codes"],
            hot=[FlashItem(**i) for i in raw["hot"]],
            open_flash=[FlashItem(**i) for i in raw["open_flash"]],
            claimable=raw["claimable"],
            seed=raw["seed"],
            extra=raw.get("extra", {}),
        )

    # --------------------------------------------------------------------- carts

    def cart(self, rng: random.Random, *, lines: int | None = None) -> list[dict[str, Any]]:
        """A cart of 1-8 lines (most 1-3), popular SKUs more often, distinct SKUs."""
        count = lines or rng.choices((1, 2, 3, 4, 5, 8), weights=(30, 25, 18, 12, 10, 5))[0]
        weights = [s.weight for s in self.skus]
        picked: dict[str, Sku] = {}
        while len(picked) < count:
            sku = rng.choices(self.skus, weights=weights)[0]
            picked[sku.sku] = sku
        return [s.line(rng.choices((1, 2, 3), weights=(80, 15, 5))[0]) for s in picked.values()]

    def customer(self, rng: random.Random, customer_id: str) -> dict[str, Any]:
        tier = rng.choices((None, *TIERS), weights=(60, 25, 10, 5))[0]
        body: dict[str, Any] = {"id": customer_id}
        if tier:
            body["tier"] = tier
        return body


# --------------------------------------------------------------------- seeding


def seed(url: str, admin_key: str, catalogue: Catalogue, *, timeout: float = 120.0) -> str:
    """Load ``catalogue`` into the service at ``url``; the rules version it prices with."""
    headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as client:
        response = client.post(
            "/v1/admin/promotions/import",
            json={"promotions": catalogue.promotions, "mode": "upsert"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"import refused: {response.status_code} {response.text[:2000]}")
        for code, promotion_id in catalogue.shared_codes.items():
            made = client.post(f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code})
            if made.status_code not in (200, 201, 409):
                raise RuntimeError(f"code {code}: {made.status_code} {made.text[:500]}")
        wanted = client.get("/readyz").json().get("rules_version")
        # every flash sale readable: its counters are loaded
        deadline = time.monotonic() + 30
        for item in [*catalogue.hot, *catalogue.open_flash]:
            while True:
                read = client.get(f"/v1/flash-sales/{item.promotion_id}")
                if read.status_code == 200:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"flash sale {item.promotion_id}: {read.text[:500]}")
                time.sleep(0.2)
        return str(wanted)
