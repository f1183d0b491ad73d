"""The websocket at ``/moi-ws/``: a logged-in user's live view of their group's jobs.

Mount it with the application's hub, and its probe (:class:`MoiProbeHandler`) next to it::

    (r"/moi-ws/", MoiWebSocketHandler, {"hub": application.moi_hub}),
    (r"/moi-ws/ready", MoiProbeHandler, {"hub": application.moi_hub}),

and ``await application.moi_hub.start()`` once the event loop runs. A ``cancel`` or
``remove`` of a 100,000-job list is one message of about 4 MB: Tornado's setting
``websocket_max_message_size`` (10 MiB by default) must let it through.
An app that can run its jobs again says how in the setting ``moi_again``
(:mod:`moi.again`).

The group is the logged-in user. By default the user is read from the signed cookie
named by the application setting ``moi_user_cookie`` (default ``"user"``); override
:meth:`MoiWebSocketHandler.get_current_user`, or :meth:`get_group`, to use another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.web import HTTPError, RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

from moi import again
from moi.hub import Hub
from moi.messages import (
    AGAIN,
    CLUSTER,
    FOLLOW,
    UNFOLLOW,
    ClientError,
    action,
    parse_client_message,
    shown,
)

log = logging.getLogger(__name__)

MAX_BUFFERED_BYTES = 64 * 1024 * 1024
RETRY_AFTER = 2
"""Seconds a refusal while Redis is away asks the client to wait (moi.js's longest wait)."""
FRAME_OVERHEAD = 10  # the most a websocket frame header adds to a server's message
TEXT_OPCODE = 0x1

# The one private Tornado call moi keeps. ``write_message`` wraps every frame in a new
# task; the hub sends each notice to every client of a group, and with 1,000 tabs of one
# group that took `make bench`'s latency.c1000_g1 from p50 9.9 ms / p99 79 ms (this call)
# to p50 25-51 ms / p99 131-169 ms (write_message), on the 2-core machine, 2026-11-30.
# tests/test_websocket.py::test_tornado_still_has_the_frame_writer_moi_uses fails on an
# upgrade that changes it; until then a missing one falls back to write_message.
_WRITE_FRAME = getattr(WebSocketProtocol13, "_write_frame", None)


class MoiWebSocketHandler(WebSocketHandler):
    """Pushes the group's job changes to one browser; takes ``get``, ``remove`` and
    ``cancel``, ``moi:follow`` / ``moi:unfollow`` for a job's output, ``moi:again`` and
    ``moi:cluster`` (watch the cluster's state)."""

    hub: Hub
    group: str

    def initialize(self, hub: Hub) -> None:
        self.hub = hub
        self.joined = False
        self._snapshot_bytes = 0  # of snapshots still in the write buffer
        self.snapshot_written: asyncio.Future | None = None
        """The write of the last snapshot while it is in the buffer; None once written."""

    def get_current_user(self) -> str | None:
        return cookie_user(self)

    def get_group(self) -> str | None:
        """The moi group of this connection: the logged-in user."""
        return self.current_user

    def prepare(self) -> Awaitable[None] | None:  # as tornado types it
        """Refuse anyone not logged in, and everyone while Redis is away, before the upgrade.

        A refused upgrade costs the server nothing more, and the page tries again later,
        with growing waits (moi.js).
        """
        group = self.get_group()
        if not group:
            raise HTTPError(403, "log in to watch jobs")
        self.refuse_while_away()
        self.group = group
        return None

    def refuse_while_away(self) -> None:
        """Answer 503 while the hub waits for Redis: the socket could not join."""
        if not self.hub.available:
            self.set_header("Retry-After", str(RETRY_AFTER))
            raise HTTPError(503)  # no log message: the hub logs the outage

    async def open(self) -> None:
        self.set_nodelay(True)  # small messages, sent at once: no Nagle delay
        self.buffer_limit = self.settings.get("moi_max_buffered_bytes", MAX_BUFFERED_BYTES)
        self._set_buffer_limit()
        try:
            await self.hub.join(self)
        except Exception as error:
            log.warning("moi websocket of group %r could not join the hub: %s", self.group, error)
            self.close(1011, "job updates are unavailable; try again later")
            return
        if self.ws_connection is None or self.ws_connection.is_closing():
            self.hub.leave(self)  # it went while it joined: on_close found nothing to leave
            return
        self.joined = True

    def on_close(self) -> None:
        if self.joined:
            self.joined = False
            self.hub.leave(self)

    async def on_message(self, message: str | bytes) -> None:
        try:
            name, value = parse_client_message(message)
            if name == "get":
                await self.hub.resend(self)
            elif name == "remove":
                await self.remove(value)
            elif name == "cancel":
                await self.cancel(value)
            elif name == FOLLOW:
                await self.follow(*value)
            elif name == UNFOLLOW:
                self.hub.output.unfollow(self, value)
            elif name == AGAIN:
                hook = self.settings.get(again.SETTING)
                await again.run_again(self.hub.redis, hook, self.group, value)
            elif name == CLUSTER:
                await self.watch_cluster(value)
        except ClientError as error:
            self.send(action("error", str(error)))
        except Exception as error:  # Redis failed us: the client's view may be stale
            log.warning("moi websocket of group %r failed to answer: %s", self.group, error)
            self.close(1011, "job updates are unavailable; try again later")

    async def remove(self, ids: list[str]) -> None:
        strangers = await self.hub.remove(self.group, ids)
        if strangers:
            raise ClientError(f"not jobs of yours: {shown(strangers)}; nothing was removed")

    async def cancel(self, ids: list[str]) -> None:
        strangers, ended = await self.hub.cancel(self.group, ids)
        if strangers:
            raise ClientError(f"not jobs of yours: {shown(strangers)}; nothing was cancelled")
        if ended and len(ids) == 1:
            raise ClientError(f"already ended, left as they were: {shown(ended)}")
        if ended:  # one error for the list, however many had ended
            raise ClientError(
                f"{len(ended)} of the {len(ids)} jobs had already ended, left as they were: "
                f"{shown(ended)}"
            )

    async def watch_cluster(self, watch: bool) -> None:
        if not watch:
            self.hub.cluster.unwatch(self)
            return
        await self.hub.cluster.watch(self)
        if not self.joined:  # it went while the report was read: on_close found no watch
            self.hub.cluster.unwatch(self)

    async def follow(self, job_id: str, since: int) -> None:
        await self.hub.output.follow(self, job_id, since)
        if not self.joined:  # it went while the job was read: on_close found no follow
            self.hub.output.leave(self)

    def get_compression_options(self) -> None:
        """No compression: updates are small, and the same bytes go to every client."""
        return None

    def send_all(self, messages: list[bytes]) -> None:
        """Queue a whole snapshot, allowing the buffer its size on top of the usual limit.

        A snapshot is what the client asked for, and its size is bounded by the group's
        jobs: dropping the client for it would only make it ask again, forever. Once it
        has been written out, the usual limit holds again.
        """
        if self.ws_connection is None or self.ws_connection.is_closing() or not messages:
            return
        size = sum(len(message) + FRAME_OVERHEAD for message in messages)
        self._snapshot_bytes += size
        self._set_buffer_limit()
        for message in messages[:-1]:
            self.send(message)
        last = self.send(messages[-1], tracked=True)  # done once all of it is written

        def written(future: object) -> None:
            self._snapshot_bytes -= size
            self._set_buffer_limit()
            if self.snapshot_written is future:
                self.snapshot_written = None  # a finished task is no use to keep per socket

        if last is None:
            written(None)
        else:
            last.add_done_callback(written)
            self.snapshot_written = last

    def _set_buffer_limit(self) -> None:
        connection = self.ws_connection
        stream = getattr(connection, "stream", None)
        if stream is not None:
            stream.max_write_buffer_size = self.buffer_limit + self._snapshot_bytes

    def send(self, data: bytes, *, tracked: bool = False) -> asyncio.Future | None:
        """Queue a text frame without waiting; a closed client is left to ``on_close``.

        The hub calls this for every client of a group on every change, so it writes the
        frame straight to Tornado's stream (see ``_WRITE_FRAME``); ``tracked`` writes it
        with ``write_message`` instead and returns its future, done once it has been
        written. A client that lets more than ``MAX_BUFFERED_BYTES`` (application setting
        ``moi_max_buffered_bytes``) pile up is closed: it reconnects and resyncs, and no one
        else waits for it.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return None
        try:
            if _WRITE_FRAME is not None and not tracked:
                connection._write_frame(True, TEXT_OPCODE, data)  # type: ignore[attr-defined]
                return None
            future = self.write_message(data)
        except (WebSocketClosedError, StreamClosedError):
            return None
        except StreamBufferFullError:
            log.warning("moi websocket of group %r fell too far behind; dropping it", self.group)
            if connection.stream is not None:
                connection.stream.close()  # no close handshake: nothing more fits
            return None
        future.add_done_callback(_consume)
        return future


def cookie_user(handler: RequestHandler) -> str | None:
    """The user in the signed cookie named by the setting ``moi_user_cookie`` ("user")."""
    value = handler.get_signed_cookie(handler.settings.get("moi_user_cookie", "user"))
    return value.decode() if value else None


def _consume(future: asyncio.Future) -> None:
    """Retrieve a write's outcome: a closed socket is handled by ``on_close``."""
    if not future.cancelled():
        future.exception()


class MoiProbeHandler(RequestHandler):
    """``GET``: would the websocket let this browser in now? moi.js asks when its socket
    could not open, since a browser does not see why an upgrade was refused.

    200 yes; 401 for a request with no logged-in user, and then the page stops
    reconnecting; 503 (with ``Retry-After``) while the hub waits for Redis, and then the
    page asks again after a while. While the hub is away an answer waits up to
    :attr:`hold` seconds for it to come back, and says 200 as soon as it does (the hub
    lets the waiting pages go over a second or two, not all at once: see
    :meth:`moi.hub.Hub.until_available`). So a page learns of the return at once, and asks
    about once per ``hold`` plus its backoff meanwhile. Whether the hub is there costs no
    Redis round trip: the hub knows.
    """

    hold = 4.0
    """Seconds an answer waits for the hub to come back (moi.js gives up after 8)."""

    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    def get_current_user(self) -> str | None:
        return cookie_user(self)

    async def logged_in(self) -> bool | None:
        """Whether the request has a logged-in user; None if that cannot be told now
        (answered 503). Override it where the websocket finds its user another way."""
        return bool(self.current_user)

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        available = self.hub.available or await self.hub.until_available(self.hold)
        logged_in = await self.logged_in() if available else None
        if logged_in is None:
            self.set_header("Retry-After", str(RETRY_AFTER))
            self.set_status(503)
            self.finish("away")
        elif not logged_in:
            self.set_status(401)
            self.finish("signed out")
        else:
            self.finish("ready")
