"""What each field of the API means, for ``/openapi.json``: one meaning per name.

``app.api.openapi`` gives every schema property its description and example from
here: ``"Model.field"`` first (where a model means something more), then the bare
field name. A ``None`` example means the property is an object or a list of
objects, whose own fields carry the examples. A test fails when a field has none.

Amounts (prices, discounts, totals, thresholds) are integers in minor units:
fen for CNY, so 19900 is ¥199.00.
"""

from __future__ import annotations

from typing import Any

FEN = "An integer in minor units (fen for CNY: 19900 is ¥199.00)."
PERCENT = (
    "Percent OFF, 0 < p ≤ 100, at most two decimals: 10 means 10% off, so 9折 "
    "(pay 90%) is `percent: 10`; 8.5 is 8.5% off."
)

GLOSSARY: dict[str, tuple[str, Any]] = {
    # ------------------------------------------------------------ promotion body
    "id": ("The promotion's id; generated (`p-<16 hex>`) when absent.", "d11-300-50"),
    "CustomerBody.id": (
        "The customer's id: per-customer limits and claimed coupons go by it. "
        "Required on reservations.",
        "u-42",
    ),
    "name": ("A name for people; the id when absent.", "Double 11 spend 300 save 50"),
    "PromotionBody.status": (
        "`draft`, `active`, `paused`, `ended` or `archived`; only `active` prices.",
        "active",
    ),
    "starts_at": (
        "When it starts (RFC 3339 with an offset); null: already.",
        "2026-11-11T00:00:00+08:00",
    ),
    "ends_at": ("When it ends, after `starts_at`; null: never.", "2026-11-12T00:00:00+08:00"),
    "hours": ("Hours of the day it runs, in `timezone`; null or `[]`: all day.", None),
    "from": ("Start of the window, `HH:MM` (24-hour).", "10:00"),
    "to": ("End of the window, `HH:MM` or `24:00`; before `from`: past midnight.", "12:00"),
    "weekdays": ("Days it runs, Monday = 1 … Sunday = 7; null or `[]`: every day.", [6, 7]),
    "timezone": (
        "IANA time zone of `hours` and `weekdays`; absent: Asia/Shanghai.",
        "Asia/Shanghai",
    ),
    "trigger": ("`auto` applies by itself; `coupon` only with one of its codes.", "auto"),
    "exclusive": ("When applied, no other promotion applies to the same lines.", False),
    "exclusion_group": ("At most one promotion of a group applies to a line.", "d11"),
    "priority": ("Breaks ties between equal discounts: higher wins.", 0),
    "scope": ("Which lines it covers; every list empty: all lines.", None),
    "conditions": ("Who and what cart it needs.", None),
    "limits": ("Uses, claims and budget; null: unlimited.", None),
    "benefit": ("What it gives; `type` says which kind (docs/api.md).", None),
    "skus": ("SKUs it covers.", ["SKU-1"]),
    "categories": ("Categories it covers.", ["shoes"]),
    "brands": ("Brands it covers.", ["acme"]),
    "merchants": ("Merchants it covers.", ["m-1"]),
    "ScopeBody.tags": ("Tags it covers: a line with any of them.", ["new"]),
    "exclude_skus": ("SKUs it never covers, even when listed above.", ["SKU-9"]),
    "exclude_categories": ("Categories it never covers.", ["gift-cards"]),
    "customer_tiers": ("Member tiers it is for; empty: everyone.", ["gold"]),
    "ConditionsBody.segments": ("Customer segments it is for; empty: everyone.", ["vip"]),
    "ConditionsBody.new_customer": (
        "Only new customers (true), only others (false); null: both.",
        None,
    ),
    "ConditionsBody.first_order": (
        "Only first orders (true), only others (false); null: both.",
        None,
    ),
    "ConditionsBody.phone_verified": (
        "Only verified phones (true), only others; null: both.",
        True,
    ),
    "channels": ("Sales channels it is for; empty: all.", ["app"]),
    "ConditionsBody.min_qty": ("Units in scope the cart needs.", 2),
    "ConditionsBody.min_amount": (f"Amount in scope the cart needs. {FEN}", 10000),
    "max_uses": ("Orders that may use it, in all.", 1000),
    "max_uses_per_customer": ("Orders one customer may use it for.", 1),
    "budget": (f"Total discount it may give. {FEN}", 10000000),
    "max_claims": ("Codes that may be claimed, in all.", 5000),
    "max_claims_per_customer": ("Codes one customer may claim.", 1),
    # ----------------------------------------------------------------- benefits
    "type": ("The benefit type.", None),
    "percent": (PERCENT, 10),
    "amount": (f"Amount off. {FEN}", 5000),
    "ItemAmountOffBody.amount": (f"Amount off each unit. {FEN}", 1000),
    "AdjustmentOut.amount": (f"What this promotion took off the line. {FEN}", 5000),
    "AppliedOut.amount": (f"What this promotion took off the cart. {FEN}", 5000),
    "price": (f"The price. {FEN}", 9900),
    "ItemFixedPriceBody.price": (f"The price each unit sells at. {FEN}", 9900),
    "BundleBody.price": (f"The price of one whole bundle. {FEN}", 29900),
    "FlashItemBody.price": (f"The flash-sale price of one unit. {FEN}", 9900),
    "FlashSaleItem.price": (f"The flash-sale price of one unit. {FEN}", 9900),
    "MemberPriceBody.tiers": ("Percent off per member tier.", None),
    "prices": (f"A price per tier and SKU. {FEN}", {"gold": {"SKU-1": 18000}}),
    "FlashSaleBody.items": ("The SKUs on sale, each with its price and stock.", None),
    "stock": ("Units for sale.", 100),
    "per_customer_limit": ("Units one customer may buy; null: no limit.", 2),
    "ThresholdBody.tiers": (
        "The 满减 ladder, strictly ascending; the highest reached applies.",
        None,
    ),
    "GiftBody.tiers": ("The gift ladder, strictly ascending; the highest reached applies.", None),
    "min_amount": (f"Amount in scope this tier needs. {FEN}", 30000),
    "min_qty": ("Units in scope this tier needs.", 3),
    "amount_off": (f"What the tier takes off. {FEN}", 5000),
    "repeat": ("Apply the tier again for every multiple reached (每满).", False),
    "max_discount": (f"The most it takes off; null: no cap. {FEN}", 20000),
    "every": ("Every n-th unit gets `percent` off (2 with percent 50: 第二件半价).", 2),
    "BundleBody.items": ("The SKUs and quantities that make one bundle.", None),
    "max_applications": ("Bundles per cart; null: as many as fit.", 1),
    "gifts": ("The gifts.", None),
    "sku": ("A stock-keeping unit.", "SKU-1"),
    "qty": ("Units.", 2),
    # ------------------------------------------------------------------ codes
    "code": ("A coupon code; case-insensitive.", "SAVE10"),
    "count": ("How many unique single-use codes to make (1 … 10,000).", 1000),
    "prefix": ("What each unique code starts with.", "D11-"),
    "kind": ("`shared`: one code for everyone; `unique`: single-use codes.", "unique"),
    "codes": ("The codes made.", ["D11-7KQ2M9XW4P3T"]),
    "StatsResponse.codes": ("Codes issued.", 1000),
    # ------------------------------------------------------------------ quote
    "currency": ("ISO 4217 code; amounts are in its minor units.", "CNY"),
    "customer": ("Who is buying; conditions and member prices read it.", None),
    "tier": ("The customer's member tier.", "gold"),
    "CustomerBody.segments": ("The customer's segments.", ["vip"]),
    "CustomerBody.new_customer": ("A new customer.", False),
    "CustomerBody.first_order": ("This is the customer's first order.", False),
    "CustomerBody.phone_verified": ("The customer's phone is verified.", True),
    "channel": ("The sales channel.", "app"),
    "at": (
        "The time to price at (RFC 3339 with an offset); absent: now.",
        "2026-11-11T00:00:05+08:00",
    ),
    "QuoteBody.lines": ("The cart's lines, 1 … 500.", None),
    "ReservationBody.lines": ("The cart's lines, 1 … 500.", None),
    "line_id": ("The line's id; absent: its 1-based position.", "1"),
    "unit_price": (f"The list price of one unit. {FEN}", 19900),
    "category": ("The SKU's category.", "shoes"),
    "brand": ("The SKU's brand.", "acme"),
    "merchant": ("The merchant selling it.", "m-1"),
    "LineBody.tags": ("The SKU's tags.", ["new"]),
    "min_unit_price": (f"The floor: no discount takes a unit below it. {FEN}", 5000),
    "coupon_codes": ("Codes the customer presents, at most 20.", ["SAVE10"]),
    "auto_coupons": ("Also try the customer's claimed codes (needs `customer.id`).", False),
    "shipping_fee": (f"The shipping fee before shipping discounts. {FEN}", 1000),
    "order_id": (
        "The caller's order id: the idempotency key of the reservation.",
        "o-20261111-0001",
    ),
    "expected_total": (f"The total the customer saw; a different price now: 409. {FEN}", 34800),
    # ------------------------------------------------------------- quote out
    "subtotal": (f"The lines at list price. {FEN}", 39800),
    "discount_total": (f"Everything taken off the lines. {FEN}", 5000),
    "QuoteResponse.shipping_fee": (f"The shipping fee asked. {FEN}", 1000),
    "shipping_discount": (f"What was taken off shipping. {FEN}", 1000),
    "total": (
        f"What the customer pays: subtotal − discounts + shipping − its discount. {FEN}",
        34800,
    ),
    "QuoteResponse.lines": ("Each line and what it got.", None),
    "list_total": (f"`qty` × `unit_price`. {FEN}", 39800),
    "discount": (f"What the line got off, all promotions together. {FEN}", 5000),
    "final_total": (f"`list_total` − `discount`. {FEN}", 34800),
    "adjustments": ("What each promotion took off this line (分摊).", None),
    "units": ("Units of the line the promotion covered.", 2),
    "capped": ("`price_floor` when the line's floor trimmed this adjustment.", "price_floor"),
    "notices": (
        "Present when a flash sale covers this line but does not price (all of) it: "
        "why, per flash sale.",
        None,
    ),
    "NoticeOut.reason": (
        "`sold_out` (no stock left, or less than the line's qty), `limit_reached` (the "
        "customer's per-customer limit), `stock_unknown` (degraded: stock not read).",
        "sold_out",
    ),
    "applied": ("The promotions applied, each with what it gave.", None),
    "promotion_id": ("The promotion's id.", "d11-300-50"),
    "AppliedOut.name": ("The promotion's name.", "Double 11"),
    "stage": ("The stage it applied at: `item`, `order` or `shipping`.", "order"),
    "benefit_type": ("The promotion's benefit type.", "threshold"),
    "coupon_code": ("The code that applied it; null for automatic promotions.", None),
    "description": ("What it gave, in words (`Accept-Language`).", "spend 300.00 save 50.00"),
    "QuoteResponse.gifts": ("Gifts the cart gets.", None),
    "GiftTierBody.gifts": ("The gifts of this tier.", None),
    "coupons": ("What happened to each code presented.", None),
    "CouponOut.status": ("`applied` or `rejected`.", "rejected"),
    "reason": (
        "Why it was rejected (API.md lists the reasons); null when applied.",
        "min_amount_not_met",
    ),
    "message": ("The same, in words (`Accept-Language`).", "add 102.00 more to save 100.00"),
    "hints": ("凑单 hints: what more would reach a better tier.", None),
    "missing_amount": (f"Amount still missing; null when units are. {FEN}", 10200),
    "missing_qty": ("Units still missing; null when an amount is.", None),
    "reward_amount": (
        "What the promotion would take off in total at the next tier (its whole "
        f"discount, not the extra over a tier already reached). {FEN}",
        10000,
    ),
    "optimal": (
        "The best combination was proven; false: a good one, searched heuristically.",
        True,
    ),
    "degraded": (
        "Redis did not answer (no flash prices, limits and budgets unchecked) or the "
        "database did not (presented coupon codes not applied).",
        False,
    ),
    "warnings": ("Sentences on what is not as usual (degraded, heuristic).", []),
    "rules_version": (
        "The rules this was priced with: same request and version, same quote.",
        "2026-11-11T00:00:00.123456Z#42",
    ),
    # ---------------------------------------------------------- reservations
    "reservation_id": ("The reservation's id.", "r-3f2a9c1d0b7e4a56"),
    "ReservationResponse.status": (
        "`pending`, `reserved`, `confirmed`, `cancelled` or `expired`.",
        "reserved",
    ),
    "customer_id": ("The customer's id.", "u-42"),
    "expires_at": (
        "When an unconfirmed reservation gives everything back.",
        "2026-11-11T00:15:05+08:00",
    ),
    "created_at": ("When it was made.", "2026-11-11T00:00:05+08:00"),
    "updated_at": ("When its status last changed.", "2026-11-11T00:00:05+08:00"),
    "quote": ("The quote it holds the price of.", None),
    # ------------------------------------------------------------- flash sales
    "FlashSaleResponse.items": ("Each SKU on sale and its stock.", None),
    "initial": ("Units put on sale.", 100),
    "available": ("Units left to reserve.", 37),
    "reserved": ("Units held by open reservations.", 3),
    "sold": ("Units in confirmed orders.", 60),
    # ----------------------------------------------------------------- coupons
    "ClaimBody.customer": (
        "The quote's customer object, for coupons whose conditions restrict who may claim "
        "(tiers, segments, `new_customer`, `phone_verified`); its `id`, if given, must be "
        "`customer_id`.",
        None,
    ),
    "claim_id": (
        "The caller's id of this claim: the same id again gives the same code (200); "
        "absent: every call is a new claim.",
        "claim-u42-d11",
    ),
    "ClaimResponse.code": ("The code claimed, upper-case.", "K7M2QX9PTR4W"),
    "WalletCouponOut.code": ("The code, upper-case.", "K7M2QX9PTR4W"),
    "ClaimResponse.expires_at": (
        "When the code stops working: the promotion's `ends_at`; null: never.",
        "2026-11-12T00:00:00+08:00",
    ),
    "WalletResponse.coupons": ("The customer's codes, oldest first.", None),
    "WalletCouponOut.status": (
        "`available`, `reserved` (held by an open reservation), `used` (in a confirmed "
        "order) or `expired` (its promotion ended).",
        "available",
    ),
    "claimed_at": ("When it was claimed; null for a code given by an admin.", None),
    "WalletCouponOut.expires_at": (
        "When the code stops working: its promotion's `ends_at`; null: never.",
        "2026-11-12T00:00:00+08:00",
    ),
    # ------------------------------------------------------------------ admin
    "PromotionList.items": ("The promotions, by id.", None),
    "PromotionList.next_cursor": (
        "Pass as `cursor` for the next page (opaque); null on the last page.",
        "YWZ0ZXI6ZDExLTMwMC01MA",
    ),
    "PromotionOut.status": (
        "`draft`, `active`, `paused`, `ended` or `archived`; only `active` prices.",
        "active",
    ),
    "version": (
        "The promotion's version: 1 when created, +1 per change; its `ETag` names it.",
        3,
    ),
    "updated_by": (
        "The name of the API key that last changed it (`role:name:key` in "
        "`PRICING_API_KEYS`; a key without a name: its role).",
        "ops-anna",
    ),
    "effective": (
        "What it does at the time of the request, by its status and window: `scheduled`, "
        "`running`, `ended` or `paused` (`draft` and `archived` as their status).",
        "running",
    ),
    "PromotionBody.version": ("Read-only (as GET shows it); ignored.", 3),
    "PromotionBody.created_at": ("Read-only; ignored.", "2026-11-10T09:00:00Z"),
    "PromotionBody.updated_at": ("Read-only; ignored.", "2026-11-10T09:30:00Z"),
    "PromotionBody.updated_by": ("Read-only; ignored.", "ops-anna"),
    "PromotionBody.effective": ("Read-only; ignored.", "running"),
    "PromotionOut.created_at": ("When it was first stored.", "2026-11-10T09:00:00Z"),
    "PromotionOut.updated_at": ("When it last changed.", "2026-11-10T09:30:00Z"),
    "HistoryResponse.items": ("Every change, newest first.", None),
    "HistoryEntryOut.version": ("The version this change made.", 3),
    "HistoryEntryOut.at": ("When the change was made.", "2026-11-10T09:30:00Z"),
    "by": ("Who made it: the name of the API key.", "ops-anna"),
    "action": ("`created`, `replaced`, `patched`, `deleted` or `imported`.", "patched"),
    "before": (
        "The promotion body before the change; null for a creation.",
        {"id": "d11-300-50", "status": "active"},
    ),
    "after": (
        "The promotion body after the change; null for a removal.",
        {"id": "d11-300-50", "status": "paused"},
    ),
    "ImportBody.promotions": (
        "Promotion bodies (as `POST /v1/admin/promotions` takes them), 1 to 10,000.",
        None,
    ),
    "ImportBody.mode": (
        "`create`: every id must be new; `upsert`: an existing id is replaced.",
        "create",
    ),
    "ImportResponse.created": ("Promotions stored that did not exist.", 9990),
    "ImportResponse.updated": ("Promotions replaced (`upsert` only).", 10),
    "ImportResponse.rules_version": (
        "The rules version the import made; quotes priced with it include it.",
        "2026-11-11T00:00:00.123456Z#43",
    ),
    "reservations": ("Reservations that applied it.", 120),
    "confirmed": ("Of those, confirmed.", 100),
    "cancelled": ("Of those, cancelled.", 15),
    "expired": ("Of those, expired.", 5),
    "discount_given": (f"What confirmed orders got from it. {FEN}", 500000),
    "gmv": (f"What confirmed orders paid in all. {FEN}", 3480000),
    "claims": ("Codes with an owner.", 800),
    "redemptions": (
        "Uses of its codes (shared or unique) in confirmed orders.",
        95,
    ),
    "budget_spent": (f"Budget held by reserved and confirmed orders. {FEN}", 520000),
    "budget_left": (
        f"`limits.budget` less `budget_spent` (never below 0); null: no budget. {FEN}",
        480000,
    ),
    "confirm_deep_discount": (
        "Confirms a benefit that can take more than MAX_DISCOUNT_PERCENT (default 80) "
        "percent off a line or an order; without it such a write is 422 `deep_discount`.",
        False,
    ),
    # ------------------------------------------------------------ code listing
    "CodeList.items": ("The codes of this page, by code.", None),
    "next_cursor": (
        "Pass as `cursor` for the next page; null: this is the last.",
        "YzE6RDExLTdLUTJNOVhXNFAzVA",
    ),
    "CodeOut.status": (
        "`available`, `reserved` (held by an open reservation), `used` (in a confirmed "
        "order) or `revoked`.",
        "available",
    ),
    "CodeOut.customer_id": ("The owner of a claimed unique code; null: none.", "u-42"),
    "CodeOut.order_id": (
        "The order that holds (`reserved`) or used (`used`) a unique code; null: none.",
        "o-1001",
    ),
    # ------------------------------------------------------------------ preview
    "PreviewBody.promotions": (
        "Draft promotion bodies, priced as if live (replacing live ones with the same id).",
        None,
    ),
    "PreviewBody.carts": ("Quote bodies to price with them, 1 … 100.", None),
    "PreviewResponse.quotes": ("One quote per cart, in order, as `POST /v1/quote` answers.", None),
    "PreviewResponse.warnings": (
        "What the publish guard would say, and deep line discounts.",
        None,
    ),
    "PreviewWarningOut.code": ("`deep_discount`.", "deep_discount"),
    "PreviewWarningOut.message": (
        "What is deep, in English.",
        "item_percent_off benefit of 'tv-90' (benefit.percent) can take 90% off, ...",
    ),
    "PreviewWarningOut.loc": (
        "Where in the draft's body (its benefit); `[]` for a line of a cart.",
        ["benefit", "percent"],
    ),
    "PreviewWarningOut.cart": ("The cart's index; null: a draft's benefit.", 0),
    "PreviewWarningOut.line_id": ("The line of that cart; null: a draft's benefit.", "1"),
}
