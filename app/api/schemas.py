"""The HTTP bodies (API.md), their validation, and their conversion to the engine's records.

Validation lists every problem at once: field checks are pydantic's, and the
checks that look at several fields (tiers ascending, ``ends_at`` after
``starts_at``, one tier kind, ...) run on the raw input beside them
(``Checked``), so a body with five mistakes gets five errors in one 422.

Conversions: a ``PromotionBody`` becomes the stored
``app.promotions.document.PromotionDocument`` and back through their shared
JSON shape (``app.api.records``); ``QuoteBody.to_request`` →
``app.rules.model.QuoteRequest``; ``QuoteResponse.from_quote`` maps the
engine's ``Quote`` back out, with wording from ``app.api.wording``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SkipValidation,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, to_json

from app.api import wording
from app.api.currencies import currency_problem
from app.rules import model
from app.rules.benefits import registered

MONEY_LIMIT = 10**12  # amounts are < 10^12 minor units
MAX_LINES = 500
MAX_QTY = 100_000
MAX_CODES_PER_QUOTE = 20
MAX_CODES_PER_BATCH = 10_000
MAX_IMPORT = 10_000  # promotions per import request

# -------------------------------------------------------------------- field types


def _rfc3339_string(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "datetime_type", "Input should be an RFC 3339 date-time string with an offset"
        )
    return value


def _percent_json(value: Decimal) -> int | float:
    # percent is not money: at most two decimals, so a float round-trips exactly on the wire
    return int(value) if value == value.to_integral_value() else float(value)


def _money_type(value: Any) -> Any:
    """Amounts are JSON integers in minor units: say so in plain words, with the amount
    in fen when a decimal was given (``199.5`` → 19950)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    hint = ""
    if isinstance(value, str):
        try:
            number: Decimal | None = Decimal(value.strip())
        except ArithmeticError:
            number = None
        if number is not None and number.is_finite() and number == number.to_integral_value():
            hint = f"; send the number {int(number)}, not a string"
    elif isinstance(value, float) and math.isfinite(value):
        fen = Decimal(str(value)) * 100
        if fen == fen.to_integral_value():
            hint = f"; if {value} is in yuan, send {int(fen)}"
    raise PydanticCustomError(
        "money_type",
        "amounts are integers in fen (minor units), e.g. 19900 for ¥199.00{hint}",
        {"hint": hint},
    )


Money = Annotated[StrictInt, BeforeValidator(_money_type), Field(ge=0, lt=MONEY_LIMIT)]
Count = Annotated[StrictInt, Field(ge=0, lt=MONEY_LIMIT)]
PositiveInt = Annotated[StrictInt, Field(ge=1, lt=MONEY_LIMIT)]
Percent = Annotated[
    Decimal,
    Field(gt=0, le=100, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(_percent_json, return_type=int | float),
]
Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]

# What PostgreSQL cannot keep in text or jsonb: NUL, and (in any UTF-8 store) lone
# surrogates, which a JSON body can carry as "\ud800". Every string a request brings
# in, body, path or query, ends with ``Storable`` (after its other constraints, so
# their messages stay as they are), so both back ends refuse the same input with a 422
# naming the field instead of one storing it and the other failing with a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise PydanticCustomError(
            "string_unstorable",
            "must not contain NUL (\\u0000) or a lone surrogate: it cannot be stored",
        )
    return value


Storable = AfterValidator(_storable)


def unstorable_places(value: Any, loc: tuple[str | int, ...] = ()) -> Found:
    """Every string (or object key) in raw JSON that cannot be stored, for input that
    is checked only later (a merge patch is checked once merged): ``Storable``'s
    problem, at each place (a key's place ends in ``[key]``)."""
    found: Found = []
    message = "must not contain NUL (\\u0000) or a lone surrogate: it cannot be stored"
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            found.append((loc, message))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unstorable_places(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                found.append(((*loc, "[key]"), message))
            else:
                found += unstorable_places(item, (*loc, key))
    return found


Key = Annotated[str, StringConstraints(min_length=1, max_length=128), Storable]
Keys = Annotated[list[Key], Field(max_length=10_000)]
PromotionId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"), Storable
]
HHMM = r"^(?:[01]\d|2[0-3]):[0-5]\d$"
# path parameters naming something to look up: an id that cannot exist is a 404
LookupId = Annotated[str, StringConstraints(max_length=128), Storable]
ReservationId = Annotated[str, StringConstraints(max_length=64), Storable]
CodeText = Annotated[str, StringConstraints(max_length=64), Storable]
Cursor = Annotated[str, StringConstraints(max_length=200), Storable]

