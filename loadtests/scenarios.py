"""Locust users for the peak rehearsal (``python -m loadtests.run SCENARIO``).

One user class per scenario; the runner names the class on locust's command
line and hands the catalogue (``loadtests.catalogue``) in ``LOADTEST_CATALOGUE``:

``BrowseUser`` (``browse``)
    prices realistic carts (``POST /v1/quote``: popular SKUs more often, member
    tiers, now and then a shared coupon code) and looks at the flash-sale page.
``FlashSaleUser`` (``flash-sale``, ``redis-outage``): 整点抢购
    a crowd of customers at T0 (each user seats the next customer when one is
    done): prices a hot SKU (the product page), and when the quote gives the
    flash price reserves one unit at that price (``expected_total``), then pays
    (confirm, 85%) or gives up (cancel). Sold out: the quote has no flash price
    and the sale's page shows none left. A 503 is retried with the
    same ``order_id``, as a real checkout does; a degraded quote (Redis down)
    is tried again later.
``CouponGrabUser`` (``coupon-grab``): 领券
    a crowd of customers, each claiming every claimable coupon once
    (``POST /v1/coupons/claim``), until all are gone (409 ``limit_reached``).
``CheckoutUser`` (``checkout``)
    the funnel: quote a cart (some with an open flash-sale SKU), reserve at the
    price shown, confirm (80%) or cancel.

Refusals a sale expects (409 ``sold_out``, ``limit_reached``,
``price_changed``) are successes for locust; anything else (5xx, timeouts,
422) is a failure. What the users got is written at the end to
``LOADTEST_LEDGER`` (JSON), which the runner checks against the service's
counters: no oversell, no lost unit, every claim counted.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `loadtests` from any cwd

from loadtests.catalogue import Catalogue, FlashItem

CATALOGUE = Catalogue.load(Path(os.environ.get("LOADTEST_CATALOGUE", "catalogue.json")))
KEY = os.environ.get("PRICING_KEY", "")
THINK = (float(os.environ.get("THINK_MIN", "0.05")), float(os.environ.get("THINK_MAX", "0.5")))
RUN = os.environ.get("LOADTEST_RUN", str(int(time.time())))  # order and customer ids unique per run
EXPECTED_REFUSALS = frozenset({"sold_out", "limit_reached", "price_changed"})

_ids = itertools.count(1)
SOLD_OUT: set[str] = set()  # hot items whose page no longer shows the flash price
GONE: set[str] = set()  # claimable coupons answered limit_reached
_lock = threading.Lock()


class Ledger:
    """What the users got, for the runner's checks."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.flash_reserved: Counter[str] = Counter()  # promotion|sku -> units held now
        self.flash_sold: Counter[str] = Counter()  # units confirmed
        self.flash_unknown: Counter[str] = Counter()  # reservations whose answer never came
        self.claims: Counter[str] = Counter()  # promotion -> codes claimed
        self.successes_at: list[float] = []  # reservation successes (recovery after outage)

    def dump(self, path: str) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "counts": self.counts,
                    "flash_reserved": self.flash_reserved,
                    "flash_sold": self.flash_sold,
                    "flash_unknown": self.flash_unknown,
                    "claims": self.claims,
                    "successes_at": self.successes_at,
                }
            )
        )


LEDGER = Ledger()


# every request as (seconds since the epoch, milliseconds, failed): the runner's charts
REQUESTS: list[tuple[float, float, int]] = []


@events.request.add_listener
def _keep_request(response_time: float, exception: Any, **_: Any) -> None:
    REQUESTS.append((time.time(), response_time, 1 if exception else 0))


@events.quitting.add_listener
def _write_ledger(**_: Any) -> None:
    path = os.environ.get("LOADTEST_LEDGER")
    if path:
        LEDGER.dump(path)
    requests = os.environ.get("LOADTEST_REQUESTS")
    if requests:
        with Path(requests).open("w") as f:
            f.write("time,ms,failed\n")
            f.writelines(f"{t:.3f},{ms:.1f},{failed}\n" for t, ms, failed in REQUESTS)


def _problem_code(text: str | None) -> str:
    try:
        return str(json.loads(text or "{}").get("code", ""))
    except ValueError:
        return ""


