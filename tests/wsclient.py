"""A served moi websocket for tests, and a client that waits on messages with deadlines.

Every socket a test opens through :class:`Served` is closed when :func:`serve`'s block
ends, and the closing is awaited at both ends (as tornado's own websocket tests keep
``conns_to_close``), so none is left open for the garbage collector of a later test to
report as unclosed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.web
import tornado.websocket
from tornado.httpclient import HTTPRequest
from tornado.testing import bind_unused_port

from moi.hub import Hub
from moi.websocket import MoiProbeHandler, MoiWebSocketHandler

COOKIE_SECRET = "test-secret-not-for-production"


@dataclass
class Served:
    port: int
    hub: Hub
    closed: asyncio.Queue
    handlers: list  # the server's side of every socket that joined, in order
    server_sides: list = field(default_factory=list)  # every one that opened, joined or not
    clients: list[WsClient] = field(default_factory=list)  # every client the test opened
    stalled: list[asyncio.StreamWriter] = field(default_factory=list)

    async def left(self, timeout: float = 10) -> None:
        """Wait until the server has seen a client go, and the hub has caught up."""
        await asyncio.wait_for(self.closed.get(), timeout)
        await asyncio.wait_for(self.hub.settled(), timeout)

    def request(self, user: str | None, origin: str | None = None) -> HTTPRequest:
        headers = {}
        if user is not None:
            signed = tornado.web.create_signed_value(COOKIE_SECRET, "user", user).decode()
            headers["Cookie"] = f"user={signed}"
        if origin is not None:
            headers["Origin"] = origin
        return HTTPRequest(f"ws://127.0.0.1:{self.port}/moi-ws/", headers=headers)

    async def probe(self, user: str | None) -> tuple[int, str]:
        """The status and body of the websocket's probe, for ``user``'s cookie."""
        request = self.request(user)
        request.url = f"http://127.0.0.1:{self.port}/moi-ws/ready"
        client = tornado.httpclient.AsyncHTTPClient()
        answer = await client.fetch(request, raise_error=False)
        return answer.code, answer.body.decode()

    async def connect_stalled(self, user: str) -> asyncio.StreamWriter:
        """A websocket that completes the handshake and then stops reading.

        asyncio stops reading the socket once 64 KiB wait unread, so the server's
        writes soon pile up in its own buffer.
        """
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=65536)
        self.stalled.append(writer)
        cookie = self.request(user).headers["Cookie"]
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /moi-ws/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n".encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        return writer

    async def connect(self, user: str | None, origin: str | None = None) -> WsClient:
        return await self.open(self.request(user, origin))

    async def open(self, request: HTTPRequest) -> WsClient:
        """A websocket on ``request``, closed at the end of the block if the test has not."""
        client = WsClient(await tornado.websocket.websocket_connect(request))
        self.clients.append(client)
        return client

    async def close_all(self, timeout: float = 10) -> None:
        """Close every socket the test opened and wait until each is closed at both ends."""
        async with asyncio.timeout(timeout):
            for client in self.clients:
                await client.aclose()
            for writer in self.stalled:
                writer.close()
                with contextlib.suppress(OSError):  # the server may have reset it
                    await writer.wait_closed()
            for handler in self.server_sides:  # each closes once its client has
                await handler.gone


class WsClient:
    """A websocket client whose reads fail the test after a deadline instead of hanging."""

    def __init__(self, conn: tornado.websocket.WebSocketClientConnection) -> None:
        self.conn = conn
        self._stream = conn.protocol.stream  # the socket, to tell when it is closed

    async def send(self, message: object) -> None:
        text = message if isinstance(message, str | bytes) else json.dumps(message)
        await self.conn.write_message(text)

    async def next(self, timeout: float = 10) -> dict:
        text = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert text is not None, "the server closed the socket"
        return json.loads(text)

    async def until(self, predicate, timeout: float = 30) -> list[dict]:
        """Read until a message satisfies ``predicate``; return every message read."""
        seen = []
        async with asyncio.timeout(timeout):
            while True:
                seen.append(await self.next(timeout))
                if predicate(seen[-1]):
                    return seen

    async def snapshot(self) -> dict[str, dict]:
        """Read an on-open (or ``get``) snapshot: one add, then the jobs' info in
        ``update`` messages (lists of up to 1,000, PROTOCOL.md 1.1), in the add's order."""
        first = await self.next()
        assert set(first) == {"add"}, first
        infos: dict[str, dict] = {}
        while len(infos) < len(first["add"]):
            value = (await self.next())["update"]
            for info in value if isinstance(value, list) else [value]:
                infos[info["id"]] = info
        assert list(infos) == first["add"]
        return infos

    def close(self) -> None:
        """Start the closing handshake; :meth:`aclose` also waits for its end."""
        self.conn.close()

    async def aclose(self, timeout: float = 10) -> None:
        """Close the socket, and wait until the server has answered and it is closed."""
        await close_and_wait(self.conn, timeout, self._stream)


async def close_and_wait(
    conn: tornado.websocket.WebSocketClientConnection,
    timeout: float = 10,
    stream: tornado.iostream.IOStream | None = None,
) -> None:
    """Close a Tornado websocket client, and wait until the server has answered and its
    socket is closed, so that none is left for a later test's garbage collector.

    Messages still on their way are read and dropped: Tornado reads no further frame,
    the server's close among them, until the one before it has been taken. ``stream`` is
    the socket's, for a connection whose ``close`` was called before (which forgets it).
    """
    if stream is None and conn.protocol is not None:
        stream = conn.protocol.stream
    conn.close()
    if stream is None:
        return
    async with asyncio.timeout(timeout):
        while not stream.closed():
            await conn.read_message()  # None once it is closed


@contextlib.asynccontextmanager
async def serve(
    redis_url: str, key_ttl: int = 3600, hub: Hub | None = None, **settings
) -> AsyncIterator[Served]:
    """A minimal app with the moi websocket and a signed-cookie login, on a free port."""
    hub = hub or Hub(redis_url, key_ttl)
    closed: asyncio.Queue = asyncio.Queue()

    handlers: list[MoiWebSocketHandler] = []
    server_sides: list[MoiWebSocketHandler] = []

    class Handler(MoiWebSocketHandler):
        def initialize(self, hub: Hub) -> None:
            super().initialize(hub)
            self.gone = asyncio.get_running_loop().create_future()

        async def open(self) -> None:
            server_sides.append(self)
            await super().open()
            handlers.append(self)

        def on_close(self) -> None:
            super().on_close()
            closed.put_nowait(self)
            if not self.gone.done():
                self.gone.set_result(None)

    app = tornado.web.Application(
        [(r"/moi-ws/", Handler, {"hub": hub}), (r"/moi-ws/ready", MoiProbeHandler, {"hub": hub})],
        cookie_secret=COOKIE_SECRET,
        **settings,
    )
    sock, port = bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    served = Served(port, hub, closed, handlers, server_sides)
    try:
        yield served
    finally:
        try:
            await served.close_all()
        finally:
            server.stop()
            await server.close_all_connections()
            await hub.close()


def run(coroutine_function):
    """Run an async test body on a fresh event loop (the tests need no plugin)."""
    import functools

    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        return asyncio.run(coroutine_function(*args, **kwargs))

    return wrapper