# ----------------------------------------------------------- every problem at once


Found = list[tuple[tuple[str | int, ...], str]]


class Checked(BaseModel):
    """A model whose cross-field checks run even when some fields are invalid.

    Subclasses override ``problems(raw)``: the checks over the raw input dict,
    each a ``(loc, msg)``. Their problems are reported together with pydantic's.
    A field the model does not know (with ``extra="forbid"``) is reported in
    plain words with the closest known name: "did you mean `categories`?".
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:  # noqa: ARG003
        return []

    @classmethod
    def unknown_fields(cls, raw: Mapping[str, Any]) -> Found:
        """Each key of ``raw`` the model does not know, with the closest known name."""
        if cls.model_config.get("extra") != "forbid":
            return []
        known = [f.alias or name for name, f in cls.model_fields.items()]
        found: Found = []
        for key in raw:
            if key in known or not isinstance(key, str):
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            found.append(
                (
                    (key,),
                    f"unknown field `{key}`: did you mean `{close[0]}`?"
                    if close
                    else f"unknown field `{key}` (known: {', '.join(known)})",
                )
            )
        return found

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        found = cls.problems(data)
        if not found:
            # the common case, a valid body: an unknown field fails the handler
            # (extra="forbid"), so the plainer words for it are needed only then
            try:
                return handler(data)
            except ValidationError:
                pass
        found = [*found, *cls.unknown_fields(data)]
        if not found:
            return handler(data)
        ours = {loc for loc, _ in found}
        details: list[InitErrorDetails] = []
        try:
            handler(data)
        except ValidationError as exc:
            details.extend(
                InitErrorDetails(
                    type=PydanticCustomError(str(e["type"]), str(e["msg"])),
                    loc=tuple(e["loc"]),
                    input=e.get("input"),
                )
                for e in exc.errors()
                if not _said_better(e["type"], tuple(e["loc"]), ours)
            )
        details.extend(
            InitErrorDetails(type=PydanticCustomError("invalid", msg), loc=loc, input=data)
            for loc, msg in found
        )
        raise ValidationError.from_exception_data(cls.__name__, details)


def _said_better(kind: str, loc: tuple[str | int, ...], ours: set[tuple[str | int, ...]]) -> bool:
    """A pydantic error that one of ours says in plainer words: an unknown field, an
    unknown benefit type (pydantic's ``union_tag_invalid`` sits on the union)."""
    if kind == "extra_forbidden":
        return loc in ours
    return kind == "union_tag_invalid" and (*loc, "type") in ours


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _tier_problems(tiers: Any, rewards: Sequence[str]) -> Found:
    """Each tier has one minimum (one reward); one kind of minimum; strictly ascending."""
    if not isinstance(tiers, list):
        return []
    found: Found = []
    kinds: set[str] = set()
    for i, tier in enumerate(tiers):
        if not isinstance(tier, Mapping):
            continue
        minimums = [k for k in ("min_amount", "min_qty") if tier.get(k) is not None]
        if len(minimums) != 1:
            found.append((("tiers", i), "give exactly one of min_amount or min_qty"))
        else:
            kinds.add(minimums[0])
        if rewards and len([k for k in rewards if tier.get(k) is not None]) != 1:
            found.append((("tiers", i), f"give exactly one of {' or '.join(rewards)}"))
    if len(kinds) > 1:
        found.append((("tiers",), "tiers must all use min_amount or all use min_qty"))
    for kind in ("min_amount", "min_qty"):  # each kind ascending, also when they are mixed
        previous: int | None = None
        for i, tier in enumerate(tiers):
            value = _int(tier.get(kind)) if isinstance(tier, Mapping) else None
            if value is None:
                continue
            if previous is not None and value <= previous:
                found.append(
                    (
                        ("tiers", i, kind),
                        f"tiers must be strictly ascending: {value} is not above {previous}",
                    )
                )
            previous = value
    return found


def _duplicate_skus(items: Any) -> Found:
    if not isinstance(items, list):
        return []
    seen: set[str] = set()
    found: Found = []
    for i, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, Mapping) else None
        if isinstance(sku, str):
            if sku in seen:
                found.append((("items", i, "sku"), f"sku {sku!r} is listed twice"))
            seen.add(sku)
    return found


