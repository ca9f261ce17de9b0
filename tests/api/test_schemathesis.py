"""A short schemathesis run over ``/openapi.json``: generated requests (valid and
invalid) to every operation of the app in-process, on the embedded back end
(SQLite + fakeredis) with keys configured. Fails on any 5xx and on any response
whose status, media type, headers or body the document does not describe.

Bounded and deterministic: the fuzzing phase only, ``EXAMPLES`` per operation
(valid and invalid data), ``derandomize``; about ten seconds. The coverage phase
(boundary values for every constraint) finds the same kinds of problems but takes
half a minute more; run it by hand after changing the schemas: set
``schema.config.phases.coverage.enabled`` to True.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.conftest import ADMIN, Backend

EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


_DIRECTORY = tempfile.TemporaryDirectory(prefix="schemathesis-")
_BACKEND = Backend(
    "sqlite",
    {"database_url": f"sqlite+aiosqlite:///{_DIRECTORY.name}/pricing.db", "redis_url": ""},
)
# the document needs no running app; schemathesis starts the lifespan at the first call
_APP = create_app(_BACKEND.settings())
schema = schemathesis.openapi.from_dict(_APP.openapi())
schema.app = _APP
schema.config.phases.coverage.enabled = False  # see the module docstring


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app() -> Iterator[None]:
    yield
    # the app's lifespan, and the event-loop thread schemathesis runs it in: left alive
    # (until exit, otherwise) it made the PostgreSQL race tests that follow time out
    stop = getattr(asgi, "_shutdown", asgi.shutdown_lifespans)
    stop()
    _DIRECTORY.cleanup()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_documented_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN, checks=CHECKS)
