"""``POST /v1/coupons/claim`` (领券) and ``GET /v1/customers/{customer_id}/coupons``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.api.auth import require
from app.api.deps import ClaimsDep
from app.api.problem_docs import problem, problems
from app.api.records import claim_request, claim_response, wallet_response
from app.api.schemas import ClaimBody, ClaimResponse, Key, WalletResponse
from app.coupons.claim_service import ClaimService

router = APIRouter(
    prefix="/v1",
    tags=["coupons"],
    dependencies=[require("checkout")],
    responses=problems(401, 403, 422, 503),
)


@router.post(
    "/coupons/claim",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimResponse,
    responses={
        200: {"model": ClaimResponse, "description": "the same `claim_id` claimed before"},
        **problem(404, "`not_found`: no promotion has this id."),
        **problem(
            409,
            "`limit_reached`: `max_claims` or `max_claims_per_customer` is reached; "
            "`not_eligible`: the promotion's conditions exclude this customer, or it is "
            "not active or outside its window; `conflict`: the promotion is not a coupon, "
            "or the `claim_id` is another customer's.",
        ),
    },
)
async def claim(body: ClaimBody, claims: ClaimsDep) -> Response:
    """Give the customer one unique code of a coupon promotion: 201 when claimed
    now, 200 with the same code when this `claim_id` was claimed before."""
    return await answer_claim(body, claims)


async def answer_claim(body: ClaimBody, claims: ClaimService) -> Response:
    """The route's work, shared with ``app.api.hot_paths``."""
    claimed, created = await claims.claim(claim_request(body))
    # the JSON is made once, here; ``response_model`` documents it (a returned
    # Response is not validated and encoded again)
    return Response(
        claim_response(claimed).model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get(
    "/customers/{customer_id}/coupons",
    response_model=WalletResponse,
    responses=problem(
        404,
        "`not_found`: the path names no customer (an empty id). A customer without codes "
        "has an empty wallet (200).",
    ),
)
async def wallet(
    customer_id: Annotated[Key, Path(alias="customer_id")], claims: ClaimsDep
) -> WalletResponse:
    """The customer's codes (claimed or given), each with its status."""
    return wallet_response(customer_id, await claims.wallet(customer_id))
