"""HTTP bodies to the services' records and back: the routers' mapping, in one place.

The promotion body and the stored ``PromotionDocument`` share their JSON shape
today, so the mapping goes through it; the day one of them changes, the
mapping here changes with it and the stored documents do not.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import to_json

from app.api.schemas import (
    READ_ONLY,
    ClaimBody,
    ClaimResponse,
    CodesBody,
    CodesResponse,
    FlashSaleItem,
    FlashSaleResponse,
    HistoryEntryOut,
    HistoryResponse,
    ImportBody,
    ImportResponse,
    PromotionBody,
    PromotionList,
    PromotionOut,
    PromotionQuery,
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
from app.promotions.admin_service import (
    AdminPromotion,
    CodeRequest,
    IfMatch,
    ImportResult,
    IssuedCodes,
    PromotionPage,
    PromotionStats,
)
from app.promotions.document import PromotionDocument, new_promotion_id
from app.promotions.repository import HistoryEntry, PromotionFilter
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
    given = body.model_dump(mode="json", by_alias=True, exclude=set(READ_ONLY))
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


def promotion_out(promotion: AdminPromotion) -> PromotionOut:
    return PromotionOut.model_validate(
        {
            **promotion.document.model_dump(mode="json", by_alias=True, exclude={"schema_version"}),
            "version": promotion.version,
            "created_at": promotion.created_at,
            "updated_at": promotion.updated_at,
            "updated_by": promotion.updated_by,
            "effective": promotion.effective,
        }
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: ``patch``'s members replace ``target``'s, a null
    removes one, objects merge recursively; anything else replaces the whole."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def patched_document(
    current: PromotionDocument, patch: Mapping[str, Any], promotion_id: str
) -> PromotionDocument:
    """``patch`` merged into the current body, checked as a PUT body is (a 422 with
    every problem, ``loc`` from ``body``)."""
    body = promotion_body(current).model_dump(mode="json", by_alias=True, exclude=set(READ_ONLY))
    try:
        checked = PromotionBody.model_validate(merge_patch(body, patch))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    return promotion_document(checked, promotion_id)


def if_match(header: str | None) -> IfMatch:
    """The entity tags of an ``If-Match`` header (``*`` kept as is); None without one."""
    if header is None:
        return None
    return frozenset(tag.strip() for tag in header.split(",") if tag.strip())


_CURSOR_PREFIX = b"after:"


def cursor_of(after: str | None) -> str | None:
    """The opaque cursor that continues after the promotion id ``after``."""
    if after is None:
        return None
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + after.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        return raw[len(_CURSOR_PREFIX) :].decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "the cursor is not one this listing gave",
            [Problem(loc=("query", "cursor"), msg="not a cursor from next_cursor")],
        ) from None


def promotion_filter(query: PromotionQuery, *, now: datetime) -> tuple[PromotionFilter, str | None]:
    """The listing's filters, and the id to continue after (from the cursor)."""
    filters = PromotionFilter(
        now=now,
        status=query.status,
        effective=query.effective,
        benefit_type=query.type,
        trigger=query.trigger,
        q=query.q,
    )
    return filters, None if query.cursor is None else _after(query.cursor)


def promotion_list(page: PromotionPage) -> PromotionList:
    return PromotionList(
        items=[promotion_out(p) for p in page.items], next_cursor=cursor_of(page.next_after)
    )


def _history_body(body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    return {name: value for name, value in body.items() if name != "schema_version"}


def history_response(promotion_id: str, entries: Sequence[HistoryEntry]) -> HistoryResponse:
    return HistoryResponse(
        promotion_id=promotion_id,
        items=[
            HistoryEntryOut(
                version=e.version,
                at=e.at,
                by=e.by,
                action=cast(Any, e.action),
                before=_history_body(e.before),
                after=_history_body(e.after),
            )
            for e in entries
        ],
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
    # the response's own content: what validating and dumping the response model
    # gives (tests/unit/test_schemas.py), without doing it
    return OrderDocument.model_validate(QuoteResponse.content(quote))


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
