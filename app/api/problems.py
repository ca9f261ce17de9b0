"""The one place where errors become HTTP: ``application/problem+json`` (RFC 9457).

Every 4xx/5xx body is ``{"type", "title", "status", "detail", "code"}``, plus
``errors: [{"loc", "msg"}]`` on 422. The domain tree lives in ``app.errors``
(re-exported here) so that storage and services can raise without importing
the web framework. A 503 always carries ``Retry-After``; a 500 never carries a
stack trace (it is logged instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.api.schemas import QuoteResponse
from app.api.wording import ENGLISH, Wording, language_of, problem_title, problems_detail
from app.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Overloaded,
    PricingError,
    Problem,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from app.rules.model import Quote

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PricingError",
    "Problem",
    "Unauthorized",
    "Unavailable",
    "install_error_handlers",
    "problem_of",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES: Mapping[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition_failed", "Precondition failed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Invalid input"),
    429: ("overloaded", "Too many requests"),
    503: ("unavailable", "Service unavailable"),
}


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Sequence[Problem] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    words: Wording = ENGLISH,
) -> JSONResponse:
    """The problem+json response; ``words`` (from ``Accept-Language``) translates the
    ``title`` by the ``code``."""
    body: dict[str, Any] = {
        "type": f"urn:pricing:problem:{code}",
        "title": problem_title(words, code, title),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = [{"loc": list(p.loc), "msg": p.msg} for p in errors]
    if extra:
        body.update(extra)
    all_headers = dict(headers or {})
    if words is not ENGLISH:
        all_headers.setdefault("Content-Language", words.language)
    if status == 503:
        all_headers.setdefault("Retry-After", "1")
    return ProblemResponse(body, status_code=status, headers=all_headers, media_type=PROBLEM_JSON)


class ProblemResponse(JSONResponse):
    """Rendered by pydantic-core: the same compact UTF-8 JSON as Starlette's
    ``json.dumps``, at a fraction of its cost for a body that embeds a quote."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


def _words(request: Request) -> Wording:
    return language_of(request.headers.get("accept-language"))


async def _pricing_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PricingError)
    words = _words(request)
    headers: dict[str, str] = {}
    errors: Sequence[Problem] | None = None
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Unavailable | RateLimited | Overloaded):
        headers["Retry-After"] = str(max(1, exc.retry_after))
    if isinstance(exc, InvalidInput):
        errors = exc.problems
    if exc.status >= 500 and not isinstance(exc, Unavailable | Overloaded):
        log.error("request failed: %s", exc.detail, exc_info=exc)
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=errors,
        headers=headers,
        extra={name: _member(value, words) for name, value in exc.extra.items()},
        words=words,
    )


def _member(value: Any, words: Wording) -> Any:
    """A domain record in an error's ``extra`` as the API shows it (the fresh quote
    of a 409 from a reservation, in the request's language)."""
    if isinstance(value, Quote):  # the quote response's own content (json_of's)
        return QuoteResponse.content(value, words)
    return value


def _validation_message(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and "error" in ctx:
        return f"{msg}: {ctx['error']}"
    return msg


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        Problem(loc=tuple(error.get("loc", ())), msg=_validation_message(error))
        for error in exc.errors()
    ]
    words = _words(request)
    return problem_response(
        status=422,
        code="validation_error",
        title="Invalid input",
        detail=problems_detail(words, len(problems)),
        errors=problems,
        words=words,
    )


_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _allowed(request: Request) -> str | None:
    """Every method the API documents for the request's path (Starlette's 405 names
    only the methods of the first route that matched the path: one per method)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(request.scope["path"]):
            methods |= {m.upper() for m in operations if m in _METHODS}
    if not methods:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers or {})
    allowed = _allowed(request) if exc.status_code == 405 else None
    if allowed is not None:
        headers["Allow"] = allowed
    return problem_response(
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=headers,
        errors=[] if exc.status_code == 422 else None,
        words=_words(request),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        status=500,
        code="internal_error",
        title="Internal error",
        detail="the server failed to answer this request",
    )


async def problem_of(request: Request, exc: Exception) -> JSONResponse:
    """What the app's handlers answer for ``exc`` raised by a route's work
    (``app.api.hot_paths`` answers outside FastAPI's exception handling)."""
    if isinstance(exc, PricingError):
        return await _pricing_error(request, exc)
    return await _unexpected(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PricingError, _pricing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
