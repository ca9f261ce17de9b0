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
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

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


class _Access(NamedTuple):
    """One request's access line, as the middleware hands it over (no ``LogRecord``)."""

    created: float
    method: str
    route: str
    status: int
    duration_ms: float
    request_id: str | None


# a JSON string of ``text`` as json.dumps(..., ensure_ascii=False) writes it
_quoted: Any = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)

_STOP = object()
_BATCH = 1024  # lines written at most in one write
_GATHER_SECONDS = 0.02  # after a write, the writer waits this long for more lines


class _Writer:
    """The thread that formats what the handler queued and writes every line queued
    at that moment in one ``write``, then waits ``_GATHER_SECONDS`` before the next:
    a busy process makes one system call (and one hand-over of the GIL) for many
    lines, not one for each; a line is written at most that much later."""

    def __init__(self, lines: queue.SimpleQueue[Any], target: logging.StreamHandler[TextIO]):
        self.queue = lines
        self.target = target
        self._json = isinstance(target.formatter, JsonFormatter)
        self._thread: threading.Thread | None = None
        self._second = -1
        self._prefix = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is not None:
            self.queue.put_nowait(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            written: list[str] = []
            stop = False
            for item in batch:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Access):
                    written.append(self._access(item))
                else:
                    try:
                        written.append(self.target.format(item) + self.target.terminator)
                    except Exception:
                        self.target.handleError(item)
            if written:
                try:
                    self.target.stream.write("".join(written))
                    self.target.stream.flush()
                except Exception:
                    self.target.handleError(logging.makeLogRecord({"msg": "log write failed"}))
            if stop:
                return
            # let lines gather: woken for each line, the thread would take the GIL
            # from the event loop and make a write for each, thousands a second
            time.sleep(_GATHER_SECONDS)

    def _access(self, line: _Access) -> str:
        if not self._json:  # plain text lines: through the formatter, as any record
            record = logging.makeLogRecord(
                {"name": ACCESS_LOGGER, "levelno": logging.INFO, "levelname": "INFO",
                 "msg": f"{line.method} {line.route} {line.status}", "created": line.created,
                 "msecs": (line.created % 1) * 1000})  # fmt: skip
            return self.target.format(record) + self.target.terminator
        # what JsonFormatter makes of the record ``access.info`` would have made, the
        # same fields in the same order, made from a template (json.dumps of a dict
        # held the thread, and the GIL, three times as long)
        rid = "" if line.request_id is None else f'"request_id": {_quoted(line.request_id)}, '
        return (
            f'{{"time": "{self._time(line.created)}", "level": "info", '
            f'"logger": "{ACCESS_LOGGER}", '
            f'"message": {_quoted(f"{line.method} {line.route} {line.status}")}, {rid}'
            f'"method": {_quoted(line.method)}, "route": {_quoted(line.route)}, '
            f'"status": {int(line.status)}, "duration_ms": {float(line.duration_ms)!r}}}'
            f"{self.target.terminator}"
        )

    def _time(self, created: float) -> str:
        """``created`` as JsonFormatter writes it (UTC, milliseconds), the date and
        the time to the second made once a second."""
        second = int(created)
        micro = round((created - second) * 1_000_000)
        if micro >= 1_000_000:
            second, micro = second + 1, 0
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{micro // 1000:03d}+00:00"


class BackgroundHandler(logging.handlers.QueueHandler):
    """Hands records to a thread that formats (JSON) and writes them to stderr, so
    the event loop pays for a record and a queue put, not for the JSON and the
    write; the thread writes what is queued in one ``write``. The request id is
    taken when the line is logged (the thread has no request); an exception's
    traceback is rendered then too. The request log's lines skip the record
    altogether (``access``). Lines still queued at exit are written: at a normal
    exit (``atexit``), and when a signal ends the process (uvicorn finishes its
    shutdown on SIGTERM, then raises the signal again with the handlers it found
    restored, and a process a signal ends runs no ``atexit``: so the handlers it
    finds are ours, which write what is queued and then let the signal do what it
    did before)."""

    def __init__(self, json_lines: bool = True, stream: TextIO | None = None) -> None:
        lines: queue.SimpleQueue[Any] = queue.SimpleQueue()
        super().__init__(lines)
        target = logging.StreamHandler(stream or sys.stderr)
        target.setFormatter(
            JsonFormatter()
            if json_lines
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        self.listener = _Writer(lines, target)
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

    def access(self, method: str, route: str, status: int, duration_ms: float) -> None:
        """The request log's line, queued as it is: no ``LogRecord``, no caller
        lookup, no copy (a few microseconds of the event loop instead of tens)."""
        self.queue.put_nowait(
            _Access(time.time(), method, route, status, duration_ms, REQUEST_ID.get())
        )


ACCESS_LOGGER = "app.access"


def sole_handler(logger: logging.Logger) -> BackgroundHandler | None:
    """The ``BackgroundHandler`` an INFO record of ``logger`` would reach, when it is
    the only handler on the way and no filter could stop the record (the request
    log then goes by ``BackgroundHandler.access``); None otherwise (a test's own
    handler, a filter: the record goes the usual way)."""
    found: BackgroundHandler | None = None
    current: logging.Logger | None = logger
    if logger.disabled:
        return None
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or not isinstance(handler, BackgroundHandler)
                or handler.filters
                or handler.level > logging.INFO
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


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
