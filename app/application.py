"""The Tornado application: routes, settings, and the shared objects handlers use.

``create_app`` builds it from settings and connects to nothing. The application owns
its connections: the moi client (jobs), the hub (live updates) and a Redis client
(accounts). :meth:`Application.start` connects them on the running event loop and
:meth:`Application.close` closes them, as ``app.__main__`` and the tests do.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import tornado.httputil
import tornado.web
from tornado.log import access_log

import moi
from app import proxies, samples, templating
from app import settings as app_config
from app.accounts import Accounts
from app.handlers import account, api, auth, cluster, jobpage, jobs, metrics, results
from app.handlers.base import COOKIE_DAYS, USER_COOKIE, NotFoundHandler
from app.handlers.live import LiveHandler, LiveProbeHandler
from app.outage import Outage
from app.sessions import Sessions, Signouts
from app.tokens import Tokens
from moi import again, connections
from moi.client import Client
from moi.config import Settings
from moi.hub import Hub
from moi.messages import MAX_CLIENT_MESSAGE_BYTES

STATIC_DIR = Path(__file__).parent / "static"
MOI_STATIC_PREFIX = "/moi-static/"


class Application(tornado.web.Application):
    """The demo site. Owns the moi client, the pub/sub hub and the Redis client for accounts."""

    def __init__(
        self,
        settings: Settings,
        app_settings: app_config.AppSettings,
        cookie_secret: str,
        **overrides: Any,
    ) -> None:
        self.moi_settings = settings
        self.app_settings = app_settings
        # A burst waits for a free connection (redis_wait), rather than a 503 at the cap.
        self.redis = connections.pooled(
            settings.redis_url,
            max_connections=app_settings.redis_connections,
            wait=app_settings.redis_wait,
            decode_responses=True,
        )
        self.accounts = Accounts(
            self.redis, app_settings.account_days, app_settings.unused_account_days
        )
        self.sessions = Sessions(self.redis, COOKIE_DAYS)
        self.tokens = Tokens(self.redis, self.accounts, app_settings.token_days)
        self.signouts = Signouts(settings.redis_url, self.sessions)
        self.redis_outage = Outage(self.redis)
        self.moi = Client(settings)
        self.moi_hub = Hub(settings.redis_url, settings.key_ttl)
        self.jinja = templating.environment(auto_reload=app_settings.debug)
        routes = [
            *auth.routes,
            *jobs.routes,
            *results.routes,
            *jobpage.routes(self),
            *api.routes,
            *account.routes,
            *cluster.routes,
            *metrics.routes(app_settings.metrics),
            (r"/moi-ws/", LiveHandler, {"hub": self.moi_hub}),
            (r"/moi-ws/ready", LiveProbeHandler, {"hub": self.moi_hub}),
            (
                rf"{MOI_STATIC_PREFIX}(.*)",
                tornado.web.StaticFileHandler,
                {"path": moi.static_path()},
            ),
        ]
        tornado_settings: dict[str, Any] = {
            "cookie_secret": cookie_secret,
            "xsrf_cookies": True,
            "xsrf_cookie_kwargs": {"httponly": True, "samesite": "Lax"},
            "login_url": "/login",
            "static_path": str(STATIC_DIR),
            "default_handler_class": NotFoundHandler,
            "log_function": log_request,
            "moi_user_cookie": USER_COOKIE,
            # Ping idle sockets, so a browser that vanished without a word is noticed
            # and its group stops costing a subscription.
            "websocket_ping_interval": 30,
            # A cancel or hide of a 100,000-job list is one message of 4 MB; moi refuses
            # one over its own limit with an error, this one closes the socket.
            "websocket_max_message_size": MAX_CLIENT_MESSAGE_BYTES + 64 * 1024,
            # "Run again" on the live list: the samples' jobs submit again as their form.
            again.SETTING: functools.partial(samples.run_again, self.moi),
            # Debug without autoreload: a reload would re-exec this process and
            # orphan the Redis and cluster it started.
            "serve_traceback": app_settings.debug,
            "static_hash_cache": not app_settings.debug,
        }
        tornado_settings.update(overrides)
        super().__init__(routes, **tornado_settings)
        self._moi_versions: dict[str, str] = {}

    def find_handler(self, request: tornado.httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        """Before any handler sees a request: its client's address and scheme, from a
        trusted proxy's headers or else the connection (:mod:`app.proxies`)."""
        proxies.resolve(request, self.app_settings.trusted_networks)
        return super().find_handler(request, **kwargs)

    def moi_static_url(self, name: str) -> str:
        """URL of one of moi's browser scripts, with a content hash so caches refresh."""
        version = self._moi_versions.get(name)
        if version is None:
            version = tornado.web.StaticFileHandler.get_version(
                {"static_path": moi.static_path()}, name
            )
            self._moi_versions[name] = version or ""
        return f"{MOI_STATIC_PREFIX}{name}?v={version}" if version else MOI_STATIC_PREFIX + name

    async def start(self) -> None:
        """Connect to Redis and the cluster, and start the hub before any browser comes.

        :raises redis.RedisError, OSError: Redis does not answer.
        :raises Exception: whatever ipyparallel raises for a controller it cannot reach.
        """
        await self.moi.start()
        await self.moi_hub.start()
        await self.signouts.start()

    async def close(self) -> None:
        """Say goodbye to open websockets, then close the hub and Redis connections.

        The hub first finishes the work in hand (a group being forgotten after its last
        socket left), so nothing is cut off half-way through a Redis exchange.
        """
        for clients in list(self.moi_hub.clients.values()):
            for client in list(clients):
                client.close(1001, "server shutting down")
        await self.moi_hub.settled()
        await self.moi_hub.close()
        await self.signouts.close()
        await self.moi.aclose()
        await self.redis_outage.close()
        await self.redis.aclose()


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, but a 503 is a warning: it is an outage, logged once
    already, and an error line per request would bury everything else. A static file
    served is debug: a page's scripts and styles would be a third of the log."""
    status = handler.get_status()
    if status < 400 and isinstance(handler, tornado.web.StaticFileHandler):
        level = logging.DEBUG
    elif status < 400:
        level = logging.INFO
    elif status == 503 and getattr(handler, "retried_by_pages", False):
        level = logging.DEBUG  # the live list while Redis is away: every open page retries
    elif status < 500 or status == 503:
        level = logging.WARNING
    else:
        level = logging.ERROR
    request = handler.request
    access_log.log(
        level,
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        request.uri,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def create_app(
    settings: Settings, app_settings: app_config.AppSettings | None = None, **overrides: Any
) -> Application:
    """The application for ``settings``; ``overrides`` go to Tornado's settings (tests).

    Without ``[app] cookie_secret`` one is made once and kept in ``var_dir``.
    """
    app_settings = app_settings or app_config.AppSettings()
    secret = overrides.pop("cookie_secret", None) or app_config.cookie_secret(app_settings)
    return Application(settings, app_settings, secret, **overrides)
