"""The JSON log lines (``app.observability.logs``): what ``python -m app`` writes."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.observability.logs import (
    REQUEST_ID,
    BackgroundHandler,
    logging_config,
    request_id,
    sole_handler,
)


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


def test_the_request_log_line_without_a_record_is_the_line_a_record_makes() -> None:
    """``BackgroundHandler.access`` (what the middleware uses under ``python -m app``)
    writes what ``access.info`` through ``JsonFormatter`` writes, field for field
    and in the same order, time apart."""
    stream = io.StringIO()
    handler = BackgroundHandler(stream=stream)
    logger = logging.getLogger("app.access")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        assert sole_handler(logger) is handler
        token = REQUEST_ID.set("req-7")
        handler.access("POST", "/v1/quote", 200, 1.25)
        logger.info("%s %s %d", "POST", "/v1/quote", 200,
                    extra={"method": "POST", "route": "/v1/quote", "status": 200,
                           "duration_ms": 1.25})  # fmt: skip
        REQUEST_ID.reset(token)
        handler.access("GET", "/v1/flash-sales/{promotion_id}", 404, 0.5)
        handler.flush_and_stop()
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    fast, slow, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "time"} == {
        k: v for k, v in slow.items() if k != "time"
    }
    assert fast["time"].endswith("+00:00")
    assert "request_id" not in outside
    assert outside["message"] == "GET /v1/flash-sales/{promotion_id} 404"


def test_the_request_log_takes_the_usual_way_past_any_other_handler_or_filter() -> None:
    logger = logging.getLogger("app.access")
    handler = BackgroundHandler(stream=io.StringIO())
    saved = (logger.handlers[:], logger.propagate)
    try:
        logger.handlers[:] = [handler]
        logger.propagate = False
        assert sole_handler(logger) is handler
        other = logging.StreamHandler(io.StringIO())
        logger.addHandler(other)
        assert sole_handler(logger) is None  # a second handler would miss the line
        logger.removeHandler(other)
        handler.addFilter(lambda record: True)
        assert sole_handler(logger) is None  # a filter must see a record
    finally:
        logger.handlers[:], logger.propagate = saved
        handler.flush_and_stop()


def test_plain_text_lines_for_the_request_log_too() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(json_lines=False, stream=stream)
    handler.access("POST", "/v1/quote", 200, 1.0)
    handler.flush_and_stop()
    assert stream.getvalue().endswith(" INFO app.access: POST /v1/quote 200\n")


def test_the_request_log_time_is_the_formatters() -> None:
    writer = BackgroundHandler(stream=io.StringIO())
    try:
        for created in (1764650000.0, 1764650000.0004, 1764650000.9995, 1764650000.9999996,
                        1764650001.123456, 1764653599.999, 0.5):  # fmt: skip
            expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
            assert writer.listener._time(created) == expected, created
    finally:
        writer.flush_and_stop()
