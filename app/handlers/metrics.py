"""``/metrics``: moi's Prometheus metrics (:mod:`moi.metrics`) and the process's own.

Read by a Prometheus server, not by people: it answers only to the addresses of
``[app] metrics_from`` (others get 403) and needs no sign-in. It does not check the
``Host`` header, since a scraper names the server by its address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

import moi.metrics  # noqa: F401  (registers moi's metrics)

if TYPE_CHECKING:
    from app.application import Application


class MetricsHandler(tornado.web.RequestHandler):
    application: Application

    def get(self) -> None:
        if not self.application.app_settings.allows_metrics(self.request.remote_ip or ""):
            raise tornado.web.HTTPError(403)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.write(generate_latest(REGISTRY))


def routes(enabled: bool) -> list:
    return [(r"/metrics", MetricsHandler)] if enabled else []