# -------------------------------------------------------------------- promotions


class ScopeBody(Checked):
    skus: Keys = []
    categories: Keys = []
    brands: Keys = []
    merchants: Keys = []
    tags: Keys = []
    exclude_skus: Keys = []
    exclude_categories: Keys = []


class ConditionsBody(Checked):
    customer_tiers: Keys = []
    segments: Keys = []
    new_customer: StrictBool | None = None
    first_order: StrictBool | None = None
    phone_verified: StrictBool | None = None
    channels: Keys = []
    min_qty: PositiveInt | None = None
    min_amount: Money | None = None


class LimitsBody(Checked):
    max_uses: Count | None = None
    max_uses_per_customer: Count | None = None
    budget: Money | None = None
    max_claims: Count | None = None
    max_claims_per_customer: Count | None = None


class HoursBody(Checked):
    from_: Annotated[str, StringConstraints(pattern=HHMM), Storable] = Field(alias="from")
    to: Annotated[
        str, StringConstraints(pattern=r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$"), Storable
    ]

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        start, end = raw.get("from"), raw.get("to")
        if isinstance(start, str) and start == end:
            return [((), "from and to must differ (from > to wraps past midnight)")]
        return []


# benefits -------------------------------------------------------------------


class ItemPercentOffBody(Checked):
    type: Literal["item_percent_off"]
    percent: Percent


class ItemAmountOffBody(Checked):
    type: Literal["item_amount_off"]
    amount: Money


class ItemFixedPriceBody(Checked):
    type: Literal["item_fixed_price"]
    price: Money


class MemberTierBody(Checked):
    percent: Percent


class MemberPriceBody(Checked):
    type: Literal["member_price"]
    tiers: dict[Key, MemberTierBody] = {}
    prices: dict[Key, dict[Key, Money]] = {}

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        if not raw.get("tiers") and not raw.get("prices"):
            return [((), "a member price needs tiers or prices")]
        return []


class FlashItemBody(Checked):
    sku: Key
    price: Money
    stock: Count
    per_customer_limit: PositiveInt | None = None


class FlashSaleBody(Checked):
    type: Literal["flash_sale"]
    items: Annotated[list[FlashItemBody], Field(min_length=1, max_length=1000)]

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        return _duplicate_skus(raw.get("items"))


class TierBody(Checked):
    min_amount: Money | None = None
    min_qty: PositiveInt | None = None
    amount_off: Money | None = None
    percent: Percent | None = None


class ThresholdBody(Checked):
    type: Literal["threshold"]
    tiers: Annotated[list[TierBody], Field(min_length=1, max_length=100)]
    repeat: StrictBool = False
    max_discount: Money | None = None

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        return _tier_problems(raw.get("tiers"), ("amount_off", "percent"))


class AmountOffBody(Checked):
    type: Literal["amount_off"]
    amount: Money


class PercentOffBody(Checked):
    type: Literal["percent_off"]
    percent: Percent
    max_discount: Money | None = None


class NthItemBody(Checked):
    type: Literal["nth_item"]
    every: Annotated[StrictInt, Field(ge=1, le=1000)]
    percent: Percent


class SkuQtyBody(Checked):
    sku: Key
    qty: Annotated[StrictInt, Field(ge=1, le=MAX_QTY)]


class BundleBody(Checked):
    type: Literal["bundle"]
    items: Annotated[list[SkuQtyBody], Field(min_length=1, max_length=100)]
    price: Money
    max_applications: PositiveInt | None = None

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        return _duplicate_skus(raw.get("items"))


class GiftTierBody(Checked):
    min_amount: Money | None = None
    min_qty: PositiveInt | None = None
    gifts: Annotated[list[SkuQtyBody], Field(min_length=1, max_length=100)]


class GiftBody(Checked):
    type: Literal["gift"]
    tiers: Annotated[list[GiftTierBody], Field(min_length=1, max_length=100)]

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        return _tier_problems(raw.get("tiers"), ())


class FreeShippingBody(Checked):
    type: Literal["free_shipping"]


class ShippingAmountOffBody(Checked):
    type: Literal["shipping_amount_off"]
    amount: Money


BenefitBody = Annotated[
    ItemPercentOffBody
    | ItemAmountOffBody
    | ItemFixedPriceBody
    | MemberPriceBody
    | FlashSaleBody
    | ThresholdBody
    | AmountOffBody
    | PercentOffBody
    | NthItemBody
    | BundleBody
    | GiftBody
    | FreeShippingBody
    | ShippingAmountOffBody,
    Field(discriminator="type"),
]

PromotionStatus = Literal["draft", "active", "paused", "ended", "archived"]


class PromotionBody(Checked):
    """A promotion as the admin API takes it and gives it back (API.md)."""

    id: PromotionId | None = None
    name: Annotated[str, StringConstraints(max_length=200), Storable] | None = None
    status: PromotionStatus = "active"
    starts_at: Time | None = None
    ends_at: Time | None = None
    hours: Annotated[list[HoursBody], Field(max_length=24)] | None = None
    weekdays: (
        Annotated[list[Annotated[StrictInt, Field(ge=1, le=7)]], Field(max_length=7)] | None
    ) = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64), Storable] | None = None
    trigger: Literal["auto", "coupon"] = "auto"
    exclusive: StrictBool = False
    exclusion_group: Key | None = None
    priority: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] = 0
    scope: ScopeBody = ScopeBody()
    conditions: ConditionsBody = ConditionsBody()
    limits: LimitsBody = LimitsBody()
    benefit: BenefitBody
    # a benefit that can take more than MAX_DISCOUNT_PERCENT off is refused without it
    confirm_deep_discount: StrictBool = False
    # what a GET shows beside the body: accepted and ignored on input, so a body read
    # can be sent back as it is (the server keeps them; use If-Match for the version)
    version: Any = None
    created_at: Any = None
    updated_at: Any = None
    updated_by: Any = None
    effective: Any = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise PydanticCustomError(
                    "timezone", "unknown time zone {tz}", {"tz": value}
                ) from exc
        return value

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        found: Found = []
        starts, ends = _aware(raw.get("starts_at")), _aware(raw.get("ends_at"))
        if starts is not None and ends is not None and ends <= starts:
            found.append((("ends_at",), "ends_at must be after starts_at"))
        benefit = raw.get("benefit")
        kind = benefit.get("type") if isinstance(benefit, Mapping) else None
        types = registered()
        if isinstance(kind, str) and kind not in types:
            close = difflib.get_close_matches(kind, types, n=1, cutoff=0.6)
            found.append(
                (
                    ("benefit", "type"),
                    f"unknown benefit type `{kind}`: did you mean `{close[0]}`?"
                    if close
                    else f"unknown benefit type `{kind}` (known: {', '.join(types)})",
                )
            )
        return found


