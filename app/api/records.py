"""HTTP bodies to the services' records and back: the routers' mapping, in one place.

The promotion body and the stored ``PromotionDocument`` share their JSON shape
today, so the mapping goes through it; the day one of them changes, the
mapping here changes with it and the stored documents do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import to_json

from app.api.schemas import (
    ClaimBody,
    ClaimResponse,
    CodesBody,
    CodesResponse,
    FlashSaleItem,
    FlashSaleResponse,
    ImportBody,
    ImportResponse,
    PromotionBody,
    QuoteBody,
    QuoteResponse,
    ReservationBody,
    ReservationResponse,
    StatsResponse,
    WalletCouponOut,
    WalletResponse,
    WalletStatus,
)
from app.coupons.claim_service import Claimed, ClaimRequest, WalletCoupon
from app.errors import InvalidInput, Problem
from app.inventory.flash_sale_service import FlashSaleStock
from app.inventory.ledger import StoredReservation
from app.inventory.order_document import OrderDocument
from app.inventory.reservation_service import ReservationRequest
from app.promotions.admin_service import CodeRequest, ImportResult, IssuedCodes, PromotionStats
from app.promotions.document import PromotionDocument, new_promotion_id
from app.quoting.previews import Preview
from app.quoting.quote_service import QuoteQuery
from app.rules.model import Quote


def promotion_document(body: PromotionBody, promotion_id: str | None = None) -> PromotionDocument:
    """The document to store for ``body``: under ``promotion_id`` (a PUT's path id,
    which a body ``id`` must match), else the body's id, else a new one; the name
    defaults to the id."""
    if promotion_id is not None and body.id is not None and body.id != promotion_id:
        raise InvalidInput(
            "the body's id differs from the path's",
            [Problem(loc=("body", "id"), msg=f"must be {promotion_id!r} or absent")],
        )
    chosen = promotion_id or body.id or new_promotion_id()
    given = body.model_dump(mode="json", by_alias=True)
    return PromotionDocument.from_stored({**given, "id": chosen, "name": body.name or chosen})


def imported_documents(body: ImportBody) -> list[PromotionDocument]:
    """The documents to store for an import (each as ``promotion_document`` makes
    it); every invalid body's problems at once, ``loc`` ``["body", "promotions",
    <index>, ...]``. Heavy at 10,000 bodies: the router runs it in a thread."""
    try:
        checked = body.checked_promotions()
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "promotions", *e["loc"])} for e in exc.errors()]
        ) from None
    return [promotion_document(promotion) for promotion in checked]


def import_response(result: ImportResult) -> ImportResponse:
    return ImportResponse(
        created=result.created, updated=result.updated, rules_version=result.rules_version
    )


def promotion_body(document: PromotionDocument) -> PromotionBody:
    return PromotionBody.model_validate(
        document.model_dump(mode="json", by_alias=True, exclude={"schema_version"})
    )


def code_request(body: CodesBody) -> CodeRequest:
    return CodeRequest(code=body.code, count=body.count or 0, prefix=body.prefix)


def codes_response(issued: IssuedCodes) -> CodesResponse:
    return CodesResponse(
        promotion_id=issued.promotion_id, kind=issued.kind, codes=list(issued.codes)
    )


def stats_response(stats: PromotionStats) -> StatsResponse:
    return StatsResponse(
        reservations=stats.reservations,
        confirmed=stats.confirmed,
        cancelled=stats.cancelled,
        expired=stats.expired,
        discount_given=stats.discount_given,
        gmv=stats.gmv,
        claims=stats.claims,
        redemptions=stats.redemptions,
        budget_spent=stats.budget_spent,
        codes=stats.codes,
        budget_left=stats.budget_left,
    )


def quote_query(body: QuoteBody, *, now: datetime) -> QuoteQuery:
    return QuoteQuery(
        request=body.to_request(at=now),
        coupon_codes=tuple(body.coupon_codes),
        auto_coupons=body.auto_coupons,
    )


def reservation_request(body: ReservationBody, *, now: datetime) -> ReservationRequest:
    customer_id = body.customer.id
    assert customer_id is not None  # ReservationBody requires it
    return ReservationRequest(
        order_id=body.order_id,
        customer_id=customer_id,
        query=quote_query(body, now=now),
        expected_total=body.expected_total,
    )


def order_document(quote: Quote) -> OrderDocument:
    """The stored order of a reservation: the quote with the words it was shown with."""
    return OrderDocument.model_validate(QuoteResponse.from_quote(quote).model_dump(mode="json"))


def reservation_response(found: StoredReservation) -> ReservationResponse:
    return ReservationResponse(
        reservation_id=found.id,
        order_id=found.order_id,
        status=found.status.value,
        customer_id=found.customer_id,
        expires_at=found.expires_at,
        created_at=found.created_at,
        updated_at=found.updated_at,
        quote=QuoteResponse.model_validate(
            found.quote.model_dump(mode="json", exclude={"schema_version"}, exclude_none=False)
        ),
    )


def flash_sale_response(stock: FlashSaleStock) -> FlashSaleResponse:
    return FlashSaleResponse(
        promotion_id=stock.promotion_id,
        items=[
            FlashSaleItem(
                sku=i.sku,
                price=i.price,
                initial=i.initial,
                available=i.available,
                reserved=i.reserved,
                sold=i.sold,
                per_customer_limit=i.per_customer_limit,
            )
            for i in stock.items
        ],
    )


def claim_request(body: ClaimBody) -> ClaimRequest:
    return ClaimRequest(
        promotion_id=body.promotion_id, customer=body.to_customer(), claim_id=body.claim_id
    )


def claim_response(claimed: Claimed) -> ClaimResponse:
    return ClaimResponse(
        code=claimed.code,
        promotion_id=claimed.promotion_id,
        customer_id=claimed.customer_id,
        expires_at=claimed.expires_at,
        claim_id=claimed.claim_id,
    )


def wallet_response(customer_id: str, coupons: Sequence[WalletCoupon]) -> WalletResponse:
    return WalletResponse(
        customer_id=customer_id,
        coupons=[
            WalletCouponOut(
                code=c.code,
                promotion_id=c.promotion_id,
                status=cast(WalletStatus, c.status),
                claimed_at=c.claimed_at,
                expires_at=c.expires_at,
            )
            for c in coupons
        ],
    )


def preview_json(found: Preview) -> bytes:
    """``PreviewResponse`` as JSON, each quote built as ``POST /v1/quote`` builds it."""
    return to_json(
        {
            "quotes": [QuoteResponse.content(q) for q in found.quotes],
            "warnings": [
                {
                    "code": w.code,
                    "promotion_id": w.promotion_id,
                    "message": w.message,
                    "loc": list(w.loc),
                    "cart": w.cart,
                    "line_id": w.line_id,
                }
                for w in found.warnings
            ],
        }
    )
