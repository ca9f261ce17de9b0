"""``GET /v1/flash-sales/{promotion_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app import flash_sales
from app.api.auth import require
from app.api.deps import WiringDep
from app.api.problems import problem, problems
from app.api.schemas import FlashSaleResponse, LookupId

router = APIRouter(
    prefix="/v1/flash-sales",
    tags=["flash sales"],
    dependencies=[require("checkout")],
    responses=problems(401, 403, 422),
)


@router.get(
    "/{promotion_id}",
    response_model=FlashSaleResponse,
    responses={
        **problem(404, "`not_found`: no flash sale has this promotion id."),
        **problem(503, "`unavailable`: Redis did not answer, or the stock is not loaded yet."),
    },
)
async def get_one(
    promotion_id: Annotated[LookupId, Path()], wiring: WiringDep
) -> FlashSaleResponse:
    return await flash_sales.flash_sale(
        promotion_id=promotion_id, rules=wiring.snapshot.rules, inventory=wiring.stock
    )