READ_ONLY = frozenset({"version", "created_at", "updated_at", "updated_by", "effective"})

Effective = Literal["scheduled", "running", "ended", "paused"]


class PromotionOut(PromotionBody):
    """A stored promotion: its body, its version (``ETag``), who wrote it when, and
    what it is doing now (``effective``, by its status and window at the time of
    the request: ``scheduled``, ``running``, ``ended``, ``paused``; ``draft`` and
    ``archived`` as their status)."""

    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    effective: Effective | Literal["draft", "archived"]


class PromotionList(BaseModel):
    items: list[PromotionOut]
    next_cursor: str | None


def _benefit_type(value: str) -> str:
    if value not in registered():
        raise PydanticCustomError(
            "benefit_type",
            "unknown benefit type; one of: {types}",
            {"types": ", ".join(registered())},
        )
    return value


class PromotionQuery(BaseModel):
    """``GET /v1/admin/promotions``: a page of promotions by id, filtered; an unknown
    parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, StringConstraints(max_length=400), Storable] | None = None
    status: PromotionStatus | None = None
    effective: Effective | None = None
    type: Annotated[str, AfterValidator(_benefit_type)] | None = None
    trigger: Literal["auto", "coupon"] | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable] | None = None


class HistoryEntryOut(BaseModel):
    version: int
    at: datetime
    by: str
    action: Literal["created", "replaced", "patched", "deleted", "imported"]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class HistoryResponse(BaseModel):
    promotion_id: str
    items: list[HistoryEntryOut]


ImportedPromotions = Annotated[list[PromotionBody], Field(min_length=1, max_length=MAX_IMPORT)]
_IMPORTED = TypeAdapter(ImportedPromotions)


class ImportBody(Checked):
    """``POST /v1/admin/promotions/import``: many promotions, stored all or none.

    ``promotions`` is documented as promotion bodies but not checked while the
    request is read (10,000 bodies take a second, which would stall the event
    loop): ``checked_promotions()`` checks them, in a thread."""

    promotions: SkipValidation[ImportedPromotions]
    mode: Literal["create", "upsert"] = "create"

    def checked_promotions(self) -> list[PromotionBody]:
        """The bodies checked; ``ValidationError`` with every problem, each ``loc``
        starting with the body's index."""
        return _IMPORTED.validate_python(self.promotions)


