"""Local sinks on 127.0.0.1 (ephemeral ports) that channels deliver to in tests.

`HttpSink` is a tiny HTTP/1.1 server on asyncio: each request is recorded and answered by a
`Behaviour` the test sets (a status, headers, a body, a delay, a drip of bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    target: str  # path and query
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0  # before answering
    drip_s: float | None = None  # send the body one byte per drip_s (a slow loris)
    huge: int = 0  # then this many more bytes of body


Respond = Callable[[Received], Behaviour]


class HttpSink:
    def __init__(self, respond: Respond | None = None) -> None:
        self.received: list[Received] = []
        self.respond: Respond = respond or (lambda _: Behaviour())
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> HttpSink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, target, headers, body)
                self.received.append(request)
                behaviour = self.respond(request)
                await asyncio.sleep(behaviour.delay_s)
                total = len(behaviour.body) + behaviour.huge
                extra = "".join(f"{k}: {v}\r\n" for k, v in behaviour.headers.items())
                writer.write(f"HTTP/1.1 {behaviour.status} X\r\nContent-Length: {total}\r\n{extra}\r\n".encode())
                if behaviour.drip_s is not None:
                    for byte in behaviour.body:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(behaviour.drip_s)
                else:
                    writer.write(behaviour.body)
                chunk = b"x" * 65536
                left = behaviour.huge
                while left > 0:
                    writer.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
                    await writer.drain()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
