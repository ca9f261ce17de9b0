"""A pricer that records what the shell hands the engine (tests of the shell only).

The real service calls ``app.rules.engine.price``; these tests check what the
shell gathers (codes resolved, defaults filled, the rules snapshot) and how it
maps a ``Quote`` out, independently of the engine's arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.rules.model import (
    Adjustment,
    Applied,
    CouponOutcome,
    LineResult,
    Quote,
    QuoteRequest,
    Reason,
    Stage,
)
from app.rules.ruleset import RuleSet


@dataclass
class RecordingPricer:
    calls: list[tuple[RuleSet, QuoteRequest]] = field(default_factory=list)

    def __call__(
        self,
        rules: RuleSet,
        request: QuoteRequest,
        *,
        work_limit: int | None = None,
        pause: Callable[[], None] | None = None,
    ) -> Quote:
        self.calls.append((rules, request))
        lines = tuple(
            LineResult(
                line=line,
                list_total=line.list_total,
                discount=0,
                final_total=line.list_total,
                adjustments=(),
            )
            for line in request.lines
        )
        coupons = tuple(
            CouponOutcome(
                code=c.code,
                promotion_id=c.promotion_id,
                applied=False,
                reason=Reason.UNKNOWN_CODE if c.promotion_id is None else Reason.NOT_BEST,
            )
            for c in request.coupons
        )
        subtotal = sum(line.list_total for line in request.lines)
        return Quote(
            currency=request.currency,
            subtotal=subtotal,
            discount_total=0,
            shipping_fee=request.shipping_fee,
            shipping_discount=0,
            total=subtotal + request.shipping_fee,
            lines=lines,
            applied=(),
            gifts=(),
            coupons=coupons,
            hints=(),
            optimal=True,
            rules_version=rules.version,
        )

    @property
    def last(self) -> QuoteRequest:
        return self.calls[-1][1]


def floor_capped_quote(
    rules: RuleSet,
    request: QuoteRequest,
    *,
    work_limit: int | None = None,
    pause: Callable[[], None] | None = None,
) -> Quote:
    """One line, one promotion, trimmed by a floor: for the response mapping."""
    line = request.lines[0]
    promotion = rules.promotions[0]
    return Quote(
        currency=request.currency,
        subtotal=line.list_total,
        discount_total=100,
        shipping_fee=0,
        shipping_discount=0,
        total=line.list_total - 100,
        lines=(
            LineResult(
                line=line,
                list_total=line.list_total,
                discount=100,
                final_total=line.list_total - 100,
                adjustments=(
                    Adjustment(promotion_id=promotion.id, amount=100, units=line.qty, capped=True),
                ),
            ),
        ),
        applied=(Applied(promotion=promotion, stage=Stage.ORDER, amount=100),),
        gifts=(),
        coupons=(),
        hints=(),
        optimal=False,
        rules_version=rules.version,
        degraded=True,
    )


def exploding(
    rules: RuleSet,
    request: QuoteRequest,
    *,
    work_limit: int | None = None,
    pause: Callable[[], None] | None = None,
) -> Quote:
    raise RuntimeError("secret internals: /etc/passwd line 42")
