"""The cluster page: engines, jobs waiting and jobs per minute, live.

The page is a frame: its figures come over the live list's websocket (``moi:cluster``,
:mod:`moi.clusterfeed`), so a signed-in user sees them change as the dispatcher reports,
and nothing polls.
"""

from __future__ import annotations

import tornado.web

from app.handlers.base import BaseHandler


class ClusterHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.render("cluster/index.html")


routes = [(r"/cluster", ClusterHandler)]