class Shopper(FastHttpUser):
    """A customer of their own (ids unique in the run)."""

    abstract = True
    wait_time = between(*THINK)
    host = os.environ.get("PRICING_HOST", "http://127.0.0.1:8000")

    def on_start(self) -> None:
        self.number = next(_ids)
        self.customer_id = f"lt-{RUN}-{self.number}"
        self.rng = random.Random(f"{RUN}-{self.number}")
        self.customer = CATALOGUE.customer(self.rng, self.customer_id)
        self.headers = {"Content-Type": "application/json"}
        if KEY:
            self.headers["Authorization"] = f"Bearer {KEY}"

    def post(self, path: str, body: Any, name: str | None = None) -> tuple[int, Any]:
        """POST ``body``; the status and the decoded answer (None when not JSON).
        Expected refusals count as successes."""
        with self.client.post(
            path,
            data=json.dumps(body, separators=(",", ":")),
            headers=self.headers,
            name=name or path,
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            try:
                answer = json.loads(response.text or "null")
            except ValueError:
                answer = None
            code = answer.get("code", "") if isinstance(answer, dict) else ""
            if status in (200, 201) or (status == 409 and code in EXPECTED_REFUSALS):
                response.success()
            else:
                response.failure(f"{status} {code or (response.text or '')[:120]}")
            return status, answer

    def quote(self, lines: list[dict[str, Any]], **more: Any) -> tuple[int, Any]:
        body = {"customer": self.customer, "lines": lines, **more}
        return self.post("/v1/quote", body)

    def reserve(self, order_id: str, lines: list[dict[str, Any]], total: int) -> tuple[int, Any]:
        body = {
            "order_id": order_id,
            "customer": self.customer,
            "lines": lines,
            "expected_total": total,
        }
        return self.post("/v1/reservations", body)

    def settle(self, reservation_id: str, verb: str) -> int:
        status, _ = self.post(
            f"/v1/reservations/{reservation_id}/{verb}",
            {},
            name=f"/v1/reservations/{{reservation_id}}/{verb}",
        )
        return status


class BrowseUser(Shopper):
    @task(10)
    def price_a_cart(self) -> None:
        codes = []
        if CATALOGUE.shared_codes and self.rng.random() < 0.1:
            codes = [self.rng.choice(sorted(CATALOGUE.shared_codes))]
        self.quote(CATALOGUE.cart(self.rng), coupon_codes=codes)

    @task(1)
    def look_at_the_sale(self) -> None:
        item = self.rng.choice(CATALOGUE.hot + CATALOGUE.open_flash)
        self.client.get(
            f"/v1/flash-sales/{item.promotion_id}",
            headers=self.headers,
            name="/v1/flash-sales/{promotion_id}",
        )


def _key(item: FlashItem) -> str:
    return f"{item.promotion_id}|{item.sku}"


class FlashSaleUser(Shopper):
    """整点抢购: every hot SKU once, at the flash price, until it is gone."""

    def on_start(self) -> None:
        super().on_start()
        self.wanted = [i for i in CATALOGUE.hot if _key(i) not in SOLD_OUT]
        self.rng.shuffle(self.wanted)
        self.pending: dict[str, tuple[FlashItem, list[dict[str, Any]], int]] = {}

    @task
    def rush(self) -> None:
        if self.pending:  # a reservation whose answer was a 503: the same order again
            order_id, (item, lines, total) = next(iter(self.pending.items()))
            self._reserve(order_id, item, lines, total)
            return
        if not self.wanted:
            if len(SOLD_OUT) < len(CATALOGUE.hot):
                self.on_start()  # the next customer in the crowd takes this seat
            else:
                time.sleep(0.5)  # all gone: the crowd leaves
            return
        item = self.wanted[0]
        lines = [self._line(item)]
        status, quote = self.quote(lines)
        if status != 200 or not isinstance(quote, dict):
            return
        if quote.get("degraded"):
            LEDGER.counts["degraded_quote"] += 1
            return  # no flash price while Redis is down: try again later
        if item.promotion_id not in {a["promotion_id"] for a in quote.get("applied", [])}:
            # no flash price: sold out, if the sale's page says so; else (its counters
            # being rebuilt after Redis came back empty) look again later
            if self._available(item) == 0:
                LEDGER.counts["sold_out_seen"] += 1
                SOLD_OUT.add(_key(item))
                self.wanted.pop(0)
            else:
                LEDGER.counts["no_flash_price_yet"] += 1
            return
        self._reserve(f"{self.customer_id}-{item.sku}", item, lines, int(quote["total"]))

    def _available(self, item: FlashItem) -> int | None:
        """The sale page's units available for ``item`` (None when it does not answer)."""
        with self.client.get(
            f"/v1/flash-sales/{item.promotion_id}",
            headers=self.headers,
            name="/v1/flash-sales/{promotion_id}",
            catch_response=True,
        ) as response:
            if response.status_code == 503:
                response.success()  # Redis away: the page says "try again"
                return None
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return None
            for level in json.loads(response.text or "{}").get("items", []):
                if level["sku"] == item.sku:
                    return int(level["available"])
            return None

    def _line(self, item: FlashItem) -> dict[str, Any]:
        sku = next(s for s in CATALOGUE.skus if s.sku == item.sku)
        return sku.line(1)

    def _reserve(
        self, order_id: str, item: FlashItem, lines: list[dict[str, Any]], total: int
    ) -> None:
        status, made = self.reserve(order_id, lines, total)
        if status in (0, 500, 502, 503, 504):
            with _lock:
                LEDGER.counts[f"reserve_{status}"] += 1
                if order_id not in self.pending:
                    LEDGER.flash_unknown[_key(item)] += 1
            self.pending[order_id] = (item, lines, total)
            return
        if self.pending.pop(order_id, None) is not None:
            with _lock:
                LEDGER.flash_unknown[_key(item)] -= 1
        if self.wanted and self.wanted[0] is item:
            self.wanted.pop(0)
        if status not in (200, 201) or not isinstance(made, dict):
            with _lock:
                LEDGER.counts[f"refused_{_problem_code(json.dumps(made))}"] += 1
            return
        applied = {a["promotion_id"] for a in made["quote"].get("applied", [])}
        if item.promotion_id not in applied:
            return
        with _lock:
            LEDGER.flash_reserved[_key(item)] += 1
            LEDGER.counts["reserved"] += 1
            LEDGER.successes_at.append(time.time())
        verb = "confirm" if self.rng.random() < 0.85 else "cancel"
        for _ in range(20):
            settled = self.settle(made["reservation_id"], verb)
            if settled == 200:
                with _lock:
                    LEDGER.flash_reserved[_key(item)] -= 1
                    if verb == "confirm":
                        LEDGER.flash_sold[_key(item)] += 1
                    LEDGER.counts[verb] += 1
                return
            time.sleep(0.2)  # 503 while Redis is away: pay again in a moment


class CouponGrabUser(Shopper):
    """领券: each claimable coupon once, as fast as the page lets them."""

    def on_start(self) -> None:
        super().on_start()
        self.left = [p for p in sorted(CATALOGUE.claimable) if p not in GONE]

    @task
    def grab(self) -> None:
        if not self.left:
            if len(GONE) < len(CATALOGUE.claimable):
                self.on_start()  # the next customer in the crowd takes this seat
            else:
                time.sleep(0.5)  # every coupon is gone
            return
        promotion_id = self.left[0]
        status, _answer = self.post(
            "/v1/coupons/claim",
            {"customer_id": self.customer_id, "promotion_id": promotion_id},
        )
        if status == 201:
            with _lock:
                LEDGER.claims[promotion_id] += 1
            self.left.pop(0)
        elif status == 409:
            self.left.pop(0)  # gone (limit_reached), or already ours
            GONE.add(promotion_id)


class CheckoutUser(Shopper):
    """quote → reserve at the price shown → confirm (80%) or cancel."""

    @task
    def checkout(self) -> None:
        lines = CATALOGUE.cart(self.rng)
        if CATALOGUE.open_flash and self.rng.random() < 0.3:
            item = self.rng.choice(CATALOGUE.open_flash)
            if all(line["sku"] != item.sku for line in lines):
                sku = next(s for s in CATALOGUE.skus if s.sku == item.sku)
                lines.append(sku.line(1))
        status, quote = self.quote(lines)
        if status != 200 or not isinstance(quote, dict):
            return
        order_id = f"{self.customer_id}-{self.rng.randrange(10**9)}"
        status, made = self.reserve(order_id, lines, int(quote["total"]))
        if status not in (200, 201) or not isinstance(made, dict):
            with _lock:
                LEDGER.counts[f"refused_{status}"] += 1
            return
        with _lock:
            LEDGER.counts["reserved"] += 1
        verb = "confirm" if self.rng.random() < 0.8 else "cancel"
        if self.settle(made["reservation_id"], verb) == 200:
            with _lock:
                LEDGER.counts[verb] += 1
