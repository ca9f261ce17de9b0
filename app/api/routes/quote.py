"""``POST /v1/quote``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from app.api.auth import require
from app.api.deps import QuotesDep, WordingDep
from app.api.problem_docs import problems
from app.api.records import quote_query
from app.api.schemas import QuoteBody, QuoteResponse
from app.api.wording import Wording
from app.coupons.attempts import GuardedQuotes
from app.observability import series

router = APIRouter(
    prefix="/v1",
    tags=["quote"],
    dependencies=[require("checkout")],
    responses=problems(401, 403, 422, 503),  # 503: only when codes need the database
)


@router.post("/quote", response_model=QuoteResponse)
async def post_quote(body: QuoteBody, quotes: QuotesDep, words: WordingDep) -> Response:
    """Price a cart against the current rules; no side effects. The texts
    (``message``, ``description``) follow ``Accept-Language`` (English or Chinese);
    nothing else does."""
    return await answer_quote(body, quotes, words)


async def answer_quote(body: QuoteBody, quotes: GuardedQuotes, words: Wording) -> Response:
    """The route's work, shared with ``app.api.hot_paths``."""
    quoted = await quotes.quote(quote_query(body, now=datetime.now(UTC)))
    series.quoted(quoted.quote)
    # The JSON is built once from the quote; ``response_model`` documents it (a
    # returned Response is not validated again).
    return Response(
        QuoteResponse.json_of(quoted.quote, words),
        media_type="application/json",
        headers={"Content-Language": words.language, "Vary": "Accept-Language"},
    )
