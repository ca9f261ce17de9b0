"""``/v1/admin/promotions``: create, import, list, read, replace, delete; codes; stats."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.auth import require
from app.api.deps import PromotionsDep
from app.api.problem_docs import problem, problems
from app.api.records import (
    code_request,
    codes_response,
    import_response,
    imported_documents,
    promotion_body,
    promotion_document,
    stats_response,
)
from app.api.schemas import (
    CodesBody,
    CodesResponse,
    ImportBody,
    ImportResponse,
    LookupId,
    PromotionBody,
    PromotionId,
    PromotionList,
    PromotionStatus,
    StatsResponse,
)

router = APIRouter(
    prefix="/v1/admin/promotions",
    tags=["admin"],
    dependencies=[require("admin")],
    responses=problems(401, 403, 422, 503),
)

PromotionIdPath = Annotated[LookupId, Path(alias="promotion_id")]
# PUT stores the body under the path's id, so that id must be a valid promotion id
StoredIdPath = Annotated[PromotionId, Path(alias="promotion_id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionBody,
    responses=problem(409, "`conflict`: a promotion has this id already."),
)
async def create(body: PromotionBody, promotions: PromotionsDep) -> PromotionBody:
    return promotion_body(await promotions.create(promotion_document(body)))


@router.post(
    "/import",
    response_model=ImportResponse,
    responses=problem(
        409,
        "`conflict`: an id appears twice in the request, or (with `create`) a promotion "
        "has one of the ids already; nothing was stored.",
    ),
)
async def import_all(body: ImportBody, promotions: PromotionsDep) -> ImportResponse:
    """Store up to 10,000 promotions at once, all or none; an invalid body anywhere
    is a 422 listing every problem by index."""
    documents = await asyncio.to_thread(imported_documents, body)
    return import_response(await promotions.import_all(documents, mode=body.mode))


@router.get("", response_model=PromotionList)
async def list_all(
    promotions: PromotionsDep, status: Annotated[PromotionStatus | None, Query()] = None
) -> PromotionList:
    return PromotionList(items=[promotion_body(d) for d in await promotions.find(status)])


@router.get("/{promotion_id}", response_model=PromotionBody, responses=problems(404))
async def get_one(promotion_id: PromotionIdPath, promotions: PromotionsDep) -> PromotionBody:
    return promotion_body(await promotions.get(promotion_id))


@router.put("/{promotion_id}", response_model=PromotionBody, responses=problems(404))
async def replace(
    promotion_id: StoredIdPath, body: PromotionBody, promotions: PromotionsDep
) -> PromotionBody:
    return promotion_body(await promotions.replace(promotion_document(body, promotion_id)))


@router.delete("/{promotion_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete(promotion_id: PromotionIdPath, promotions: PromotionsDep) -> Response:
    await promotions.delete(promotion_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