class ImportResponse(BaseModel):
    created: int
    updated: int
    rules_version: str


class CodesBody(Checked):
    """``{"code": "SAVE10"}`` (a shared code) or ``{"count": N, "prefix": "D11-"}``."""

    code: (
        Annotated[
            str, StringConstraints(pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9_-]{0,63}\s*$"), Storable
        ]
        | None
    ) = None
    count: Annotated[StrictInt, Field(ge=1, le=MAX_CODES_PER_BATCH)] | None = None
    prefix: Annotated[
        str, StringConstraints(pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9_-]{0,31})?$"), Storable
    ] = ""

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        if (raw.get("code") is None) == (raw.get("count") is None):
            return [((), "give either code (a shared code) or count (unique codes)")]
        if raw.get("code") is not None and raw.get("prefix"):
            return [(("prefix",), "prefix goes with count, not with code")]
        return []


class CodesResponse(BaseModel):
    promotion_id: str
    kind: Literal["shared", "unique"]
    codes: list[str]


class StatsResponse(BaseModel):
    """Counts for one promotion: reservations that applied it (made, confirmed,
    cancelled, expired), what confirmed orders got from it (``discount_given``)
    and paid in all (``gmv``), the budget held by reserved and confirmed ones,
    and its codes (see docs/reservations.md). ``budget_left``: the budget less what
    reserved and confirmed ones hold (null when the promotion has no budget);
    ``redemptions``: every code of the promotion, shared or unique, in a confirmed
    order."""

    reservations: int = 0
    confirmed: int = 0
    cancelled: int = 0
    expired: int = 0
    discount_given: int = 0
    gmv: int = 0
    claims: int = 0
    redemptions: int = 0
    budget_spent: int = 0
    codes: int = 0
    budget_left: int | None = None


CodeStatus = Literal["available", "reserved", "used", "revoked"]


class CodeOut(BaseModel):
    """One code of a promotion: ``order_id`` is the order of the reservation that
    holds (``reserved``) or used (``used``) a unique code."""

    code: str
    kind: Literal["shared", "unique"]
    status: CodeStatus
    customer_id: str | None
    order_id: str | None


class CodeList(BaseModel):
    """A page of codes; ``next_cursor`` (null on the last page) asks for the next."""

    items: list[CodeOut]
    next_cursor: str | None


# ------------------------------------------------------------------------- quote


class Lenient(BaseModel):
    """Quote bodies ignore fields they do not know (callers may send more)."""

    model_config = ConfigDict(extra="ignore")


def _iso_currency(value: str) -> str:
    problem = currency_problem(value)
    if problem is not None:
        raise PydanticCustomError("currency", problem)
    return value


class CustomerBody(Lenient):
    id: Key | None = None
    tier: Annotated[str, StringConstraints(max_length=128), Storable] | None = None
    segments: Annotated[list[Key], Field(max_length=100)] = []
    new_customer: StrictBool = False
    first_order: StrictBool = False
    phone_verified: StrictBool = False

    def to_model(self) -> model.Customer:
        return model.Customer(
            id=self.id,
            tier=self.tier,
            segments=frozenset(self.segments),
            new_customer=self.new_customer,
            first_order=self.first_order,
            phone_verified=self.phone_verified,
        )


