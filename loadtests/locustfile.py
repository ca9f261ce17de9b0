"""Locust scenario for ops: peak quote traffic, many customers pricing their carts.

Each simulated user is a shopper on the checkout page: every 1–3 seconds
(``THINK_MIN``/``THINK_MAX``) they price a cart with ``POST /v1/quote`` under
their own customer id, drawn from ``CUSTOMERS`` ids. The cart is the HTTP
benchmark's ``typical`` (10 lines, a few promotions) or ``heavy`` one (10
lines, 20 interacting promotions, 3 coupons), mixed by ``CART_MIX``; locust
reports them as ``/v1/quote [typical]`` and ``/v1/quote [heavy]``.

The carts only mean something against the benchmark's rule set, so load it
first (once per database; the admin API takes about 80 s for 1,000
promotions)::

    .venv/bin/python -m loadtests.bench_http --seed-only \\
        --url http://127.0.0.1:8000 --admin-key "$ADMIN_KEY"

Then, headless, from the project root::

    PRICING_KEY="$CHECKOUT_KEY" CART_MIX=typical:9,heavy:1 \\
    .venv/bin/locust -f loadtests/locustfile.py --headless \\
        --host http://127.0.0.1:8000 --users 200 --spawn-rate 20 --run-time 2m \\
        --only-summary --csv /tmp/quote-peak

Run the generator on another machine than the service, or on its own cores:
one locust process (FastHttpUser) drives about 2,700 requests/s on one core of
the 2-core benchmark machine (measured against the canned server of
``loadtests.baseline_app``), which is about what one bare FastAPI worker
serves; add ``--processes N`` for more.

Environment:

``PRICING_HOST``
    base URL when ``--host`` is not given (default ``http://127.0.0.1:8000``)
``PRICING_KEY``
    a checkout key (``Authorization: Bearer``); empty for a service running open
``CART_MIX``
    ``name:weight,...`` over ``typical`` and ``heavy`` (default ``typical:9,heavy:1``)
``CUSTOMERS``
    distinct customer ids to draw from (default 100000)
``THINK_MIN`` / ``THINK_MAX``
    seconds between one user's quotes (default 1 and 3)
``CHECK_TOTALS``
    ``1``: fail a response whose total is not the one the benchmark's rule set
    gives (default ``1``; ``0`` against other rules)
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from locust import between
from locust.contrib.fasthttp import FastHttpUser
from locust.user.task import task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `loadtests` from any cwd

from loadtests import marketplace


def _mix(raw: str) -> tuple[list[str], list[int]]:
    names, weights = [], []
    for part in raw.split(","):
        name, _, weight = part.strip().partition(":")
        if not name:
            continue
        if name not in marketplace.CARTS:
            raise ValueError(
                f"CART_MIX: unknown cart {name!r} (carts: {sorted(marketplace.CARTS)})"
            )
        names.append(name)
        weights.append(int(weight or 1))
    if not names or sum(weights) <= 0:
        raise ValueError("CART_MIX needs at least one cart with a positive weight")
    return names, weights


CART_NAMES, CART_WEIGHTS = _mix(os.environ.get("CART_MIX", "typical:9,heavy:1"))
CUSTOMERS = int(os.environ.get("CUSTOMERS", "100000"))
KEY = os.environ.get("PRICING_KEY", "")
CHECK = os.environ.get("CHECK_TOTALS", "1") == "1"
# every cart's body with a placeholder customer id, and its expected total
TEMPLATES: dict[str, dict[str, Any]] = {name: marketplace.CARTS[name]() for name in CART_NAMES}
EXPECTED: dict[str, int] = (
    {
        name: marketplace.expected_quote(marketplace.rule_set(), cart).total
        for name, cart in TEMPLATES.items()
    }
    if CHECK
    else {}
)


class Shopper(FastHttpUser):
    host = os.environ.get("PRICING_HOST", "http://127.0.0.1:8000")
    wait_time = between(
        float(os.environ.get("THINK_MIN", "1")), float(os.environ.get("THINK_MAX", "3"))
    )

    def on_start(self) -> None:
        self.customer_id = f"u-{random.randrange(CUSTOMERS)}"
        self.headers = {"Content-Type": "application/json"}
        if KEY:
            self.headers["Authorization"] = f"Bearer {KEY}"

    @task
    def quote(self) -> None:
        name = random.choices(CART_NAMES, CART_WEIGHTS)[0]
        body = dict(TEMPLATES[name])
        body["customer"] = {**body["customer"], "id": self.customer_id}
        with self.client.post(
            "/v1/quote",
            data=json.dumps(body, separators=(",", ":")),
            headers=self.headers,
            name=f"/v1/quote [{name}]",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
            elif CHECK and response.json().get("total") != EXPECTED[name]:
                response.failure(
                    f"total {response.json().get('total')} (expected {EXPECTED[name]})"
                )
