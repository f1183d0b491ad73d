"""What every page handler shares: the logged-in user, Jinja rendering, error pages."""

from __future__ import annotations

import http
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import tornado.httputil
import tornado.web
from markupsafe import Markup

from app.accounts import group_of
from app.outage import REDIS_DOWN
from moi.exceptions import ClusterError

if TYPE_CHECKING:
    from app.application import Application

USER_COOKIE = "user"
"""The signed cookie holding the session ID (:mod:`app.sessions`)."""
COOKIE_DAYS = 30
RETRY_AFTER = 10
"""Seconds a 503 asks the browser to wait before trying again."""

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?")


def session_id(handler: tornado.web.RequestHandler) -> str | None:
    """The session ID the request's signed cookie carries, if any."""
    value = handler.get_signed_cookie(USER_COOKIE, max_age_days=COOKIE_DAYS)
    return value.decode() if value else None


async def signed_in(handler: tornado.web.RequestHandler) -> tuple[str, str] | None:
    """The user of a request and their account's ID: a live session (:mod:`app.sessions`)
    of an account that still exists, and is still the account the session was opened for.

    Checked against Redis on each request (two reads), so a signed-out session, a
    deleted account or one re-made by someone else under the same name is signed out
    everywhere at once. Pages and the websocket both ask here, so they agree.
    """
    application = cast("Application", handler.application)
    found_id = session_id(handler)
    found = await application.sessions.find(found_id) if found_id else None
    if found is None:
        return None
    user, account = found
    if await application.accounts.account_id(user) != account:
        return None
    return found


class BaseHandler(tornado.web.RequestHandler):
    application: Application
    account_id: str | None = None
    """The signed-in user's account, as :meth:`find_user` checked it: the rest of the
    request goes by this, rather than reading the account again."""
    signed_out_notice = "signed-out"
    """The sign-in page's notice (``app.handlers.auth.NOTICES``) for a form of this
    handler refused because no one is signed in."""

    async def prepare(self) -> None:
        check_host(self)
        self.current_user = await self.find_user()

    async def find_user(self) -> str | None:
        """Who is asking: the signed-in user of the session cookie (the API also takes a
        token). Sets :attr:`account_id`."""
        found = await signed_in(self)
        if found is None:
            return None
        user, self.account_id = found
        return user

    @property
    def group(self) -> str:
        """The signed-in account's moi group (:func:`app.accounts.group_of`): every job
        the request submits, lists or opens is looked for there, never by the name."""
        assert self.current_user and self.account_id is not None  # signed in
        return group_of(self.current_user, self.account_id)

    def notice(self, notices: Mapping[str, str]) -> str | None:
        """The text of the page's ``?notice=`` code: only ever one of ``notices``, never
        words from the address."""
        return notices.get(self.get_query_argument("notice", ""))

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Every cookie of the site is Secure when the request came over TLS (a trusted
        proxy's X-Forwarded-Proto counts: :mod:`app.proxies`): Tornado's own ``_xsrf``
        cookie too, like the login's."""
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, *args, **kwargs)

    def set_default_headers(self) -> None:
        # Only our own scripts and styles run: a job result that slipped through as
        # markup still could not execute. The websocket is on this same host.
        host = self.request.host
        sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'{sockets}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render a Jinja2 template (Tornado's own template engine is not used)."""
        namespace = {
            "current_user": self.current_user,
            "request": self.request,
            "static_url": self.static_url,
            "moi_static_url": self.application.moi_static_url,
            "xsrf_form_html": lambda: Markup(self.xsrf_form_html()),
        }
        namespace.update(kwargs)
        template = self.application.jinja.get_template(template_name)
        return template.render(namespace).encode()

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        """No traceback per request for a service that is away: one line per outage."""
        if isinstance(value, REDIS_DOWN):
            self.application.redis_outage.failed(value)
        elif not isinstance(value, ClusterError):  # the moi client logs its outages
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors get a page in the site's layout; tracebacks only in debug mode.

        Redis or the cluster away is a 503 that says which, not a 500. A form refused
        (403) with no one signed in, from a page whose session ended (signed out in
        another tab, say), leads to the sign-in page and then back to that page.
        """
        if status_code == 403 and self.request.method == "POST" and not self.current_user:
            self.redirect(sign_in_again(self, self.signed_out_notice), status=303)
            return
        error = kwargs.get("exc_info", (None, None, None))[1]
        unavailable = self.mark_unavailable(error)
        if unavailable:
            status_code = 503
        elif self.settings.get("serve_traceback") and "exc_info" in kwargs:
            super().write_error(status_code, **kwargs)
            return
        self.render(
            "errors/error.html",
            status_code=status_code,
            title=status_phrase(status_code),
            unavailable=unavailable,
        )

    def mark_unavailable(self, error: BaseException | None) -> str | None:
        """For an error of a service that is away (Redis, the cluster): answer 503 with
        ``Retry-After``, and return the service's name for the message; else None."""
        unavailable = unavailable_service(error)
        if unavailable:
            self.set_status(503)
            self.set_header("Retry-After", str(RETRY_AFTER))
        return unavailable


def status_phrase(status_code: int) -> str:
    """The standard name of an HTTP status ("Not Found"), or "Error" for another code."""
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def check_host(handler: tornado.web.RequestHandler) -> None:
    """Refuse a Host header the site does not answer to (``[app] allowed_hosts``): links
    and redirects built from it must not point at someone else's name."""
    application = cast("Application", handler.application)
    if not application.app_settings.allows_host(handler.request.host_name):
        raise tornado.web.HTTPError(400, reason="Unknown Host")


def sign_in_again(handler: tornado.web.RequestHandler, notice: str) -> str:
    """The sign-in page with ``notice``, whose ``next`` is the page the form was sent
    from (its Referer, if that is on this site), else the index."""
    referer = urlsplit(handler.request.headers.get("Referer", ""))
    back = "/"
    if referer.netloc == handler.request.host:
        back = safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return tornado.httputil.url_concat(handler.get_login_url(), {"next": back, "notice": notice})


def unavailable_service(error: BaseException | None) -> str | None:
    """What is away, in words for the 503 page, if ``error`` says something is."""
    if isinstance(error, REDIS_DOWN):
        return "The job store (Redis) cannot be reached"
    if isinstance(error, ClusterError):
        return "The compute cluster cannot be reached"
    return None


class NotFoundHandler(BaseHandler):
    """Any address no route matches: the 404 page, in the layout."""

    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``.

    Refuses anything a browser could read as another host: absolute URLs,
    protocol-relative ``//host``, ``/\\host`` (browsers read ``\\`` as ``/``), and
    control characters or spaces, which browsers strip before parsing.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(char) <= 32 or char in "\\\x7f" for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