class LineBody(Lenient):
    line_id: Annotated[str, StringConstraints(min_length=1, max_length=64), Storable] | None = None
    sku: Key
    qty: Annotated[StrictInt, Field(ge=1, le=MAX_QTY)]
    unit_price: Money
    category: Key | None = None
    brand: Key | None = None
    merchant: Key | None = None
    tags: Annotated[list[Key], Field(max_length=100)] = []
    min_unit_price: Money | None = None

    def to_model(self, position: int) -> model.Line:
        return model.Line(
            line_id=self.line_id or str(position),
            sku=self.sku,
            qty=self.qty,
            unit_price=self.unit_price,
            category=self.category,
            brand=self.brand,
            merchant=self.merchant,
            tags=frozenset(self.tags),
            min_unit_price=self.min_unit_price,
        )


class QuoteBody(Checked):
    """``POST /v1/quote``: only ``lines`` is required."""

    model_config = ConfigDict(extra="ignore")

    currency: Annotated[
        str,
        StringConstraints(max_length=16),
        Storable,
        AfterValidator(_iso_currency),
        Field(
            description="an ISO 4217 currency code",
            json_schema_extra={"pattern": "^[A-Z]{3}$"},
        ),
    ] = "CNY"
    customer: CustomerBody = CustomerBody()
    channel: Annotated[str, StringConstraints(min_length=1, max_length=64), Storable] | None = None
    at: Time | None = None
    lines: Annotated[list[LineBody], Field(min_length=1, max_length=MAX_LINES)]
    coupon_codes: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64), Storable]],
        Field(max_length=MAX_CODES_PER_QUOTE),
    ] = []
    auto_coupons: StrictBool = False
    shipping_fee: Money = 0

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        lines = raw.get("lines")
        if not isinstance(lines, list):
            return []
        seen: set[str] = set()
        found: Found = []
        for i, line in enumerate(lines):
            given = line.get("line_id") if isinstance(line, Mapping) else None
            line_id = given if isinstance(given, str) and given else str(i + 1)
            if line_id in seen:
                found.append((("lines", i, "line_id"), f"line_id {line_id!r} is used twice"))
            seen.add(line_id)
        return found

    def to_request(
        self,
        *,
        at: datetime,
        coupons: Sequence[model.PresentedCoupon] = (),
        wallet: Sequence[model.PresentedCoupon] = (),
        readings: model.Readings | None = None,
    ) -> model.QuoteRequest:
        return model.QuoteRequest(
            lines=tuple(line.to_model(i) for i, line in enumerate(self.lines, start=1)),
            at=self.at or at,
            customer=self.customer.to_model(),
            channel=self.channel,
            currency=self.currency,
            shipping_fee=self.shipping_fee,
            coupons=tuple(coupons),
            wallet=tuple(wallet),
            readings=readings if readings is not None else model.Readings(),
        )


def _absent_if_none(value: object) -> bool:
    return value is None


class AdjustmentOut(BaseModel):
    promotion_id: str
    amount: int
    units: int
    capped: Literal["price_floor"] | None = Field(default=None, exclude_if=_absent_if_none)


def _absent_if_empty(value: Sequence[object]) -> bool:
    return not value


class NoticeOut(BaseModel):
    """A flash sale covers the line but does not price (all of) it."""

    promotion_id: str
    reason: Literal["sold_out", "limit_reached", "stock_unknown"]
    message: str


class LineOut(BaseModel):
    line_id: str
    sku: str
    qty: int
    unit_price: int
    list_total: int
    discount: int
    final_total: int
    adjustments: list[AdjustmentOut]
    notices: list[NoticeOut] = Field(default_factory=list, exclude_if=_absent_if_empty)


class AppliedOut(BaseModel):
    promotion_id: str
    name: str
    stage: str
    benefit_type: str
    amount: int
    coupon_code: str | None
    description: str


class GiftOut(BaseModel):
    sku: str
    qty: int
    promotion_id: str


class CouponOut(BaseModel):
    code: str
    status: Literal["applied", "rejected"]
    reason: str | None
    message: str


class HintOut(BaseModel):
    promotion_id: str
    missing_amount: int | None
    missing_qty: int | None
    reward_amount: int
    message: str


