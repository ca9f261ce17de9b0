"""The JSON log lines (``app.observability.logs``): what ``python -m app`` writes."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from app.observability.logs import REQUEST_ID, BackgroundHandler, logging_config, request_id


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO, BackgroundHandler]]:
    stream = io.StringIO()
    handler = BackgroundHandler(stream=stream)
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)
    handler.flush_and_stop()


def lines(stream: io.StringIO, handler: BackgroundHandler) -> list[dict[str, object]]:
    handler.flush_and_stop()  # writes what is queued
    handler.listener.start()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_carries_the_request_id_it_was_logged_under_and_its_fields(
    written: tuple[logging.Logger, io.StringIO, BackgroundHandler],
) -> None:
    logger, stream, handler = written
    token = REQUEST_ID.set("req-1")
    logger.info("%s %s", "GET", "/x", extra={"route": "/x", "status": 200})
    REQUEST_ID.reset(token)  # the thread formats it later, outside the request
    logger.warning("outside \u5e93\u5b58")
    first, second = lines(stream, handler)
    assert first["request_id"] == "req-1"
    assert (first["message"], first["route"], first["status"]) == ("GET /x", "/x", 200)
    assert (first["level"], first["logger"]) == ("info", "tests.logs")
    assert "request_id" not in second
    assert second["message"] == "outside \u5e93\u5b58"


def test_an_exception_is_one_field_of_one_line(
    written: tuple[logging.Logger, io.StringIO, BackgroundHandler],
) -> None:
    logger, stream, handler = written
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream, handler)
    assert line["message"] == "failed"
    assert isinstance(line["exception"], str)
    assert "ValueError: boom" in line["exception"]


def test_logging_config_loads_and_turns_uvicorns_access_log_off() -> None:
    config = logging_config(level="warning", json_lines=False)
    assert config["loggers"]["uvicorn.access"]["level"] == "WARNING"
    assert config["root"]["level"] == "WARNING"
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        logging.config.dictConfig(config)
        handler = next(h for h in root.handlers if isinstance(h, BackgroundHandler))
        handler.flush_and_stop()
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def test_new_request_ids_are_distinct_hex() -> None:
    made = {request_id(None) for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in made)
