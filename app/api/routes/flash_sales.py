"""``GET /v1/flash-sales/{promotion_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.auth import require
from app.api.deps import FlashSalesDep
from app.api.problem_docs import problem, problems
from app.api.records import flash_sale_response
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
    promotion_id: Annotated[LookupId, Path()], flash_sales: FlashSalesDep
) -> FlashSaleResponse:
    return flash_sale_response(await flash_sales.stock(promotion_id))