class QuoteResponse(BaseModel):
    currency: str
    subtotal: int
    discount_total: int
    shipping_fee: int
    shipping_discount: int
    total: int
    lines: list[LineOut]
    applied: list[AppliedOut]
    gifts: list[GiftOut]
    coupons: list[CouponOut]
    hints: list[HintOut]
    optimal: bool
    degraded: bool
    warnings: list[str]
    rules_version: str

    WARNINGS: ClassVar[Mapping[str, str]] = {
        "degraded": "stock and usage counters or coupon codes could not be read: flash-sale "
        "prices are not given, or usage limits and budgets were not checked, or the coupon "
        "codes presented were not applied",
        "heuristic": "too many combinations to search exhaustively: this is a good answer, "
        "not proven the best",
    }

    @classmethod
    def from_quote(cls, quote: model.Quote, words: wording.Wording = wording.ENGLISH) -> Self:
        """The response as a model (reservations store it, problems embed it)."""
        return cls.model_validate(cls.content(quote, words))

    @classmethod
    def json_of(cls, quote: model.Quote, words: wording.Wording = wording.ENGLISH) -> bytes:
        """The response's JSON, built once: the same bytes as
        ``from_quote(quote).model_dump_json()``, without building and validating the
        models (``tests/unit/test_schemas.py`` holds them equal)."""
        return to_json(cls.content(quote, words))

    @classmethod
    def content(
        cls, quote: model.Quote, words: wording.Wording = wording.ENGLISH
    ) -> dict[str, Any]:
        """The response as plain JSON values, in the models' field order: the one
        mapping from the engine's ``Quote``. ``words`` writes the texts (``message``,
        ``description``); nothing else depends on the language. ``warnings`` stay
        English: they are for whoever runs the service, not for the shopper."""
        currency = quote.currency

        def money(amount: int) -> str:
            return words.money(amount, currency)

        given = {a.promotion.id: a.amount for a in quote.applied}
        warnings = [
            text
            for key, text in cls.WARNINGS.items()
            if (key == "degraded" and quote.degraded) or (key == "heuristic" and not quote.optimal)
        ]
        return {
            "currency": quote.currency,
            "subtotal": quote.subtotal,
            "discount_total": quote.discount_total,
            "shipping_fee": quote.shipping_fee,
            "shipping_discount": quote.shipping_discount,
            "total": quote.total,
            "lines": [_line_content(r, words, money) for r in quote.lines],
            "applied": [
                {
                    "promotion_id": a.promotion.id,
                    "name": a.promotion.name,
                    "stage": str(a.stage),
                    "benefit_type": a.promotion.benefit.type,
                    "amount": a.amount,
                    "coupon_code": a.coupon_code,
                    "description": words.describe(a.promotion, money, a.amount),
                }
                for a in quote.applied
            ],
            "gifts": [
                {"sku": g.sku, "qty": g.qty, "promotion_id": g.promotion_id} for g in quote.gifts
            ],
            "coupons": [
                {
                    "code": c.code,
                    "status": "applied" if c.applied else "rejected",
                    "reason": None if c.reason is None else str(c.reason),
                    "message": words.coupon_message(c, money),
                }
                for c in quote.coupons
            ],
            "hints": [
                {
                    "promotion_id": h.promotion.id,
                    "missing_amount": h.missing_amount,
                    "missing_qty": h.missing_qty,
                    "reward_amount": h.reward_amount,
                    "message": words.hint_message(h, money, given.get(h.promotion.id, 0)),
                }
                for h in quote.hints
            ],
            "optimal": quote.optimal,
            "degraded": quote.degraded,
            "warnings": warnings,
            "rules_version": quote.rules_version,
        }


def _line_content(
    result: model.LineResult, words: wording.Wording, money: Callable[[int], str]
) -> dict[str, Any]:
    line = result.line
    content = {
        "line_id": line.line_id,
        "sku": line.sku,
        "qty": line.qty,
        "unit_price": line.unit_price,
        "list_total": result.list_total,
        "discount": result.discount,
        "final_total": result.final_total,
        "adjustments": [
            {"promotion_id": adj.promotion_id, "amount": adj.amount, "units": adj.units}
            if not adj.capped
            else {
                "promotion_id": adj.promotion_id,
                "amount": adj.amount,
                "units": adj.units,
                "capped": "price_floor",
            }
            for adj in result.adjustments
        ],
    }
    if result.notices:
        content["notices"] = [
            {
                "promotion_id": n.promotion_id,
                "reason": str(n.reason),
                "message": words.notice_message(n, money),
            }
            for n in result.notices
        ]
    return content


