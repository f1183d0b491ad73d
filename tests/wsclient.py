"""A served moi websocket for tests, and a client that waits on messages with deadlines."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import tornado.httpserver
import tornado.web
import tornado.websocket
from tornado.httpclient import HTTPRequest
from tornado.testing import bind_unused_port

from moi.hub import Hub
from moi.websocket import MoiWebSocketHandler

COOKIE_SECRET = "test-secret-not-for-production"


@dataclass
class Served:
    port: int
    hub: Hub
    closed: asyncio.Queue
    handlers: list  # the server's side of every socket that joined, in order

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

    async def connect_stalled(self, user: str) -> asyncio.StreamWriter:
        """A websocket that completes the handshake and then stops reading.

        asyncio stops reading the socket once 64 KiB wait unread, so the server's
        writes soon pile up in its own buffer.
        """
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=65536)
        cookie = self.request(user).headers["Cookie"]
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /moi-ws/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n".encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        return writer

    async def connect(self, user: str | None) -> WsClient:
        conn = await tornado.websocket.websocket_connect(self.request(user))
        return WsClient(conn)


class WsClient:
    """A websocket client whose reads fail the test after a deadline instead of hanging."""

    def __init__(self, conn: tornado.websocket.WebSocketClientConnection) -> None:
        self.conn = conn

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
        """Read an on-open (or ``get``) snapshot: one add, then an update for each job."""
        first = await self.next()
        assert set(first) == {"add"}, first
        infos = {}
        for _ in first["add"]:
            message = await self.next()
            infos[message["update"]["id"]] = message["update"]
        assert set(infos) == set(first["add"])
        return infos

    def close(self) -> None:
        self.conn.close()


@contextlib.asynccontextmanager
async def serve(
    redis_url: str, key_ttl: int = 3600, hub: Hub | None = None, **settings
) -> AsyncIterator[Served]:
    """A minimal app with the moi websocket and a signed-cookie login, on a free port."""
    hub = hub or Hub(redis_url, key_ttl)
    closed: asyncio.Queue = asyncio.Queue()

    handlers: list[MoiWebSocketHandler] = []

    class Handler(MoiWebSocketHandler):
        async def open(self) -> None:
            await super().open()
            handlers.append(self)

        def on_close(self) -> None:
            super().on_close()
            closed.put_nowait(self)

    app = tornado.web.Application(
        [(r"/moi-ws/", Handler, {"hub": hub})], cookie_secret=COOKIE_SECRET, **settings
    )
    sock, port = bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield Served(port, hub, closed, handlers)
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
