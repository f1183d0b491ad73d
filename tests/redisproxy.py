"""A TCP proxy in front of the test Redis that can delay every reply.

Against a local Redis a round trip takes well under a millisecond, so code that waits
on one synchronously on an event loop goes unnoticed. Behind this proxy, while it is
:meth:`~RedisProxy.slowed`, every reply arrives late, so such a wait stalls the loop
long enough to measure. What clients send passes at once and is watched
(:meth:`~RedisProxy.watch`), so a test can wait for a command to be on its way to Redis
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

CHUNK = 64 * 1024


class RedisProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_url``; replies ``delay`` seconds late.

    The proxy runs an event loop on a thread of its own; :meth:`stop` closes every
    connection and ends the thread.
    """

    def __init__(self, upstream_url: str, delay: float = 0.0) -> None:
        self.upstream = urlsplit(upstream_url)
        self.delay = delay
        self._watches: list[tuple[bytes, threading.Event]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    @property
    def url(self) -> str:
        """The upstream URL (same database) with the proxy's address instead."""
        return urlunsplit(self.upstream._replace(netloc=f"127.0.0.1:{self.port}"))

    def watch(self, pattern: bytes) -> threading.Event:
        """An event set once a client sends ``pattern`` (after this call) to Redis.

        Match the wire form, e.g. ``b"\\r\\nMULTI\\r\\n"`` for a transaction's start.
        """
        event = threading.Event()
        with self._lock:
            self._watches.append((pattern, event))
        return event

    @contextlib.contextmanager
    def slowed(self, delay: float) -> Iterator[None]:
        """Delay the replies Redis sends inside the block, so the rest of a test runs fast."""
        previous, self.delay = self.delay, delay
        try:
            yield
        finally:
            self.delay = previous

    def start(self) -> RedisProxy:
        self._thread.start()
        assert self._ready.wait(10), "the Redis proxy did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        assert not self._thread.is_alive(), "the Redis proxy did not stop"

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connections: set[asyncio.Task] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            connections.add(task)
            try:
                # A cancelled task here is logged as an error by asyncio's streams.
                with contextlib.suppress(asyncio.CancelledError):
                    await self._connection(reader, writer)
            finally:
                connections.discard(task)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()

    async def _connection(self, client_in, client_out) -> None:
        """Pump both directions until either side closes; then close both."""
        sockets = [client_out]
        pumps: list[asyncio.Task] = []
        try:
            server_in, server_out = await asyncio.open_connection(
                self.upstream.hostname, self.upstream.port
            )
            sockets.append(server_out)
            replies: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
            pumps = [
                asyncio.create_task(self._requests(client_in, server_out)),
                asyncio.create_task(self._read_replies(server_in, replies)),
                asyncio.create_task(self._send_replies(replies, client_out)),
            ]
            await asyncio.wait([pumps[0], pumps[2]], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Close before the first await: stop() may cancel this task right there.
            for pump in pumps:
                pump.cancel()
            for writer in sockets:
                writer.close()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in sockets:
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _requests(self, reader, writer) -> None:
        """Client → Redis, at once; sets the events of the patterns seen."""
        previous = b""
        while data := await reader.read(CHUNK):
            with self._lock:
                for pattern, event in self._watches:
                    # The end of the previous read, for a pattern split across two reads;
                    # too short to hold a whole pattern sent before the watch began.
                    carried = previous[max(0, len(previous) - len(pattern) + 1) :]
                    if pattern in carried + data:
                        event.set()
            previous = data
            writer.write(data)
            await writer.drain()

    async def _read_replies(self, reader, replies: asyncio.Queue) -> None:
        """Redis → queue: each chunk stamped with the time it may go on."""
        while data := await reader.read(CHUNK):
            replies.put_nowait((self._loop.time() + self.delay, data))
        replies.put_nowait(None)

    async def _send_replies(self, replies: asyncio.Queue, writer) -> None:
        """Queue → client, each chunk at its time, in the order Redis sent them."""
        while (item := await replies.get()) is not None:
            due, data = item
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            writer.write(data)
            await writer.drain()
