"""The problem+json bodies as ``/openapi.json`` shows them, and ``problems()`` for routers.

``app.api.problems`` makes these bodies; the models here only describe them, so that
a client generator sees the errors each route really sends. Routers declare theirs
with ``responses=problems(401, 403, ...)``; ``app.api.openapi`` files them under
``application/problem+json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.api.schemas import QuoteResponse


class FieldProblem(BaseModel):
    """One problem with the input."""

    loc: list[str | int] = Field(
        description="Where: `body`, `path` or `query`, then field names and list positions.",
        examples=[["body", "lines", 0, "qty"]],
    )
    msg: str = Field(
        description="What is wrong, in English.",
        examples=["Input should be greater than or equal to 1"],
    )


class ProblemOut(BaseModel):
    """An error, as RFC 9457 problem details: the body of every 4xx and 5xx."""

    type: str = Field(
        description="`urn:pricing:problem:` followed by `code`.",
        examples=["urn:pricing:problem:not_found"],
    )
    title: str = Field(description="A short summary of the kind of error.", examples=["Not found"])
    status: int = Field(description="The HTTP status code.", examples=[404])
    detail: str = Field(
        description="What happened in this case, in English.",
        examples=["no promotion 'd11-300-50'"],
    )
    code: str = Field(
        description="A stable snake_case code for programs to branch on (API.md, Errors).",
        examples=["not_found"],
    )


class ValidationProblemOut(ProblemOut):
    """An invalid request (422 `validation_error`): every problem at once."""

    errors: list[FieldProblem] = Field(description="Each problem with the input.")


class ReservationProblemOut(ProblemOut):
    """A reservation refused (409): nothing was taken."""

    quote: QuoteResponse | None = Field(
        default=None,
        description="With `price_changed`, `sold_out` and `limit_reached`: the cart priced "
        "now, to show the customer before trying again.",
    )


class ReadinessProblemOut(ProblemOut):
    """Not ready (503 `unavailable`)."""

    checks: dict[str, dict[str, str]] = Field(
        description="Per dependency (`database`, `redis`): its `state` (`up` or `down`) and "
        "its circuit `breaker` state (`closed`, `open` or `half_open`).",
        examples=[{"database": {"state": "up", "breaker": "closed"}}],
    )


_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: how to authenticate.",
            "schema": {"type": "string", "examples": ["Bearer"]},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until the window of failed attempts ends.",
            "schema": {"type": "integer", "examples": [60]},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "examples": [1]},
        }
    },
}

_STANDARD: dict[int, tuple[str, type[ProblemOut]]] = {
    401: ("`unauthorized`: no API key, or an unknown one.", ProblemOut),
    403: ("`forbidden`: the key's role may not call this.", ProblemOut),
    404: ("`not_found`: nothing has this id.", ProblemOut),
    409: ("`conflict`.", ProblemOut),
    412: (
        "`precondition_failed`: `If-Match` names a version of the promotion that is not the "
        "current one (another write came first); nothing was changed. GET it again, then retry.",
        ProblemOut,
    ),
    422: (
        "`validation_error`: the request is invalid; `errors` lists every problem.",
        ValidationProblemOut,
    ),
    429: (
        "`rate_limited`: too many failed coupon codes (unknown, or another customer's) from "
        "this customer or API key; `Retry-After` says when to try again.",
        ProblemOut,
    ),
    503: (
        "`unavailable`: the database or Redis did not answer in time; nothing was changed. "
        "`Retry-After` says when to try again.",
        ProblemOut,
    ),
}


def problem(
    status: int, description: str | None = None, model: type[ProblemOut] | None = None
) -> dict[int | str, dict[str, Any]]:
    """One documented error response (``description`` and ``model`` default to the
    standard ones of ``status``)."""
    standard, standard_model = _STANDARD[status]
    response: dict[str, Any] = {
        "model": model or standard_model,
        "description": description or standard,
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return {status: response}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The standard error responses of ``statuses``."""
    return {code: response for s in statuses for code, response in problem(s).items()}
