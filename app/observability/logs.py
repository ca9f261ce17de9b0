"""Structured logs: one JSON object a line, and the request id of the request a
line was written for.

``JsonFormatter`` renders a ``logging.LogRecord`` as JSON: ``time`` (UTC, ISO
8601), ``level``, ``logger``, ``message``, ``request_id`` when the line was
written inside a request, the exception when there is one, and whatever the
caller passed in ``extra`` (the request log passes ``method``, ``route``,
``status``, ``duration_ms``). ``logging_config`` installs it on the root logger (the
``python -m app`` command calls it; ``LOG_FORMAT=text`` keeps plain lines).

The request id (``X-Request-ID``) is taken from the request when it is a safe
token (``request_id``), else made; ``REQUEST_ID`` holds it for the request's
task, so every line logged while answering it carries it.
"""

from __future__ import annotations

import atexit
import copy
import itertools
import json
import logging
import logging.handlers
import queue
import re
import signal
import sys
import threading
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# a caller's id is echoed in a header and written in logs: bounded, and no character
# that could split a header or a log line, or fake a JSON field
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

# the attributes every LogRecord has: anything else on a record came from ``extra``
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's terminal colours: not for JSON
)


_PREFIX = uuid.uuid4().hex[:16]  # this process's, so ids stay unique across processes
_COUNTER = itertools.count(1)


def request_id(given: str | None) -> str:
    """The caller's id when it is a safe token (at most 128 characters of letters,
    digits and ``._:-``), else a new one: 32 hex digits, this process's random
    prefix and a counter (no system call per request)."""
    if given is not None and _SAFE_ID.fullmatch(given):
        return given
    return f"{_PREFIX}{next(_COUNTER):016x}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid is not None:
            line["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key != "request_id":
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class BackgroundHandler(logging.handlers.QueueHandler):
    """Hands records to a thread that formats (JSON) and writes them to stderr, so
    the event loop pays for a record and a queue put, not for the JSON and the
    write. The request id is taken when the line is logged (the thread has no
    request); an exception's traceback is rendered then too. Lines still queued
    at exit are written: at a normal exit (``atexit``), and when a signal ends the
    process (uvicorn finishes its shutdown on SIGTERM, then raises the signal again
    with the handlers it found restored, and a process a signal ends runs no
    ``atexit``: so the handlers it finds are ours, which write what is queued and
    then let the signal do what it did before)."""

    def __init__(self, json_lines: bool = True, stream: TextIO | None = None) -> None:
        super().__init__(queue.SimpleQueue())
        target = logging.StreamHandler(stream or sys.stderr)
        target.setFormatter(
            JsonFormatter()
            if json_lines
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        self.listener = logging.handlers.QueueListener(self.queue, target)
        self.listener.start()
        atexit.register(self.flush_and_stop)
        self._before: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for caught in (signal.SIGTERM, signal.SIGINT):
                before = signal.getsignal(caught)
                if before in (signal.SIG_DFL, signal.default_int_handler):
                    self._before[caught] = before
                    signal.signal(caught, self._flush_then_signal)

    def _flush_then_signal(self, signum: int, _frame: Any) -> None:
        self.flush_and_stop()
        signal.signal(signum, self._before[signum])
        signal.raise_signal(signum)

    def flush_and_stop(self) -> None:
        """Write what is queued and end the thread (at exit; again: nothing)."""
        if self.listener._thread is not None:
            self.listener.stop()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.request_id = REQUEST_ID.get()
        return record


def logging_config(*, level: str = "INFO", json_lines: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: every logger (the service's,
    uvicorn's) through one ``BackgroundHandler`` to stderr, JSON or plain text;
    uvicorn's own access log is off (the request log, ``app.access``, says more)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": f"{__name__}.BackgroundHandler", "json_lines": json_lines}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }
