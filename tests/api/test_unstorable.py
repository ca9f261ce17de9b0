"""What PostgreSQL cannot store (NUL; lone surrogates, which JSON can carry as
``"\\ud800"``) is a 422 naming the field, on both back ends, in every string of
every request body, every path parameter and every query parameter.

The places come from ``/openapi.json``: every free string a body schema has (enums
and numbers written as text aside) must be filled by one of ``SAMPLES``, so a new
field, benefit type or body makes this test fail until a sample covers it; every
parameter of every operation is tried.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import ADMIN, Start

NUL = "\x00"
SURROGATE = "\ud800"  # cannot be in a URL (percent-decoding replaces it), only in JSON

_PROMOTION: dict[str, Any] = {
    "id": "p-1",
    "name": "Double 11",
    "starts_at": "2026-11-11T00:00:00+08:00",
    "ends_at": "2026-11-12T00:00:00+08:00",
    "hours": [{"from": "10:00", "to": "12:00"}],
    "timezone": "Asia/Shanghai",
    "exclusion_group": "d11",
    "scope": {
        key: ["x"]
        for key in (
            "skus",
            "categories",
            "brands",
            "merchants",
            "tags",
            "exclude_skus",
            "exclude_categories",
        )
    },
    "conditions": {"customer_tiers": ["gold"], "segments": ["vip"], "channels": ["app"]},
    "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 5000}]},
}
_BENEFITS_WITH_TEXT: list[dict[str, Any]] = [
    {"type": "member_price", "tiers": {"gold": {"percent": 5}}, "prices": {"gold": {"A": 100}}},
    {"type": "flash_sale", "items": [{"sku": "A", "price": 100, "stock": 5}]},
    {"type": "bundle", "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}], "price": 100},
    {"type": "gift", "tiers": [{"min_amount": 100, "gifts": [{"sku": "G", "qty": 1}]}]},
]
_QUOTE: dict[str, Any] = {
    "currency": "CNY",
    "customer": {"id": "u-1", "tier": "gold", "segments": ["vip"]},
    "channel": "app",
    "at": "2026-11-11T10:00:00+08:00",
    "lines": [
        {
            "line_id": "1",
            "sku": "A",
            "qty": 1,
            "unit_price": 20000,
            "category": "shoes",
            "brand": "acme",
            "merchant": "m-1",
            "tags": ["new"],
        }
    ],
    "coupon_codes": ["SAVE10"],
    "auto_coupons": True,  # reads the customer's wallet: customer.id reaches the database
}

# valid bodies per request schema, filling every free string between them
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "PromotionBody": [_PROMOTION, *({**_PROMOTION, "benefit": b} for b in _BENEFITS_WITH_TEXT)],
    "QuoteBody": [_QUOTE],
    "ReservationBody": [{**_QUOTE, "order_id": "o-1"}],
    "CodesBody": [{"code": "SAVE10"}, {"count": 1, "prefix": "D11-"}],
    "ClaimBody": [
        {
            "customer_id": "u-1",
            "promotion_id": "p-1",
            "claim_id": "claim-1",
            "customer": _QUOTE["customer"],
        }
    ],
}
SAMPLES["ImportBody"] = [{"promotions": SAMPLES["PromotionBody"], "mode": "create"}]
SAMPLES["PreviewBody"] = [{"promotions": SAMPLES["PromotionBody"], "carts": [_QUOTE]}]

_SCHEMA: Any = object()  # walk the schema alone, not an instance of it
_JSON_TYPES = {str: "string", list: "array", dict: "object", bool: "boolean", int: "integer"}

Loc = tuple[Any, ...]


def _component(ref: str) -> str:
    return ref.rsplit("/", 1)[1].removesuffix("-Input")


def places(
    spec: dict[str, Any],
    schema: dict[str, Any],
    value: Any = _SCHEMA,
    loc: Loc = (),
    path: Loc = (),
) -> Iterator[tuple[Loc, Loc, bool]]:
    """The free strings of ``schema`` (or of ``value``, an instance of it): each place
    as its loc in the instance, its path in the schema (``[]`` an item, ``{}`` a key,
    ``{*}`` a value, ``<Name>`` a variant of a tagged union) and whether it is a key."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        if any(o.get("type") in ("number", "integer") for o in options):
            return  # a number that may be written as text (percent)
        tagged = schema.get("discriminator")
        for option in options:
            chosen = value is _SCHEMA or not tagged
            if not chosen and tagged["mapping"][value[tagged["propertyName"]]] != option["$ref"]:
                continue
            tag = (f"<{_component(option['$ref'])}>",) if tagged else ()
            yield from places(spec, option, value, loc, path + tag)
        return
    kind = schema.get("type")
    if value is not _SCHEMA and _JSON_TYPES.get(type(value)) != kind:
        return
    if kind == "string" and "enum" not in schema and "const" not in schema:
        yield loc, path, False
    elif kind == "array":
        for i, item in enumerate([_SCHEMA] if value is _SCHEMA else value):
            yield from places(spec, schema["items"], item, (*loc, i), (*path, "[]"))
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            if value is _SCHEMA or name in value:
                inner = _SCHEMA if value is _SCHEMA else value[name]
                yield from places(spec, sub, inner, (*loc, name), (*path, name))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in [_SCHEMA] if value is _SCHEMA else list(value):
                yield (*loc, key), (*path, "{}"), True
                inner = _SCHEMA if value is _SCHEMA else value[key]
                yield from places(spec, extra, inner, (*loc, key), (*path, "{*}"))


def _spoil(text: str, char: str) -> str:
    return text[:1] + char + text[1:]


def spoiled(body: Any, loc: Loc, is_key: bool, char: str) -> tuple[Any, Loc]:
    """A deep copy of ``body`` with ``char`` put into the string (or key) at ``loc``,
    and the loc pydantic reports for it."""
    body = json.loads(json.dumps(body))
    *parents, last = loc
    holder = body
    for part in parents:
        holder = holder[part]
    if is_key:
        holder[_spoil(last, char)] = holder.pop(last)
        return body, (*parents, "[key]")  # the key itself is shown as pydantic can
    holder[last] = _spoil(holder[last], char)
    return body, loc


def _contains(loc: list[Any], parts: Loc) -> bool:
    """``parts`` appear in ``loc`` in order (a tagged union adds its tag in between)."""
    rest = iter(loc)
    return all(any(part == seen for seen in rest) for part in parts)


def _body_name(operation: dict[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else _component(schema["$ref"])


def cases(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str], Any, Loc]]:
    """``(method, url, query, body, expected loc)``: each string spoiled once."""
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = _body_name(operation)
            parameters = operation.get("parameters", [])
            path_names = [p["name"] for p in parameters if p["in"] == "path"]
            valid = dict.fromkeys(path_names, "p-1")
            body = SAMPLES[name][0] if name else None
            for parameter in parameters:
                where = parameter["in"]
                if where == "header":
                    continue  # headers (Accept-Language, If-Match) are never stored
                spoilt = {**valid, parameter["name"]: "a%00b"}  # a NUL, percent-encoded
                url = template.format(**(spoilt if where == "path" else valid))
                query = {parameter["name"]: f"a{NUL}b"} if where == "query" else {}
                yield method, url, query, body, (where, parameter["name"])
            if name is None:
                continue
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            for sample in SAMPLES[name]:
                for loc, _, is_key in places(spec, schema, sample):
                    for char in (NUL, SURROGATE):
                        bad, expected = spoiled(sample, loc, is_key, char)
                        yield method, template.format(**valid), {}, bad, ("body", *expected)


async def _spec(client: httpx.AsyncClient) -> dict[str, Any]:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    return spec


async def test_the_samples_fill_every_string_of_every_body(start: Start) -> None:
    spec = await _spec((await start()).client)
    for operations in spec["paths"].values():
        for operation in operations.values():
            name = _body_name(operation)
            if name is None:
                continue
            assert name in SAMPLES, f"add sample bodies for {name} to SAMPLES"
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            every = {path for _, path, _ in places(spec, schema)}
            filled = {p for sample in SAMPLES[name] for _, p, _ in places(spec, schema, sample)}
            assert every - filled == set(), f"no sample of {name} fills these strings"


async def test_unstorable_characters_are_a_422_naming_the_field(start: Start) -> None:
    client = (await start()).client
    spec = await _spec(client)
    failures: list[str] = []
    count = 0
    for method, url, query, body, expected in cases(spec):
        count += 1
        response = await client.request(
            method,
            url,
            params=query,
            content=None if body is None else json.dumps(body),  # ASCII: escapes survive
            headers={**ADMIN, "content-type": "application/json"},
        )
        problem = response.json() if response.status_code == 422 else {}
        if not (
            response.headers["content-type"].startswith("application/problem+json")
            and problem.get("code") == "validation_error"
            and any(_contains(e["loc"], expected) for e in problem["errors"])
        ):
            failures.append(f"{method.upper()} {url} {expected}: {response.status_code}")
    assert count > 150
    assert failures == []