# ------------------------------------------------------------------ reservations


MAX_PREVIEW_PROMOTIONS = 1_000
MAX_PREVIEW_CARTS = 100


class PreviewBody(Checked):
    """``POST /v1/admin/preview``: draft promotions and the carts to price with them."""

    promotions: Annotated[list[PromotionBody], Field(max_length=MAX_PREVIEW_PROMOTIONS)]
    carts: Annotated[list[QuoteBody], Field(min_length=1, max_length=MAX_PREVIEW_CARTS)]


class PreviewWarningOut(BaseModel):
    """``deep_discount``: a draft's benefit can take more than ``MAX_DISCOUNT_PERCENT``
    off (``loc`` in its body; ``cart`` null), or a draft took more than that off a
    line of a cart (``cart``: its index, ``line_id``)."""

    code: str
    promotion_id: str
    message: str
    loc: list[str | int]
    cart: int | None
    line_id: str | None


class PreviewResponse(BaseModel):
    """The carts priced as if the drafts were live (one quote per cart, in order)."""

    quotes: list[QuoteResponse]
    warnings: list[PreviewWarningOut]


class ReservationBody(QuoteBody):
    """``POST /v1/reservations``: a quote body, the caller's ``order_id`` (the
    idempotency key), an optional ``expected_total``; ``customer.id`` is required."""

    order_id: Key
    expected_total: Annotated[StrictInt, Field(ge=0)] | None = None

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        found = super().problems(raw)
        customer = raw.get("customer")
        given = customer.get("id") if isinstance(customer, Mapping) else None
        if given is None:
            found.append((("customer", "id"), "a reservation needs the customer's id"))
        return found


ReservationStatus = Literal["pending", "reserved", "confirmed", "cancelled", "expired"]


class ReservationResponse(BaseModel):
    reservation_id: str
    order_id: str
    status: ReservationStatus
    customer_id: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    quote: QuoteResponse


class FlashSaleItem(BaseModel):
    sku: str
    price: int
    initial: int
    available: int
    reserved: int
    sold: int
    per_customer_limit: int | None


class FlashSaleResponse(BaseModel):
    promotion_id: str
    items: list[FlashSaleItem]


# ------------------------------------------------------------------------ coupons


class ClaimBody(Checked):
    """``POST /v1/coupons/claim`` (领券): who claims which coupon; ``customer`` for
    promotions whose conditions restrict who may claim; ``claim_id`` to make a
    repeat of the same claim give the same code."""

    model_config = ConfigDict(extra="ignore")

    customer_id: Key
    promotion_id: LookupId
    customer: CustomerBody | None = None
    claim_id: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"), Storable]
        | None
    ) = None

    @classmethod
    def problems(cls, raw: Mapping[str, Any]) -> Found:
        customer = raw.get("customer")
        given = customer.get("id") if isinstance(customer, Mapping) else None
        if isinstance(given, str) and given != raw.get("customer_id"):
            return [(("customer", "id"), "customer.id differs from customer_id")]
        return []

    def to_customer(self) -> model.Customer:
        customer = (self.customer or CustomerBody()).to_model()
        return model.Customer(
            id=self.customer_id,
            tier=customer.tier,
            segments=customer.segments,
            new_customer=customer.new_customer,
            first_order=customer.first_order,
            phone_verified=customer.phone_verified,
        )


class ClaimResponse(BaseModel):
    code: str
    promotion_id: str
    customer_id: str
    expires_at: datetime | None
    claim_id: str


WalletStatus = Literal["available", "reserved", "used", "expired"]


class WalletCouponOut(BaseModel):
    code: str
    promotion_id: str
    status: WalletStatus
    claimed_at: datetime | None
    expires_at: datetime | None


class WalletResponse(BaseModel):
    customer_id: str
    coupons: list[WalletCouponOut]
