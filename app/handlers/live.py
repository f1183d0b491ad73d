"""The live list's websocket: moi's handler, with the pages' idea of who is signed in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tornado.web import HTTPError

from app.handlers.base import check_host, session_id, signed_in
from app.outage import REDIS_DOWN
from moi.websocket import MoiWebSocketHandler

if TYPE_CHECKING:
    from app.application import Application


class LiveHandler(MoiWebSocketHandler):
    application: Application

    async def prepare(self) -> None:
        check_host(self)
        self.session = session_id(self)
        try:
            found = await signed_in(self)
        except REDIS_DOWN as error:
            self.application.redis_outage.failed(error)
            raise HTTPError(503) from None  # refused before the upgrade; the page retries
        self.current_user = found[0] if found else None
        super().prepare()  # refuses (403) a request without a user, before the upgrade

    async def open(self) -> None:
        # Closed at once if its session is signed out, in this process or another.
        assert self.session is not None  # prepare let only a signed-in request through
        self.application.signouts.add(self.session, self)
        await super().open()

    def on_close(self) -> None:
        if self.session is not None:
            self.application.signouts.discard(self.session, self)
        super().on_close()
