"""The upstream connections of one app process, in several small pools.

httpx keeps a transport's connections in one httpcore pool, which re-examines every one of
them whenever a request starts or ends: an expiry check each (a ``poll()`` of the socket
and anyio's socket attributes, ``getpeername()`` among them) and, for each idle one, a
count over all of them. With the hundreds of streams of a busy arena in one pool, that
bookkeeping grew with the square of the streams and took the app's event loop: 200
battles started at once waited seconds for their first token (docs/benchmarks.md, "Load").
Here each request goes to the small pool with the fewest requests in flight (the first on
a tie, so that a lone request keeps reusing the same kept-alive connections).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx

#: Connections in one pool: its bookkeeping per request stays a few hundred checks.
SHARD_CONNECTIONS = 32


class ShardedTransport(httpx.AsyncBaseTransport):
    """``max_connections`` in all, in pools of at most :data:`SHARD_CONNECTIONS`."""

    def __init__(self, max_connections: int, retries: int = 1) -> None:
        shards = max(1, math.ceil(max_connections / SHARD_CONNECTIONS))
        size = math.ceil(max(1, max_connections) / shards)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.shards = [
            httpx.AsyncHTTPTransport(retries=retries, limits=limits) for _ in range(shards)
        ]
        self.in_flight = [0] * shards  # requests sent and not yet closed, per pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        k = min(range(len(self.shards)), key=self.in_flight.__getitem__)
        self.in_flight[k] += 1
        try:
            response = await self.shards[k].handle_async_request(request)
        except BaseException:
            self._done(k)
            raise
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, self, k),
            extensions=response.extensions,
        )

    def _done(self, k: int) -> None:
        self.in_flight[k] -= 1

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


class _Counted(httpx.AsyncByteStream):
    """A response's body; closing it counts the request out of its pool."""

    def __init__(self, stream: httpx.AsyncByteStream, owner: ShardedTransport, k: int) -> None:
        self._stream, self._owner, self._k = stream, owner, k
        self._open = True

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The body's own iterator: no generator of ours between a token and its reader.
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._owner._done(self._k)
        await self._stream.aclose()
