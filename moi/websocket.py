"""The websocket at ``/moi-ws/``: a logged-in user's live view of their group's jobs.

Mount it with the application's hub::

    (r"/moi-ws/", MoiWebSocketHandler, {"hub": application.moi_hub})

and ``await application.moi_hub.start()`` once the event loop runs.

The group is the logged-in user. By default the user is read from the signed cookie
named by the application setting ``moi_user_cookie`` (default ``"user"``); override
:meth:`MoiWebSocketHandler.get_current_user`, or :meth:`get_group`, to use another.
"""

from __future__ import annotations

import json
import logging

from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.web import HTTPError
from tornado.websocket import WebSocketHandler

from moi.hub import Hub, action

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
TEXT_OPCODE = 0x1
FRAME_OVERHEAD = 10  # the most a websocket frame header adds to a server's message


class ClientError(ValueError):
    """A client's message is refused; the text is sent back as ``{"error": text}``."""


class MoiWebSocketHandler(WebSocketHandler):
    """Pushes the group's job changes to one browser; takes ``remove`` and ``get``."""

    hub: Hub
    group: str

    def initialize(self, hub: Hub) -> None:
        self.hub = hub
        self.joined = False

    def get_current_user(self) -> str | None:
        name = self.settings.get("moi_user_cookie", "user")
        value = self.get_signed_cookie(name)
        return value.decode() if value else None

    def get_group(self) -> str | None:
        """The moi group of this connection: the logged-in user."""
        return self.current_user

    def prepare(self) -> None:
        """Refuse anyone not logged in, before the upgrade."""
        group = self.get_group()
        if not group:
            raise HTTPError(403, "log in to watch jobs")
        self.group = group

    async def open(self) -> None:
        self.set_nodelay(True)  # small messages, sent at once: no Nagle delay
        self.buffer_limit = self.settings.get("moi_max_buffered_bytes", MAX_BUFFERED_BYTES)
        self.ws_connection.stream.max_write_buffer_size = self.buffer_limit
        try:
            await self.hub.join(self)
        except Exception:
            log.exception("moi websocket of group %r could not join the hub", self.group)
            self.close(1011, "job updates are unavailable; try again later")
            return
        self.joined = True

    def on_close(self) -> None:
        if self.joined:
            self.joined = False
            self.hub.leave(self)

    async def on_message(self, message: str | bytes) -> None:
        try:
            name, value = self.parse(message)
            if name == "get":
                await self.hub.resend(self)
            elif name == "remove":
                await self.remove(value)
        except ClientError as error:
            self.send(action("error", str(error)))
        except Exception:  # Redis failed us: the client's view may be stale, so resync it
            log.exception("moi websocket of group %r failed to answer a message", self.group)
            self.close(1011, "job updates are unavailable; try again later")

    def parse(self, message: str | bytes) -> tuple[str, object]:
        """The one action of a client message, or :class:`ClientError` saying what is wrong."""
        size = len(message.encode() if isinstance(message, str) else message)
        if size > MAX_MESSAGE_BYTES:
            raise ClientError(f"message too large: {size} bytes, limit {MAX_MESSAGE_BYTES}")
        try:
            data = json.loads(message)
        except ValueError:
            raise ClientError("message is not valid JSON") from None
        except RecursionError:
            raise ClientError("message is nested too deeply") from None
        if not isinstance(data, dict) or len(data) != 1:
            raise ClientError('message must be a JSON object with one action, e.g. {"get": null}')
        ((name, value),) = data.items()
        if name == "get":
            if value is not None:
                raise ClientError("get takes null")
        elif name == "remove":
            if isinstance(value, str):
                value = [value]
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(job_id, str) for job_id in value)
            ):
                raise ClientError("remove takes a job ID or a non-empty list of job IDs")
        else:
            raise ClientError(f"unknown action {name!r}; known actions: get, remove")
        return name, value

    async def remove(self, ids: list[str]) -> None:
        strangers = await self.hub.remove(self.group, ids)
        if strangers:
            shown = ", ".join(strangers[:5]) + (" ..." if len(strangers) > 5 else "")
            raise ClientError(f"not jobs of yours: {shown}; nothing was removed")

    def get_compression_options(self) -> None:
        """No compression: updates are small, and :meth:`send` writes frames as they are."""
        return None

    def send_all(self, messages: list[bytes]) -> None:
        """Queue a whole snapshot, allowing the buffer its size on top of the usual limit.

        A snapshot is what the client asked for, and its size is bounded by the group's
        jobs: dropping the client for it would only make it ask again, forever.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        size = sum(len(message) + FRAME_OVERHEAD for message in messages)
        connection.stream.max_write_buffer_size = self.buffer_limit + size
        for message in messages:
            self.send(message)

    def send(self, data: bytes) -> None:
        """Queue a text frame without waiting; a closed client is left to ``on_close``.

        The hub calls this for every client of a group on every change, so it skips
        ``write_message``, which wraps each write in a new task; Tornado's stream
        buffers the frame and reports a broken connection to ``on_close``. A client
        that lets more than ``MAX_BUFFERED_BYTES`` (application setting
        ``moi_max_buffered_bytes``) pile up is closed: it reconnects
        and resyncs, and no one else waits for it.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        try:
            connection._write_frame(True, TEXT_OPCODE, data)
        except StreamClosedError:
            return
        except StreamBufferFullError:
            log.warning("moi websocket of group %r fell too far behind; dropping it", self.group)
            connection.stream.close()  # no close handshake: nothing more fits in the buffer
