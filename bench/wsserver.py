"""The websocket server that items 3 to 5 measure, run as a process of its own.

``python -m bench.wsserver --redis-url URL`` serves on 127.0.0.1, on a free port it
prints as ``listening on <port>`` once it accepts connections:

``/moi-ws/``
    moi's :class:`~moi.websocket.MoiWebSocketHandler` on a :class:`~moi.hub.Hub`: what is
    measured. The group is the signed cookie ``user``, as in the demo app.
``/bare-ws/``
    a Tornado websocket that does nothing, no login: the floor of memory per client.
``/login?user=NAME&next=PATH``
    sets the signed cookie without a password (a bench on loopback), then redirects.
``/list``, ``/floor-list``, ``/floor.json?group=NAME``
    the browser pages of item 5: the live list (``moi.js`` + ``moi_list.js``), and its
    floor, the same records fetched as one JSON array and rendered in one loop.
``/bench/gc``
    the pauses of the server's full garbage collections since the last ``?reset=1``:
    while one runs, no client gets anything, so they show in the latency tails.

The floor of fan-out: every message on the Redis channel :data:`RELAY_CHANNEL` is
written as it is to every connected moi websocket, with the handler's own ``send``
but none of the hub's work (no lookup, no MGET, no lock). SIGTERM stops the server, and
so does the end of its stdin (the bench that started it is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import signal
import stat
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

import moi
from moi import keys
from moi.hub import Hub
from moi.websocket import MoiWebSocketHandler

COOKIE_SECRET = "moi-bench-cookie-secret-loopback-only"
RELAY_CHANNEL = "bench-relay"
READY = "listening on "
PAGES = Path(__file__).parent / "pages"
BACKLOG = 4096  # load generators open hundreds of connections at once
SHUTDOWN_TIMEOUT = 5


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit; return the new soft limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class GcPauses:
    """Milliseconds each full (generation 2) collection of this process took."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1e3)


class GcHandler(tornado.web.RequestHandler):
    def initialize(self, pauses: GcPauses) -> None:
        self.gc = pauses

    def get(self) -> None:
        self.write({"pauses_ms": self.gc.pauses})
        if self.get_argument("reset", ""):
            self.gc.pauses = []


class BareWebSocket(tornado.websocket.WebSocketHandler):
    """A websocket that holds the connection and nothing else."""

    def get_compression_options(self) -> None:
        return None


class LoginHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_signed_cookie("user", self.get_argument("user"))
        target = self.get_argument("next", "/list")
        if not target.startswith("/") or target.startswith("//"):
            raise tornado.web.HTTPError(400, "next must be a path on this site")
        self.redirect(target)


class PageHandler(tornado.web.RequestHandler):
    def initialize(self, name: str) -> None:
        self.name = name

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write((PAGES / self.name).read_bytes())


class RecordsHandler(tornado.web.RequestHandler):
    """The group's stored records as one JSON array, read the cheapest way."""

    def initialize(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self) -> None:
        group = self.get_argument("group")
        ids = sorted(await self.redis.smembers(keys.group_jobs_key(group)))
        raws = await self.redis.mget([keys.job_key(i) for i in ids]) if ids else []
        self.set_header("Content-Type", "application/json")
        self.write(b"[" + b",".join(raw for raw in raws if raw) + b"]")


def make_app(hub: Hub, redis: aioredis.Redis, pauses: GcPauses) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/bench/gc", GcHandler, {"pauses": pauses}),
            (r"/moi-ws/", MoiWebSocketHandler, {"hub": hub}),
            (r"/bare-ws/", BareWebSocket),
            (r"/login", LoginHandler),
            (r"/list", PageHandler, {"name": "list.html"}),
            (r"/floor-list", PageHandler, {"name": "floor.html"}),
            (r"/floor.json", RecordsHandler, {"redis": redis}),
            (r"/moi-static/(.*)", tornado.web.StaticFileHandler, {"path": moi.static_path()}),
            (r"/bench-static/(.*)", tornado.web.StaticFileHandler, {"path": str(PAGES)}),
        ],
        cookie_secret=COOKIE_SECRET,
    )


async def relay(hub: Hub, pubsub) -> None:
    """The fan-out floor: each message on :data:`RELAY_CHANNEL` goes to every moi client."""
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        for clients in list(hub.clients.values()):
            for client in list(clients):
                client.send(message["data"])


async def parent_gone(stop: asyncio.Event) -> None:
    """Stop at the end of stdin: the bench that started this server is gone."""
    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        return  # run by hand: SIGTERM or Ctrl-C stops it
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    stop.set()


async def serve(redis_url: str) -> None:
    """Serve until SIGTERM or the end of stdin; say so once the relay is subscribed."""
    hub = Hub(redis_url)
    redis = aioredis.Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(RELAY_CHANNEL)
    server = tornado.httpserver.HTTPServer(make_app(hub, redis, GcPauses()))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=BACKLOG)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(relay(hub, pubsub)), asyncio.create_task(parent_gone(stop))]
    print(f"{READY}{sockets[0].getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        server.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception, TimeoutError):
            await asyncio.wait_for(hub.close(), SHUTDOWN_TIMEOUT)
        with contextlib.suppress(Exception, TimeoutError):
            await asyncio.wait_for(pubsub.aclose(), SHUTDOWN_TIMEOUT)
        with contextlib.suppress(Exception, TimeoutError):
            await asyncio.wait_for(redis.aclose(), SHUTDOWN_TIMEOUT)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wsserver")
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(serve(args.redis_url))


if __name__ == "__main__":
    main()
