"""``/v1/reservations``: reserve (try), confirm, cancel, read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.api.auth import require
from app.api.deps import ReservationsDep
from app.api.problem_docs import ReservationProblemOut, problem, problems
from app.api.records import reservation_request, reservation_response
from app.api.schemas import ReservationBody, ReservationId, ReservationResponse
from app.inventory.reservation_service import ReservationService
from app.observability import series

router = APIRouter(
    prefix="/v1/reservations",
    tags=["reservations"],
    dependencies=[require("checkout")],
    responses=problems(401, 403, 422, 503),
)

ReservationIdPath = Annotated[ReservationId, Path(alias="reservation_id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationResponse,
    responses={
        200: {"model": ReservationResponse, "description": "the order_id's reservation"},
        **problem(
            409,
            "Nothing was taken. `price_changed`: `expected_total` differs from the price now "
            "(or a promotion ended meanwhile); `sold_out`: flash-sale stock ran out; "
            "`limit_reached`: a per-customer limit, usage limit or budget ran out; these three "
            "carry the fresh `quote`. `conflict`: a single-use code in the cart is held by "
            "another order.",
            ReservationProblemOut,
        ),
    },
)
async def reserve(body: ReservationBody, reservations: ReservationsDep) -> Response:
    """Price the cart and hold what the price needs: 201 when made now, 200 with
    the same reservation when this ``order_id`` has one already."""
    return await answer_reserve(body, reservations)


async def answer_reserve(body: ReservationBody, reservations: ReservationService) -> Response:
    """The route's work, shared with ``app.api.hot_paths``. The JSON is made once,
    here; ``response_model`` documents it."""
    with series.reservation("reserve", "reserved") as outcome:
        made, created = await reservations.reserve(reservation_request(body, now=datetime.now(UTC)))
        if not created:
            outcome.value = "replayed"
    return Response(
        reservation_response(made).model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("/{reservation_id}", response_model=ReservationResponse, responses=problems(404))
async def get_one(
    reservation_id: ReservationIdPath, reservations: ReservationsDep
) -> ReservationResponse:
    return reservation_response(await reservations.get(reservation_id))


@router.post(
    "/{reservation_id}/confirm",
    response_model=ReservationResponse,
    responses={
        **problem(404),
        **problem(
            409,
            "`reservation_expired`: it expired or was cancelled; `conflict`: it is still "
            "being made.",
        ),
    },
)
async def confirm(
    reservation_id: ReservationIdPath, reservations: ReservationsDep
) -> ReservationResponse:
    """Payment succeeded: the order goes to the ledger. Idempotent."""
    with series.reservation("confirm", "confirmed"):
        confirmed = await reservations.confirm(reservation_id)
    return reservation_response(confirmed)


@router.post(
    "/{reservation_id}/cancel",
    response_model=ReservationResponse,
    responses={
        **problem(404),
        **problem(409, "`conflict`: it is confirmed, or still being made."),
    },
)
async def cancel(
    reservation_id: ReservationIdPath, reservations: ReservationsDep
) -> ReservationResponse:
    """Give back everything the reservation holds. Idempotent."""
    with series.reservation("cancel", "cancelled"):
        cancelled = await reservations.cancel(reservation_id)
    return reservation_response(cancelled)
