"""Preview: carts priced as if draft promotions were live, nothing stored.

The drafts become engine records the way a write makes them
(``PromotionDocument.to_record``) and go into the snapshot's ``RuleSet`` with
``RuleSet.changed`` (replacing live ones with the same id; the live rule set
is not touched). Each cart then goes through ``QuoteService.quote`` with those
rules, so a preview prices exactly as a quote would: the same codes (read from
the database, as stored: a draft coupon not stored yet has no codes), the same
counters (a draft not stored has fresh ones: full stock, no uses; one that
replaces a live promotion keeps the live one's), the same engine.

Warnings, never refusals: every draft the publish guard would refuse without
``confirm_deep_discount`` (``app.promotions.guard``), whether or not it says
it, and every line of a cart that a draft takes more than
``MAX_DISCOUNT_PERCENT`` off (which also catches fixed and flash prices, whose
share the guard cannot judge without a list price).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from zoneinfo import ZoneInfo

from app.errors import InvalidInput, Problem
from app.promotions.document import PromotionDocument
from app.promotions.guard import deep_discounts, percent_shown
from app.quoting.quote_service import QuoteQuery, QuoteService
from app.rules.model import Promotion, Quote


@dataclass(frozen=True, slots=True)
class PreviewWarning:
    """``code`` ``deep_discount``: a draft's benefit (``cart`` None; ``loc`` in its
    body) or its adjustment on a cart's line (``cart``, ``line_id``)."""

    code: str
    promotion_id: str
    message: str
    loc: tuple[str | int, ...] = ()
    cart: int | None = None
    line_id: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    quotes: Sequence[Quote]
    warnings: Sequence[PreviewWarning]


class Previewer:
    """One per process, made by ``lifespan``."""

    def __init__(
        self, *, quotes: QuoteService, default_timezone: ZoneInfo, max_discount_percent: int
    ) -> None:
        self._quotes = quotes
        self._default_timezone = default_timezone
        self._max_percent = max_discount_percent

    async def preview(
        self, drafts: Sequence[PromotionDocument], carts: Sequence[QuoteQuery]
    ) -> Preview:
        records = self._records(drafts)
        live = self._quotes.rules
        rules = live.changed(records, (), version=f"{live.version}+preview")
        uncounted = frozenset(r.id for r in records if live.get(r.id) is None)
        warnings = [
            PreviewWarning(
                code="deep_discount",
                promotion_id=deep.promotion_id,
                message=deep.message(self._max_percent),
                loc=deep.loc,
            )
            for record in records
            for deep in deep_discounts(record, max_percent=self._max_percent)
        ]
        # one cart after another: pricing is CPU work, and 100 carts at once would
        # take 100 database connections to resolve their codes
        quotes = [
            (await self._quotes.quote(cart, rules=rules, uncounted=uncounted)).quote
            for cart in carts
        ]
        drafted = {r.id for r in records}
        for index, quote in enumerate(quotes):
            warnings += self._deep_lines(index, quote, drafted)
        return Preview(quotes=quotes, warnings=warnings)

    def _records(self, drafts: Sequence[PromotionDocument]) -> list[Promotion]:
        """The drafts as engine records; ``InvalidInput`` naming each that is not one."""
        records: list[Promotion] = []
        found: list[Problem] = []
        for index, draft in enumerate(drafts):
            try:
                records.append(draft.to_record(default_timezone=self._default_timezone))
            except (ValueError, KeyError) as exc:
                found.append(Problem(loc=("body", "promotions", index), msg=str(exc)))
        if found:
            raise InvalidInput(f"{len(found)} promotions cannot be priced", found)
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise InvalidInput(
                "a promotion id appears twice",
                [Problem(loc=("body", "promotions"), msg=f"ids appear twice: {twice}")],
            )
        return records

    def _deep_lines(self, cart: int, quote: Quote, drafted: set[str]) -> list[PreviewWarning]:
        """The adjustments of drafts that take more than the limit off a line."""
        found: list[PreviewWarning] = []
        for result in quote.lines:
            for adjustment in result.adjustments:
                if adjustment.promotion_id not in drafted or result.list_total <= 0:
                    continue
                if 100 * adjustment.amount > self._max_percent * result.list_total:
                    share = Fraction(100 * adjustment.amount, result.list_total)
                    found.append(
                        PreviewWarning(
                            code="deep_discount",
                            promotion_id=adjustment.promotion_id,
                            message=(
                                f"cart {cart}, line {result.line.line_id}: "
                                f"{adjustment.promotion_id!r} takes {percent_shown(share)}% off "
                                f"({adjustment.amount} of {result.list_total}), more than "
                                f"MAX_DISCOUNT_PERCENT ({self._max_percent}%)"
                            ),
                            cart=cart,
                            line_id=result.line.line_id,
                        )
                    )
        return found
