"""``POST /v1/quote``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from app import quoting
from app.api.auth import require
from app.api.deps import WiringDep
from app.api.problems import problems
from app.api.schemas import QuoteBody, QuoteResponse

router = APIRouter(
    prefix="/v1",
    tags=["quote"],
    dependencies=[require("checkout")],
    responses=problems(401, 403, 422, 503),  # 503: only when codes need the database
)


@router.post("/quote", response_model=QuoteResponse)
async def post_quote(body: QuoteBody, wiring: WiringDep) -> QuoteResponse:
    """Price a cart against the current rules; no side effects."""
    return await quoting.quote(
        body=body,
        rules=wiring.snapshot.rules,
        repository=wiring.repository,
        counters=wiring.counters,
        pricer=wiring.pricer,
        now=datetime.now(UTC),
    )
