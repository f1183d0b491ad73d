"""The live list's websocket and its probe: moi's handlers, with the pages' idea of who
is signed in.

The probe (``/moi-ws/ready``, which moi.js asks when its socket could not open) answers
401 once the session is gone, so an open page goes to the sign-in page however the
session ended; while Redis is away it answers 503 without asking Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tornado.web import HTTPError

from app.accounts import group_of
from app.handlers.base import check_host, session_id, signed_in
from app.outage import REDIS_DOWN
from moi.websocket import MoiProbeHandler, MoiWebSocketHandler

if TYPE_CHECKING:
    from app.application import Application


class LiveHandler(MoiWebSocketHandler):
    application: Application
    account_id: str | None = None
    """The signed-in user's account, as :func:`signed_in` checked it."""
    retried_by_pages = True
    """Its 503s are logged at debug level: every open page retries (app.application)."""

    async def prepare(self) -> None:
        check_host(self)
        self.refuse_while_away()  # before the session is read: no Redis round trip in vain
        self.session = session_id(self)
        try:
            found = await signed_in(self)
        except REDIS_DOWN as error:
            self.application.redis_outage.failed(error)
            raise HTTPError(503) from None  # refused before the upgrade; the page retries
        self.current_user, self.account_id = found if found else (None, None)
        super().prepare()  # refuses (403) a request without a user, before the upgrade

    def get_group(self) -> str | None:
        """The account's group (:func:`app.accounts.group_of`), as the pages have it."""
        if not self.current_user or self.account_id is None:
            return None
        return group_of(self.current_user, self.account_id)

    async def open(self) -> None:
        # Closed at once if its session is signed out, in this process or another.
        assert self.session is not None  # prepare let only a signed-in request through
        self.application.signouts.add(self.session, self)
        await super().open()

    def on_close(self) -> None:
        if self.session is not None:
            self.application.signouts.discard(self.session, self)
        super().on_close()


class LiveProbeHandler(MoiProbeHandler):
    """``/moi-ws/ready``: 200 if the live list's socket would be let in, 401 if the session
    is gone, 503 while Redis is away."""

    application: Application
    retried_by_pages = True

    async def prepare(self) -> None:
        check_host(self)

    async def logged_in(self) -> bool | None:
        try:
            return await signed_in(self) is not None
        except REDIS_DOWN as error:
            self.application.redis_outage.failed(error)
            return None
