"""``Accept-Language``: Chinese texts (``message``, ``description``) for ``zh``,
``zh-CN``, ``zh-Hans``; English otherwise; every other field the same. Coupon
messages name the condition that failed; hints say what the next tier saves in
total."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.bodies import coupon
from tests.api.test_admin import assert_problem
from tests.conftest import ADMIN, CHECKOUT, Start

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.json"))
LOADED = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES}
ZH = {**CHECKOUT, "Accept-Language": "zh-CN"}
TEXTS = frozenset(["message", "description"])
CJK = re.compile(r"[\u4e00-\u9fff]")


def without_texts(value: Any) -> Any:
    """The answer with every text (``message``, ``description``) taken out."""
    if isinstance(value, dict):
        return {k: without_texts(v) for k, v in value.items() if k not in TEXTS}
    if isinstance(value, list):
        return [without_texts(v) for v in value]
    return value


def texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in TEXTS and isinstance(v, str)]
        return found + [t for k, v in value.items() if k not in TEXTS for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def carts(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The example's cart and some near it: more of each line, one line only, a
    shipping fee, and a day later (when most examples' promotions have ended)."""
    lines = request["lines"]
    return [
        request,
        {**request, "lines": [{**line, "qty": line["qty"] + 1} for line in lines]},
        {**request, "lines": lines[:1]},
        {**request, "shipping_fee": 1000},
        {**request, "at": "2026-12-02T10:00:00+08:00"},
    ]


