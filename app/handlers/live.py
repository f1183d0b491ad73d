"""The live list's websocket: moi's handler, with the pages' idea of who is signed in."""

from __future__ import annotations

from app.handlers.base import signed_in_user
from moi.websocket import MoiWebSocketHandler


class LiveHandler(MoiWebSocketHandler):
    async def prepare(self) -> None:
        self.current_user = await signed_in_user(self)
        super().prepare()  # refuses (403) a request without a user, before the upgrade
