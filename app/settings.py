"""Configuration: one pydantic-settings class, read from the environment once.

Every knob the service has is a field here; ``get_settings()`` caches the
instance, and ``lifespan`` hands it to whatever needs it. Names are the
environment variables, case-insensitive (``DATABASE_URL`` → ``database_url``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("checkout", "admin")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KEY_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class Settings(BaseSettings):
    # hide_input_in_errors: a bad value is never echoed (PRICING_API_KEYS holds secrets,
    # DATABASE_URL and REDIS_URL may hold passwords); the message names the variable only
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    # storage
    database_url: str = "sqlite+aiosqlite:///./pricing.db"
    database_schema: str = ""  # PostgreSQL only: tables live in this schema (created if missing)
    auto_migrate: bool = True
    # after start-up, gc.freeze() what start-up built: full collections no longer walk
    # it (they took tens of ms of the event loop); off where one process starts many apps
    gc_freeze: bool = True
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL connections kept open, and opened beyond that under load (an overflow
    # connection is closed when it comes back: under load that is a connect per call)
    db_pool_size: int = Field(default=30, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    # a pooled connection idle longer than this is pinged before use (a dead one is
    # replaced); one used more recently is not: no round trip per call at peak. 0: always
    db_ping_after_idle_seconds: float = Field(default=1.0, ge=0)
    migrate_timeout_seconds: float = Field(default=60.0, gt=0)

    # redis; empty URL: an in-process fakeredis (embedded default, one per process)
    redis_url: str = ""
    # a Redis Cluster (redis.asyncio.cluster.RedisCluster): REDIS_URL names any one node, the
    # rest are discovered; a redis+cluster:// (rediss+cluster://) URL says the same
    redis_cluster: bool = False
    redis_prefix: str = "pricing:"  # every key and channel this service uses starts with it
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    redis_max_connections: int = Field(default=100, ge=1)  # per node on a cluster

    # HTTP
    # "checkout:KEY1,admin:ops-anna:KEY2" (role:key or role:name:key); repr shows ***
    pricing_api_keys: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    # on SIGTERM, in-flight requests get this long to finish before they are cut
    shutdown_timeout_seconds: int = Field(default=10, ge=1)
    # load shedding: beyond this many requests in flight in one process, 503 overloaded at once
    max_in_flight_requests: int = Field(default=64, ge=1)
    overload_retry_after_seconds: int = Field(default=1, ge=1)
    # quotes, reservations and claims answered without FastAPI's request handling
    # (app/api/hot_paths.py); false: every request through FastAPI
    hot_paths: bool = True

    # circuit breakers (one for Redis, one for the database, per process; docs/resilience.md)
    breaker_window_calls: int = Field(default=20, ge=1)  # count-based sliding window
    breaker_minimum_calls: int = Field(default=10, ge=1)  # no verdict before this many
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_slow_call_rate: float = Field(default=0.8, gt=0, le=1)
    breaker_open_seconds: float = Field(default=5.0, gt=0)  # fail fast this long, then probe
    breaker_half_open_calls: int = Field(default=3, ge=1)  # probes judged together
    # a call this slow counts as slow; unset: the deadline (REDIS_/DB_TIMEOUT_SECONDS), which
    # leaves only failures to trip a breaker (a saturated event loop makes every call look slow)
    redis_slow_call_seconds: float | None = Field(default=None, gt=0)
    db_slow_call_seconds: float | None = Field(default=None, gt=0)

    # behaviour
    reservation_ttl_seconds: int = Field(default=900, gt=0)
    # a reservation with the same order_id still being made: how long a twin waits for it
    reservation_wait_seconds: float = Field(default=5.0, gt=0)
    # a reservation still pending this long after it was made is abandoned (its attempt
    # failed and could not remove it): the sweeper expires it and gives back what it took,
    # and a retry of its order_id gets that answer instead of 503 until the expiry. Far
    # above the longest live attempt (its calls' deadlines added up)
    reservation_abandon_seconds: float = Field(default=60.0, gt=0)
    # the background sweeper: expired reservations, counters to load or rebuild
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    sweep_batch: int = Field(default=100, ge=1)
    # promotions with counters whose Redis state one sweep looks at (loaded? takes
    # held past expiry?); the window moves on each sweep. Those a request found
    # missing are looked at in the next sweep whatever the window
    sweep_scan: int = Field(default=500, ge=1)
    # how long past its expiry a reservation still pending, or a take in Redis with no
    # open reservation, is left alone (its process may still be finishing it)
    sweep_grace_seconds: float = Field(default=30.0, ge=0)
    # failed coupon codes (unknown, another customer's) allowed per window, per customer
    # and per API key; past them 429 rate_limited until the window ends
    code_attempts_per_customer: int = Field(default=20, ge=1)
    code_attempts_per_key: int = Field(default=2000, ge=1)
    code_attempts_window_seconds: float = Field(default=60.0, gt=0)
    rules_poll_seconds: float = Field(default=1.0, gt=0)
    default_timezone: str = "Asia/Shanghai"
    # the publish guard: a benefit that can take more than this percent off a line or an
    # order needs "confirm_deep_discount": true (app/promotions/guard.py)
    max_discount_percent: int = Field(default=80, ge=1, le=100)

    # logs (python -m app): one JSON object a line, or plain text lines
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("pricing_api_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr) -> SecretStr:
        parse_api_keys(value.get_secret_value())
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_schema")
    @classmethod
    def _schema_name(cls, value: str) -> str:
        if value and not _SCHEMA_NAME.match(value):
            raise ValueError("DATABASE_SCHEMA must be a lower-case SQL identifier")
        return value

    @property
    def api_keys(self) -> dict[str, str]:
        """Key → role."""
        return parse_api_keys(self.pricing_api_keys.get_secret_value())

    @property
    def api_key_names(self) -> dict[str, str]:
        """Key → its name (``updated_by`` on what it writes); a key without one is
        named by its role."""
        return {
            key: k.name for key, k in parse_keys(self.pricing_api_keys.get_secret_value()).items()
        }

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @property
    def host_is_loopback(self) -> bool:
        return is_loopback(self.host)


@dataclass(frozen=True, slots=True)
class ApiKey:
    role: str
    name: str


def parse_api_keys(raw: str) -> dict[str, str]:
    """``"checkout:KEY1,admin:KEY2"`` → ``{"KEY1": "checkout", "KEY2": "admin"}``."""
    return {key: k.role for key, k in parse_keys(raw).items()}


def parse_keys(raw: str) -> dict[str, ApiKey]:
    """``"checkout:KEY1,admin:ops-anna:KEY2"`` → each key's role and name: an entry
    is ``role:key`` (named by its role) or ``role:name:key``.

    A problem is reported by the entry's position, never by its text: a mistyped
    entry may well be a key (or a key written where the role belongs)."""
    keys: dict[str, ApiKey] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        parts = [part.strip() for part in entry.split(":", 2)]
        where = f"PRICING_API_KEYS entry {position}"
        if len(parts) < 2 or not all(parts):
            raise ValueError(
                f"{where}: entries look like role:key or role:name:key, comma-separated"
            )
        role, key = parts[0], parts[-1]
        name = parts[1] if len(parts) == 3 else role
        if role not in ROLES:
            raise ValueError(f"{where}: unknown role (roles: {', '.join(ROLES)})")
        if not _KEY_NAME.match(name):
            raise ValueError(f"{where}: a key's name is 1-64 letters, digits, '.', '_', '@' or '-'")
        if key in keys and keys[key].role != role:
            raise ValueError(f"{where}: this key is already given another role")
        if key in keys and keys[key].name != name:
            raise ValueError(f"{where}: this key is already given another name")
        keys[key] = ApiKey(role=role, name=name)
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cache
def get_settings() -> Settings:
    return Settings()