async def post(client: httpx.AsyncClient, body: Any, headers: Any) -> dict[str, Any]:
    response = await client.post("/v1/quote", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_chinese_and_english_answers_differ_only_in_their_texts(
    start_sqlite: Start, path: Path
) -> None:
    example = LOADED[path.name]
    client = (await start_sqlite()).client
    for body in example["promotions"]:
        assert (await client.post("/v1/admin/promotions", json=body, headers=ADMIN)).is_success
    for promotion_id, codes in (example.get("codes") or {}).items():
        for code in codes:
            made = await client.post(
                f"/v1/admin/promotions/{promotion_id}/codes", json={"code": code}, headers=ADMIN
            )
            assert made.status_code == 201, made.text
    for cart in carts(example["request"]):
        english = await post(client, cart, CHECKOUT)
        chinese = await post(client, cart, ZH)
        assert without_texts(chinese) == without_texts(english), cart
        assert len(texts(chinese)) == len(texts(english))
        for text in texts(chinese):
            assert CJK.search(text), text  # every text is Chinese ...
        for text in texts(english):
            assert not CJK.search(text), text  # ... and no English one is
        assert (await post(client, cart, CHECKOUT)) == english  # the same answer again


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("zh", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("ZH-cn", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en-US,zh;q=0.9", "en"),
        ("fr-FR, zh;q=0.5", "zh-CN"),
        ("en;q=0.4, zh-CN;q=0.8", "zh-CN"),
        ("zh;q=0, en", "en"),
        ("zh;q=0", "en"),
        ("zh-TW", "en"),
        ("zh-Hant, zh-CN;q=0.3", "zh-CN"),
        ("*", "en"),
        ("fr", "en"),
        ("zh;q=2, en;q=0.5", "en"),  # q above 1 is malformed: that range is dropped
        ("zh;q=abc", "en"),
        (";;,,", "en"),
        ("de;q=0.9, zh-CN;q=0.9", "zh-CN"),
        ("zh-CN;q=0.5, en;q=0.5", "zh-CN"),  # a tie goes to the earlier range
    ],
)
async def test_accept_language_is_weighed(
    start_sqlite: Start, header: str | None, language: str
) -> None:
    client = (await start_sqlite()).client
    await client.post(
        "/v1/admin/promotions",
        json={
            "id": "t",
            "benefit": {"type": "threshold", "tiers": [{"min_amount": 30000, "amount_off": 5000}]},
        },
        headers=ADMIN,
    )
    headers = {**CHECKOUT, **({"Accept-Language": header} if header is not None else {})}
    cart = {"lines": [{"sku": "A", "qty": 1, "unit_price": 35000}]}
    response = await client.post("/v1/quote", json=cart, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-language"] == language
    assert "accept-language" in response.headers["vary"].lower()
    description = response.json()["applied"][0]["description"]
    assert description == ("满300减50" if language == "zh-CN" else "spend 300.00 save 50.00")


async def test_a_hint_says_the_total_and_what_it_adds(start_sqlite: Start) -> None:
    """The issue's hint: the next tier gives 100.00 in all, 50.00 more than the tier
    reached; ``reward_amount`` stays the tier's whole discount (PRICING.md)."""
    client = (await start_sqlite()).client
    tiers = [{"min_amount": 30000, "amount_off": 5000}, {"min_amount": 50000, "amount_off": 10000}]
    await client.post(
        "/v1/admin/promotions",
        json={"id": "tiers", "benefit": {"type": "threshold", "tiers": tiers}},
        headers=ADMIN,
    )
    reached = {"lines": [{"sku": "A", "qty": 1, "unit_price": 35820}]}
    (hint,) = (await post(client, reached, CHECKOUT))["hints"]
    assert (hint["missing_amount"], hint["reward_amount"]) == (14180, 10000)
    assert hint["message"] == "add 141.80 more to save 100.00 in total (50.00 more than now)"
    (zh,) = (await post(client, reached, ZH))["hints"]
    assert zh["message"] == "再买¥141.80共减¥100.00（比现在多减¥50.00）"

    short = {"lines": [{"sku": "A", "qty": 1, "unit_price": 20000}]}
    (hint,) = (await post(client, short, CHECKOUT))["hints"]
    assert hint["message"] == "add 100.00 more to save 50.00"  # nothing given yet: no "in total"
    (zh,) = (await post(client, short, ZH))["hints"]
    assert zh["message"] == "再买¥100.00可减¥50.00"


CONDITIONS: list[tuple[str, dict[str, Any], dict[str, Any], str, str, str]] = [
    # id, promotion fields, cart fields, reason, English, Chinese
    (
        "tier",
        {"conditions": {"customer_tiers": ["gold", "platinum"]}},
        {"customer": {"tier": "silver"}},
        "not_eligible",
        "this coupon is for gold, platinum members only",
        "该券仅限gold、platinum会员使用",
    ),
    (
        "segment",
        {"conditions": {"segments": ["vip"]}},
        {},
        "not_eligible",
        "this coupon is for customers in vip only",
        "该券仅限特定用户群（vip）使用",
    ),
    (
        "channel",
        {"conditions": {"channels": ["app"]}},
        {"channel": "web"},
        "not_eligible",
        "this coupon can be used only through app",
        "该券仅限app渠道使用",
    ),
    (
        "new",
        {"conditions": {"new_customer": True}},
        {},
        "not_eligible",
        "this coupon is for new customers only",
        "该券仅限新用户使用",
    ),
    (
        "first",
        {"conditions": {"first_order": True}},
        {},
        "not_eligible",
        "this coupon is for a first order only",
        "该券仅限首单使用",
    ),
    (
        "phone",
        {"conditions": {"phone_verified": True}},
        {},
        "not_eligible",
        "this coupon needs a verified phone number",
        "该券需先验证手机号",
    ),
    (
        "weekday",
        {"weekdays": [1, 2]},  # 2026-11-11 is a Wednesday
        {},
        "not_eligible",
        "this coupon can be used only on Monday, Tuesday",
        "该券仅限周一、周二使用",
    ),
    (
        "hours",
        {"hours": [{"from": "20:00", "to": "22:00"}]},
        {},
        "not_eligible",
        "this coupon can be used only 20:00–22:00 (UTC+08:00)",
        "该券仅限每天20:00–22:00使用",
    ),
    (
        "amount",
        {"conditions": {"min_amount": 30000}},
        {},
        "min_amount_not_met",
        "spend 100.00 more in scope to use this coupon",
        "适用商品再买¥100.00即可使用该券",
    ),
    (
        "qty",
        {"conditions": {"min_qty": 3}},
        {},
        "min_qty_not_met",
        "add 2 items more in scope to use this coupon",
        "适用商品再买2件即可使用该券",
    ),
    (
        "scope",
        {"scope": {"categories": ["shoes"], "brands": ["acme"]}},
        {},
        "no_eligible_items",
        "no item in the cart is in this coupon's scope (categories shoes; brands acme)",
        "购物车中没有该券适用的商品（品类 shoes；品牌 acme）",
    ),
    (
        "later",
        {"starts_at": "2026-11-20T00:00:00+08:00", "ends_at": "2026-11-30T00:00:00+08:00"},
        {},
        "not_started",
        "this coupon can be used from 2026-11-20 00:00 UTC+08:00",
        "该券2026-11-20 00:00 UTC+08:00起可用",
    ),
    (
        "over",
        {"starts_at": "2026-11-01T00:00:00+08:00", "ends_at": "2026-11-10T00:00:00+08:00"},
        {},
        "expired",
        "this coupon expired at 2026-11-10 00:00 UTC+08:00",
        "该券已于2026-11-10 00:00 UTC+08:00过期",
    ),
]


@pytest.mark.parametrize(
    ("fields", "cart_fields", "reason", "english", "chinese"),
    [pytest.param(*case[1:], id=case[0]) for case in CONDITIONS],
)
async def test_coupon_messages_name_the_condition_that_failed(
    start_sqlite: Start,
    fields: dict[str, Any],
    cart_fields: dict[str, Any],
    reason: str,
    english: str,
    chinese: str,
) -> None:
    client = (await start_sqlite()).client
    made = await client.post("/v1/admin/promotions", json=coupon("c", **fields), headers=ADMIN)
    assert made.status_code == 201, made.text
    await client.post("/v1/admin/promotions/c/codes", json={"code": "CODE"}, headers=ADMIN)
    cart = {
        "at": "2026-11-11T10:00:00+08:00",
        "lines": [{"sku": "A", "qty": 1, "unit_price": 20000, "category": "bags"}],
        "coupon_codes": ["CODE"],
        **cart_fields,
    }
    (outcome,) = (await post(client, cart, CHECKOUT))["coupons"]
    assert (outcome["status"], outcome["reason"]) == ("rejected", reason)
    assert outcome["message"] == english
    (zh,) = (await post(client, cart, ZH))["coupons"]
    assert zh["reason"] == reason
    assert zh["message"] == chinese


async def test_problems_speak_the_language_where_cheap(start_sqlite: Start) -> None:
    """A problem's ``title`` (by its code) and a 422's ``detail`` follow the language;
    the ``code``, ``status``, ``type`` and the ``errors`` do not."""
    client = (await start_sqlite()).client
    bad = {"lines": [{"sku": "A", "qty": 0, "unit_price": 100}]}
    english = assert_problem(
        await client.post("/v1/quote", json=bad, headers=CHECKOUT), 422, "validation_error"
    )
    chinese = assert_problem(
        await client.post("/v1/quote", json=bad, headers=ZH), 422, "validation_error"
    )
    assert (english["title"], english["detail"]) == ("Invalid input", "1 problem with the request")
    assert (chinese["title"], chinese["detail"]) == ("请求内容有误", "请求有1处问题")
    assert chinese["errors"] == english["errors"]
    assert {k: v for k, v in chinese.items() if k not in ("title", "detail")} == {
        k: v for k, v in english.items() if k not in ("title", "detail")
    }
    missing = await client.get("/v1/reservations/nope", headers=ZH)
    assert assert_problem(missing, 404, "not_found")["title"] == "未找到"
