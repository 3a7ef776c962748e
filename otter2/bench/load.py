"""
A small HTTP/1.1 load generator: keep-alive connections on asyncio, counting
answers per second. Runs in its own process so it does not share the
server's core.

test-case-name: tests.bench.test_load
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from attrs import frozen


@frozen
class LoadResult:
    """What one run measured."""

    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _read_chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def _connection(host: str, port: int, request: bytes, deadline: float,
                      counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            status_line = await reader.readline()
            length, chunked = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if chunked:
                await _read_chunks(reader)
            else:
                await reader.readexactly(length)
            counts[0 if status_line.split(b" ")[1:2] == [b"200"] else 1] += 1
    finally:
        writer.close()


async def _run(url: str, connections: int, seconds: float) -> LoadResult:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    counts = [0, 0]
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80,
                                       request, deadline, counts)
                           for _ in range(connections)))
    return LoadResult(counts[0], counts[1], time.monotonic() - start)


def measure(url: str, connections: int = 16, seconds: float = 5.0) -> LoadResult:
    """GET ``url`` over ``connections`` keep-alive connections for ``seconds``."""
    return asyncio.run(_run(url, connections, seconds))
