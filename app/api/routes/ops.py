"""``/healthz``, ``/readyz``, ``/metrics``: open, no key."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.api.deps import FlashSalesDep, ReadinessDep
from app.api.problem_docs import ReadinessProblemOut, problem
from app.api.problems import problem_response
from app.errors import Unavailable
from app.observability.series import sale_families

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    responses=problem(
        503,
        "`unavailable`: the database or Redis does not answer; `checks` says which.",
        ReadinessProblemOut,
    ),
)
async def readyz(readiness: ReadinessDep) -> JSONResponse:
    """Ready: the database and Redis both answer. Otherwise 503 (problem+json) with
    each dependency's state. Stored promotions that no longer read are listed
    under ``checks.promotions`` (present only then); they do not make it unready."""
    report = await readiness.readiness()
    checks: dict[str, Any] = dict(report.dependencies)
    if report.unreadable:
        checks["promotions"] = {"state": "unreadable", "unreadable": list(report.unreadable)}
    if report.ready:
        return JSONResponse(
            {"status": "ready", "rules_version": report.rules_version, "checks": checks}
        )
    down = sorted(n for n, check in report.dependencies.items() if check["state"] != "up")
    return problem_response(
        status=503,
        code="unavailable",
        title="Service unavailable",
        detail=f"not ready: {', '.join(down)} not answering",
        headers={"Retry-After": "1"},
        extra={"checks": checks},
    )


class _Families(Collector):
    """Metric families read for this scrape."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(flash_sales: FlashSalesDep) -> Response:
    """Prometheus text: this process's series (every worker's, added up, when
    ``PROMETHEUS_MULTIPROC_DIR`` is set: ``WORKERS`` > 1), and the flash-sale stock
    and budgets read from the live counters now (left out while Redis is down)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Families(REGISTRY.collect()))
    try:
        registry.register(_Families(sale_families(await flash_sales.levels())))
    except Unavailable as exc:
        log.warning("metrics: the sale's counters did not answer: %s", exc)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
