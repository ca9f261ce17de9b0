"""``POST /v1/admin/preview``: carts priced as if draft promotions were live."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Response

from app.api.auth import require
from app.api.deps import PreviewsDep
from app.api.problem_docs import problems
from app.api.records import preview_json, promotion_document, quote_query
from app.api.schemas import PreviewBody, PreviewResponse

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[require("admin")],
    responses=problems(401, 403, 422, 503),
)


@router.post("/preview", response_model=PreviewResponse)
async def preview(body: PreviewBody, previews: PreviewsDep) -> Response:
    """Price `carts` as if `promotions` were live (replacing live ones with the same
    id); nothing is stored. `warnings` name every draft benefit that can take more than
    `MAX_DISCOUNT_PERCENT` off, and every cart line a draft took more than that off."""
    now = datetime.now(UTC)
    drafts = await asyncio.to_thread(lambda: [promotion_document(p) for p in body.promotions])
    found = await previews.preview(drafts, [quote_query(cart, now=now) for cart in body.carts])
    return Response(preview_json(found), media_type="application/json")
