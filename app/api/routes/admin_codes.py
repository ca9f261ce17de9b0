"""``/v1/admin/promotions/{id}/codes``: a promotion's codes listed, exported as CSV,
revoked (adding them is ``admin.py``'s)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.api.auth import require
from app.api.deps import CodesDep
from app.api.problem_docs import problem, problems
from app.api.schemas import CodeList, CodeOut, CodeStatus, CodeText, Cursor, LookupId
from app.promotions.repository import ListedCode

router = APIRouter(
    prefix="/v1/admin/promotions",
    tags=["admin"],
    dependencies=[require("admin")],
    responses=problems(401, 403, 422, 503),
)

PromotionIdPath = Annotated[LookupId, Path(alias="promotion_id")]
CSV_COLUMNS = ("code", "kind", "status", "customer_id", "order_id")
_CSV_DOC = {
    "description": "With `Accept: text/csv`: every code (with `status`), one row each, "
    "streamed: " + ",".join(CSV_COLUMNS) + ".",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


def _wants_csv(request: Request) -> bool:
    """``Accept`` names ``text/csv`` with a quality above JSON's (``*/*`` and
    ``application/*`` stand for JSON)."""
    best = {"csv": 0.0, "json": 0.0}
    for item in request.headers.get("accept", "").lower().split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = {"text/csv": "csv", "application/json": "json", "*/*": "json"}.get(media)
        if kind is None and media == "application/*":
            kind = "json"
        if kind is not None:
            best[kind] = max(best[kind], quality)
    return best["csv"] > 0 and best["csv"] > best["json"]


def _out(code: ListedCode) -> CodeOut:
    return CodeOut.model_validate(
        {
            "code": code.code,
            "kind": code.kind,
            "status": code.status,
            "customer_id": code.customer_id,
            "order_id": code.order_id,
        }
    )


async def _csv(batches: AsyncIterator[Sequence[ListedCode]]) -> AsyncIterator[str]:
    """The header, then one chunk of rows per batch read (never the whole file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(
            (c.code, c.kind, c.status, c.customer_id or "", c.order_id or "") for c in batch
        )
        yield buffer.getvalue()


@router.get(
    "/{promotion_id}/codes",
    response_model=CodeList,
    responses={**problems(404), 200: _CSV_DOC},
)
async def list_codes(
    promotion_id: PromotionIdPath,
    request: Request,
    codes: CodesDep,
    status: Annotated[CodeStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Response | CodeList:
    """A page of the promotion's codes by code (`next_cursor` asks for the next), or,
    with `Accept: text/csv`, all of them as CSV (`limit` and `cursor` do not apply)."""
    if _wants_csv(request):
        batches = await codes.export(promotion_id, status=status)
        return StreamingResponse(
            _csv(batches),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{promotion_id}-codes.csv"'},
        )
    page = await codes.page(promotion_id, status=status, limit=limit, cursor=cursor)
    return CodeList(items=[_out(c) for c in page.codes], next_cursor=page.next_cursor)


@router.post(
    "/{promotion_id}/codes/{code}/revoke",
    response_model=CodeOut,
    responses={
        **problem(404, "`not_found`: no such promotion, or it has no such code."),
        **problem(
            409,
            "`conflict`: the code is used, or held by an open reservation (revoke it once "
            "that reservation is cancelled or expires).",
        ),
    },
)
async def revoke(
    promotion_id: PromotionIdPath,
    code: Annotated[CodeText, Path()],
    codes: CodesDep,
) -> CodeOut:
    """Revoke a code that is not used (case-insensitive): from now on quotes answer
    `unknown_code` for it, reservations refuse it, and a claimed one leaves its
    owner's wallet. Revoking it again: the same answer."""
    return _out(await codes.revoke(promotion_id, code))
