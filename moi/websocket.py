"""The websocket at ``/moi-ws/``: a logged-in user's live view of their group's jobs.

Mount it with the application's hub::

    (r"/moi-ws/", MoiWebSocketHandler, {"hub": application.moi_hub})

The group is the logged-in user. By default the user is read from the signed cookie
named by the application setting ``moi_user_cookie`` (default ``"user"``); override
:meth:`MoiWebSocketHandler.get_current_user`, or :meth:`get_group`, to use another.
"""

from __future__ import annotations

import json
import logging

from tornado.web import HTTPError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from moi.hub import Hub, action

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
MAX_IDS_PER_MESSAGE = 10_000


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

    def parse(self, message: str | bytes) -> tuple[str, object]:
        """The one action of a client message, or :class:`ClientError` saying what is wrong."""
        if len(message) > MAX_MESSAGE_BYTES:
            raise ClientError(f"message too large: {len(message)} bytes, limit {MAX_MESSAGE_BYTES}")
        try:
            data = json.loads(message)
        except ValueError:
            raise ClientError("message is not valid JSON") from None
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
            if len(value) > MAX_IDS_PER_MESSAGE:
                raise ClientError(f"remove takes at most {MAX_IDS_PER_MESSAGE} IDs at once")
        else:
            raise ClientError(f"unknown action {name!r}; known actions: get, remove")
        return name, value

    async def remove(self, ids: list[str]) -> None:
        strangers = await self.hub.remove(self.group, ids)
        if strangers:
            shown = ", ".join(strangers[:5]) + (" ..." if len(strangers) > 5 else "")
            raise ClientError(f"not jobs of yours: {shown}; nothing was removed")

    def send(self, text: str) -> None:
        """Queue a message without waiting; a closed client is left to ``on_close``."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            self.write_message(text).add_done_callback(_consume_error)
        except WebSocketClosedError:
            return


def _consume_error(future) -> None:
    """Mark a failed write as seen: the close that caused it is handled by ``on_close``."""
    if not future.cancelled():
        future.exception()
