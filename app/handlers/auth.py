"""Signing in (which registers a new username, this being a demo) and signing out."""

from __future__ import annotations

import tornado.web

from app.accounts import USERNAME_MAX, AccountError
from app.handlers.base import COOKIE_DAYS, USER_COOKIE, BaseHandler, safe_next, session_id
from app.handlers.forms import FormHandler
from app.throttle import Throttled

SIGN_IN_MAX_BODY = 4 * 1024
"""A sign-in form is a username, a password and a return path: a few hundred bytes."""


class LoginHandler(FormHandler):
    max_body_bytes = SIGN_IN_MAX_BODY

    def get(self) -> None:
        next_url = safe_next(self.get_query_argument("next", None))
        if self.current_user:
            self.redirect(next_url)
            return
        self.render("auth/login.html", error=None, username="", next_url=next_url)

    async def post_form(self) -> None:
        username = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        next_url = safe_next(self.get_body_argument("next", None))
        try:
            name, account_id = await self.application.accounts.login(
                username, password, self.request.remote_ip
            )
        except Throttled as error:
            self.set_status(429)
            self.set_header("Retry-After", str(error.wait))
            self.render("auth/login.html", error=str(error), username=username, next_url=next_url)
            return  # the username passed its checks: short, and safe to show
        except AccountError as error:
            self.set_status(400)
            shown = username if len(username) <= USERNAME_MAX else ""  # never echo a flood
            self.render("auth/login.html", error=str(error), username=shown, next_url=next_url)
            return
        session = await self.application.sessions.open(name, account_id)
        # Secure behind TLS, as every cookie of the site (BaseHandler.set_cookie).
        self.set_signed_cookie(
            USER_COOKIE, session, expires_days=COOKIE_DAYS, httponly=True, samesite="Lax"
        )
        self.redirect(next_url, status=303)


class LogoutHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        """A page with the sign-out button: signing out is a POST, so no link can do it."""
        self.render("auth/logout.html")

    async def post(self) -> None:
        """Sign this session out, or with ``everywhere`` every session of the user; their
        pages' live lists close at once and send them to the sign-in page."""
        sessions = self.application.sessions
        if self.get_body_argument("everywhere", "") and self.current_user:
            await sessions.close_all(self.current_user)
        elif (found := session_id(self)) is not None:
            await sessions.close(found)
        self.clear_cookie(USER_COOKIE)
        self.redirect("/login", status=303)


routes = [
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
]
