"""``GET /v1/flash-sales/{promotion_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.auth import require
from app.api.deps import FlashSalesDep
from app.api.records import flash_sale_response
from app.api.schemas import FlashSaleResponse

router = APIRouter(
    prefix="/v1/flash-sales", tags=["flash sales"], dependencies=[require("checkout")]
)


@router.get("/{promotion_id}", response_model=FlashSaleResponse)
async def get_one(
    promotion_id: Annotated[str, Path(max_length=128)], flash_sales: FlashSalesDep
) -> FlashSaleResponse:
    return flash_sale_response(await flash_sales.stock(promotion_id))
