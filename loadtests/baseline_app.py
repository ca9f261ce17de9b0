"""The HTTP benchmark's baseline: a bare FastAPI app that validates a quote body.

``app`` has one endpoint, ``POST /v1/quote``, which validates the request
against the service's own ``QuoteBody`` (``app.api.schemas``) and answers a
small fixed JSON. No auth, middleware, storage, engine or response model:
what is left is uvicorn, Starlette/FastAPI routing and pydantic validation of
the same body, i.e. the most any FastAPI quote endpoint could do with this
body on this machine.

``python -m loadtests.baseline_app`` serves it with the *service's* uvicorn
settings by construction: it runs ``app.cli.serve.main()`` (settings from the
same environment: HOST, PORT, WORKERS, ...) with ``uvicorn.run`` swapped for
one that serves this app instead of ``app.main:app`` and keeps every other
argument the service passes (workers, loop, http, log level, access log,
lifespan, ...). It prints those arguments on start.

``python -m loadtests.baseline_app --canned`` instead serves a fixed HTTP/1.1
response from a bare asyncio protocol (no framework): the benchmark uses it to
measure its own load generator's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from fastapi import FastAPI

from app.api.schemas import QuoteBody

FIXED = {"baseline": True, "total": 0}
FIXED_BYTES = b'{"baseline":true,"total":0}'

app = FastAPI(title="quote baseline", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/v1/quote", response_model=None)
async def quote(body: QuoteBody) -> dict[str, Any]:  # noqa: ARG001 - validating it is the point
    return FIXED


# ------------------------------------------------------------------ served like the service


def serve_like_the_service() -> None:
    import uvicorn

    import app.cli.serve as service_main

    real_run = uvicorn.run

    def run(target: Any, /, *args: Any, **kwargs: Any) -> None:
        if args:
            raise SystemExit(f"baseline: unexpected positional uvicorn arguments {args!r}")
        print(
            f"baseline: service target {target!r} replaced by 'loadtests.baseline_app:app'; "
            f"uvicorn arguments as the service passes them: {kwargs!r}",
            flush=True,
        )
        real_run("loadtests.baseline_app:app", **kwargs)

    uvicorn.run = run
    try:
        service_main.main()
    finally:
        uvicorn.run = real_run


# ------------------------------------------------------------ canned server (generator ceiling)

_CANNED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(FIXED_BYTES),
    FIXED_BYTES,
)


class _Canned(asyncio.Protocol):
    """Answers every HTTP/1.1 request (with a Content-Length body) with ``_CANNED``."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                break
            del buffer[: end + 4 + length]
            answers += 1
        if answers and self.transport is not None:
            self.transport.write(_CANNED * answers)


def serve_canned(host: str, port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = await loop.create_server(_Canned, host, port, backlog=1024)
        print(f"canned: listening on {host}:{port}", flush=True)
        async with server:
            await stop.wait()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.baseline_app", description=__doc__)
    parser.add_argument("--canned", action="store_true", help="serve a fixed response instead")
    args = parser.parse_args()
    if args.canned:
        serve_canned(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8001")))
    else:
        serve_like_the_service()


if __name__ == "__main__":
    sys.exit(main())
