"""Redis key names for flash-sale stock, usage counts and budgets.

Every key of one promotion carries the hash tag ``{p:<promotion_id>}``, so
Redis Cluster puts all of them in one hash slot and one Lua script may touch
any of them together. A reservation that needs several promotions needs
several slots: it runs one script per promotion (see ``redis_stock``).

    <prefix>{p:<id>}:promotion           hash  loaded_at, uses, budget_spent
    <prefix>{p:<id>}:customer_uses       hash  customer id -> uses (reserved + confirmed)
    <prefix>{p:<id>}:skus                set   skus whose stock was loaded
    <prefix>{p:<id>}:stock:<sku>         hash  initial, available, reserved, sold, limit
    <prefix>{p:<id>}:held:<sku>          hash  customer id -> units reserved + sold
    <prefix>{p:<id>}:open                zset  reservation id -> expires_at (epoch ms), while taken
    <prefix>{p:<id>}:res:<reservation>   hash  what that reservation took in this slot and its
                                               state (taken / confirmed / released): the
                                               idempotency record of (reservation, slot)
    <prefix>{p:<id>}:claims              hash  loaded_at: the claim counters (领券) exist here;
                                               next_slot: the highest claim slot handed out
    <prefix>{p:<id>}:claimers            hash  customer id -> codes claimed
    <prefix>{p:<id>}:claim_ids           hash  claim id -> "<code> <customer id> <slot>": every
                                               claim, the idempotency record (its length is
                                               the count)
    <prefix>{p:<id>}:claim_free          set   slots given back (a claim taken back), used
                                               again before next_slot grows

``loaded_at`` in the promotion hash marks a promotion whose counters exist in
this Redis; the scripts refuse to take from a promotion without it, so an
emptied Redis fails closed instead of counting from zero again.

The slot of a key is decided by the first ``{`` and the first ``}`` after it.
The prefix must therefore contain no braces; a promotion id or sku may hold
any characters, because everything after the tag's opening brace belongs to
the same promotion's keys (an id with ``}`` at worst shares its slot with a
similar id, it never splits one promotion over two slots).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "pricing:"


@dataclass(frozen=True, slots=True)
class PromotionKeys:
    """The keys of one promotion, all in the slot of ``{p:<promotion_id>}``."""

    prefix: str
    promotion_id: str

    @property
    def tag(self) -> str:
        return f"{self.prefix}{{p:{self.promotion_id}}}"

    @property
    def promotion(self) -> str:
        return f"{self.tag}:promotion"

    @property
    def customer_uses(self) -> str:
        return f"{self.tag}:customer_uses"

    @property
    def skus(self) -> str:
        return f"{self.tag}:skus"

    @property
    def open(self) -> str:
        return f"{self.tag}:open"

    @property
    def claims(self) -> str:
        return f"{self.tag}:claims"

    @property
    def claimers(self) -> str:
        return f"{self.tag}:claimers"

    @property
    def claim_ids(self) -> str:
        return f"{self.tag}:claim_ids"

    @property
    def claim_free(self) -> str:
        return f"{self.tag}:claim_free"

    def stock(self, sku: str) -> str:
        return f"{self.tag}:stock:{sku}"

    def held(self, sku: str) -> str:
        return f"{self.tag}:held:{sku}"

    def reservation(self, reservation_id: str) -> str:
        return f"{self.tag}:res:{reservation_id}"


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Key names under one prefix (``REDIS_PREFIX``)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("the Redis key prefix must not contain braces (hash tags)")

    def promotion(self, promotion_id: str) -> PromotionKeys:
        if not promotion_id:
            raise ValueError("promotion id is empty")
        return PromotionKeys(self.prefix, promotion_id)
