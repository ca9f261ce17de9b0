"""``/v1/admin/promotions``: create, list, read, replace, delete; codes; stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app import admin
from app.api.auth import require
from app.api.deps import WiringDep
from app.api.problems import problem, problems
from app.api.schemas import (
    CodesBody,
    CodesResponse,
    LookupId,
    PromotionBody,
    PromotionId,
    PromotionList,
    StatsResponse,
    Status,
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
async def create(body: PromotionBody, wiring: WiringDep) -> PromotionBody:
    return await admin.create_promotion(
        body=body,
        repository=wiring.repository,
        rules=wiring.refresher,
        counters=wiring.recovery,
        tz=wiring.settings.timezone,
    )


@router.get("", response_model=PromotionList)
async def list_all(
    wiring: WiringDep, status: Annotated[Status | None, Query()] = None
) -> PromotionList:
    items = await admin.list_promotions(repository=wiring.repository, status=status)
    return PromotionList(items=items)


@router.get("/{promotion_id}", response_model=PromotionBody, responses=problems(404))
async def get_one(promotion_id: PromotionIdPath, wiring: WiringDep) -> PromotionBody:
    return await admin.get_promotion(promotion_id=promotion_id, repository=wiring.repository)


@router.put("/{promotion_id}", response_model=PromotionBody, responses=problems(404))
async def replace(
    promotion_id: StoredIdPath, body: PromotionBody, wiring: WiringDep
) -> PromotionBody:
    return await admin.replace_promotion(
        promotion_id=promotion_id,
        body=body,
        repository=wiring.repository,
        rules=wiring.refresher,
        counters=wiring.recovery,
        tz=wiring.settings.timezone,
    )


@router.delete("/{promotion_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete(promotion_id: PromotionIdPath, wiring: WiringDep) -> Response:
    await admin.delete_promotion(
        promotion_id=promotion_id, repository=wiring.repository, rules=wiring.refresher
    )
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
    promotion_id: PromotionIdPath, body: CodesBody, wiring: WiringDep
) -> CodesResponse:
    return await admin.add_codes(
        promotion_id=promotion_id, body=body, repository=wiring.repository, rules=wiring.refresher
    )


@router.get("/{promotion_id}/stats", response_model=StatsResponse, responses=problems(404))
async def stats(promotion_id: PromotionIdPath, wiring: WiringDep) -> StatsResponse:
    return await admin.promotion_stats(
        promotion_id=promotion_id, repository=wiring.repository, ledger=wiring.ledger
    )
