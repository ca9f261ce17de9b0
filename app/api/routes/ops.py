"""``/healthz``, ``/readyz``, ``/metrics``: open, no key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import ReadinessDep
from app.api.problem_docs import ReadinessProblemOut, problem
from app.api.problems import problem_response

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


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
