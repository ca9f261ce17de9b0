"""FastAPI dependencies: each route gets the one service it calls, from what the
lifespan built (``app.wiring.Wiring``), never the whole wiring.

They are ``async def`` although they do not await: FastAPI runs a plain ``def``
dependency on its thread pool, a thread hand-off on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from app.api.wording import Wording, language_of
from app.coupons.attempts import GuardedQuotes
from app.coupons.claim_service import ClaimService
from app.coupons.code_admin import CodeAdmin
from app.inventory.flash_sale_service import FlashSaleService
from app.inventory.reservation_service import ReservationService
from app.promotions.admin_service import PromotionAdmin
from app.quoting.previews import Previewer
from app.wiring import Readiness, Wiring


def _wiring(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring


async def _quotes(request: Request) -> GuardedQuotes:
    wiring = _wiring(request)
    return wiring.attempts.guarding(wiring.quotes)


async def _claims(request: Request) -> ClaimService:
    return _wiring(request).claims


async def _reservations(request: Request) -> ReservationService:
    return _wiring(request).reservations


async def _flash_sales(request: Request) -> FlashSaleService:
    return _wiring(request).flash_sales


async def _promotions(request: Request) -> PromotionAdmin:
    return _wiring(request).promotions


async def _codes(request: Request) -> CodeAdmin:
    return _wiring(request).codes


async def _previews(request: Request) -> Previewer:
    return _wiring(request).previews


async def _readiness(request: Request) -> Readiness:
    return _wiring(request)


async def _wording(
    accept_language: Annotated[
        str | None,
        Header(
            description="`zh`, `zh-CN` or `zh-Hans` (q-values weighed) for Chinese texts; "
            "English otherwise"
        ),
    ] = None,
) -> Wording:
    return language_of(accept_language)


QuotesDep = Annotated[GuardedQuotes, Depends(_quotes)]
ClaimsDep = Annotated[ClaimService, Depends(_claims)]
ReservationsDep = Annotated[ReservationService, Depends(_reservations)]
FlashSalesDep = Annotated[FlashSaleService, Depends(_flash_sales)]
PromotionsDep = Annotated[PromotionAdmin, Depends(_promotions)]
CodesDep = Annotated[CodeAdmin, Depends(_codes)]
PreviewsDep = Annotated[Previewer, Depends(_previews)]
ReadinessDep = Annotated[Readiness, Depends(_readiness)]
WordingDep = Annotated[Wording, Depends(_wording)]
"""The language of the answer's texts, from ``Accept-Language``."""
