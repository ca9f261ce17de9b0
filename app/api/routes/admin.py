"""``/v1/admin/promotions``: create, import, list, read, replace, patch, delete,
history; codes; stats.

Every promotion answered carries its ``ETag`` (its id and version); ``PUT``,
``PATCH`` and ``DELETE`` with an ``If-Match`` that does not name the current
version are 412 ``precondition_failed`` and change nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response, status

from app.api.auth import Actor, require
from app.api.deps import PromotionsDep
from app.api.problem_docs import problem, problems
from app.api.records import (
    code_request,
    codes_response,
    history_response,
    if_match,
    import_response,
    imported_documents,
    patched_document,
    promotion_document,
    promotion_filter,
    promotion_list,
    promotion_out,
    stats_response,
)
from app.api.schemas import (
    CodesBody,
    CodesResponse,
    HistoryResponse,
    ImportBody,
    ImportResponse,
    LookupId,
    PromotionBody,
    PromotionId,
    PromotionList,
    PromotionOut,
    PromotionQuery,
    StatsResponse,
    unstorable_places,
)
from app.errors import InvalidInput, Problem
from app.promotions.admin_service import AdminPromotion

router = APIRouter(
    prefix="/v1/admin/promotions",
    tags=["admin"],
    dependencies=[require("admin")],
    responses=problems(401, 403, 422, 503),
)

PromotionIdPath = Annotated[LookupId, Path(alias="promotion_id")]
# PUT stores the body under the path's id, so that id must be a valid promotion id
StoredIdPath = Annotated[PromotionId, Path(alias="promotion_id")]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The `ETag` of the version this change is based on; another one: 412.",
    ),
]

_ETAG = {
    "ETag": {
        "description": "The version of the promotion, for `If-Match`.",
        "schema": {"type": "string"},
    }
}
_PRECONDITION = problem(412)
_MERGE_PATCH = {
    "requestBody": {
        "required": True,
        "description": "A JSON merge patch (RFC 7396) of the promotion body: any of its "
        "members; null removes one (its default then), objects merge, lists replace.",
        "content": {
            media: {
                "schema": {"$ref": "#/components/schemas/PromotionBody"},
                "example": {"status": "paused"},
            }
            for media in ("application/json", "application/merge-patch+json")
        },
    }
}


def _answer(promotion: AdminPromotion, response: Response) -> PromotionOut:
    response.headers["ETag"] = promotion.etag
    return promotion_out(promotion)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionOut,
    responses=problem(409, "`conflict`: a promotion has this id already."),
)
async def create(
    body: PromotionBody, promotions: PromotionsDep, by: Actor, response: Response
) -> PromotionOut:
    return _answer(await promotions.create(promotion_document(body), by=by), response)


@router.post(
    "/import",
    response_model=ImportResponse,
    responses=problem(
        409,
        "`conflict`: an id appears twice in the request, or (with `create`) a promotion "
        "has one of the ids already; nothing was stored.",
    ),
)
async def import_all(body: ImportBody, promotions: PromotionsDep, by: Actor) -> ImportResponse:
    """Store up to 10,000 promotions at once, all or none; an invalid body anywhere
    is a 422 listing every problem by index."""
    documents = await asyncio.to_thread(imported_documents, body)
    return import_response(await promotions.import_all(documents, mode=body.mode, by=by))


@router.get("", response_model=PromotionList)
async def list_all(
    promotions: PromotionsDep, query: Annotated[PromotionQuery, Query()]
) -> PromotionList:
    """A page of promotions by id (`limit`, default 100, at most 1,000), filtered;
    `next_cursor` continues it (null: the last page). An unknown parameter: 422."""
    filters, after = promotion_filter(query, now=datetime.now(UTC))
    return promotion_list(await promotions.find(filters, after=after, limit=query.limit))


@router.get(
    "/{promotion_id}",
    response_model=PromotionOut,
    responses={**problems(404), 200: {"headers": _ETAG}},
)
async def get_one(
    promotion_id: PromotionIdPath, promotions: PromotionsDep, response: Response
) -> PromotionOut:
    return _answer(await promotions.get(promotion_id), response)


@router.put(
    "/{promotion_id}",
    response_model=PromotionOut,
    responses={**problems(404), **_PRECONDITION, 200: {"headers": _ETAG}},
)
async def replace(
    promotion_id: StoredIdPath,
    body: PromotionBody,
    promotions: PromotionsDep,
    by: Actor,
    response: Response,
    if_match_header: IfMatchHeader = None,
) -> PromotionOut:
    replaced = await promotions.replace(
        promotion_document(body, promotion_id), by=by, if_match=if_match(if_match_header)
    )
    return _answer(replaced, response)


@router.patch(
    "/{promotion_id}",
    response_model=PromotionOut,
    responses={**problems(404), **_PRECONDITION, 200: {"headers": _ETAG}},
    openapi_extra=_MERGE_PATCH,
)
async def patch(
    promotion_id: StoredIdPath,
    merge: Annotated[dict[str, Any], Body()],
    promotions: PromotionsDep,
    by: Actor,
    response: Response,
    if_match_header: IfMatchHeader = None,
) -> PromotionOut:
    """A JSON merge patch of the body (`{"status": "paused"}`), checked as a PUT
    body is; `Content-Type` `application/merge-patch+json` or `application/json`."""
    unstorable = unstorable_places(merge, ("body",))
    if unstorable:
        raise InvalidInput(
            "the patch cannot be stored", [Problem(loc=loc, msg=msg) for loc, msg in unstorable]
        )
    patched = await promotions.patch(
        promotion_id,
        lambda current: patched_document(current, merge, promotion_id),
        by=by,
        if_match=if_match(if_match_header),
    )
    return _answer(patched, response)


@router.delete(
    "/{promotion_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**problems(404), **_PRECONDITION},
)
async def delete(
    promotion_id: PromotionIdPath,
    promotions: PromotionsDep,
    by: Actor,
    if_match_header: IfMatchHeader = None,
) -> Response:
    """Removes the promotion, or archives it (status `archived`: it prices nothing,
    its stats and history stay) when reservations or orders reference it."""
    await promotions.delete(promotion_id, by=by, if_match=if_match(if_match_header))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{promotion_id}/history", response_model=HistoryResponse, responses=problems(404))
async def history(promotion_id: PromotionIdPath, promotions: PromotionsDep) -> HistoryResponse:
    """Every change, newest first, with the bodies before and after (also of a
    removed promotion)."""
    return history_response(promotion_id, await promotions.history(promotion_id))


@router.post(
    "/{promotion_id}/codes",
    status_code=status.HTTP_201_CREATED,
    response_model=CodesResponse,
    responses={
        **problem(404),
        **problem(
            409,
            "`conflict`: the promotion is not a coupon (`trigger` is not `coupon`), or a "
            "code exists already.",
        ),
    },
)
async def add_codes(
    promotion_id: PromotionIdPath, body: CodesBody, promotions: PromotionsDep
) -> CodesResponse:
    return codes_response(await promotions.add_codes(promotion_id, code_request(body)))


@router.get("/{promotion_id}/stats", response_model=StatsResponse, responses=problems(404))
async def stats(promotion_id: PromotionIdPath, promotions: PromotionsDep) -> StatsResponse:
    return stats_response(await promotions.stats(promotion_id))
