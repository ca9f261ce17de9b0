"""A TCP proxy in front of PostgreSQL that a test controls: the database's faults.

Modes, switchable at any moment:

* ``pass``: bytes flow both ways;
* ``stall``: connections stay open but nothing is forwarded either way
  (a frozen server, a partitioned network): callers wait for their deadline;
* ``refuse``: new connections are closed at once (the server is down);
* ``cut()``: every open connection is closed now (a failover, a crash); the
  mode stays what it was.

Each connection pumps both directions on the test's event loop; stalling
holds the bytes back (they are delivered if the mode goes back to ``pass``
before the connection is cut).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Mode = Literal["pass", "stall", "refuse"]


class PgProxy:
    def __init__(self, host: str = "127.0.0.1", port: int = 5432) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.mode: Mode = "pass"
        self.port = 0
        self.accepted = 0
        self.refused = 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/test"

    def set(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "stall":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def cut(self) -> None:
        """Close every open connection now."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> PgProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.set("pass")
        await self.cut()
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            self.refused += 1
            writer.close()
            return
        self.accepted += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        uwriter: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()
            ureader, uwriter = await asyncio.open_connection(*self._upstream)
            pumps = [
                asyncio.create_task(self._pump(creader, uwriter)),
                asyncio.create_task(self._pump(ureader, cwriter)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except OSError:
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()
                    with contextlib.suppress(OSError, ConnectionError, asyncio.CancelledError):
                        await w.wait_closed()
