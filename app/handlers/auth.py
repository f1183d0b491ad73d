"""Signing in, creating an account, and signing out.

Signing in and creating an account are two forms, so a mistyped name on the sign-in
form is refused (in the same words as a wrong password) rather than made into a new,
empty account.

A browser that signs in gets a signed ``device`` cookie, a random ID that makes it a
known browser of that account (OWASP's device cookies): the throttle lets it in while
guesses from elsewhere slow the name down for everyone else (:mod:`app.throttle`).
"""

from __future__ import annotations

import secrets

import tornado.web

from app.accounts import USERNAME_MAX, AccountError
from app.handlers.base import COOKIE_DAYS, USER_COOKIE, safe_next, session_id
from app.handlers.forms import FormHandler
from app.throttle import KNOWN_DAYS, Throttled

SIGN_IN_MAX_BODY = 4 * 1024
"""A sign-in form is a username, a password and a return path: a few hundred bytes;
the create-account form adds the password again."""

DEVICE_COOKIE = "device"
"""The signed cookie with the browser's device ID, kept across sign-outs."""

NOTICES = {
    "signed-out": "You were signed out, so that form was not sent. Sign in to go on.",
    "expired": "That form had expired. Please send it again.",
    "ended": "Your session has ended (signed out elsewhere, or it expired). Sign in to go on.",
    "bye": "You are signed out.",
}
"""Notices another page may leave for the sign-in page (``?notice=``)."""


class AccountFormHandler(FormHandler):
    """The sign-in and create-account forms: rendering, refusals, and opening a session."""

    max_body_bytes = SIGN_IN_MAX_BODY
    signed_out_notice = "expired"  # a stale XSRF token: nobody was signed in to begin with
    template = ""
    device = ""
    """This browser's device ID: its cookie's, or a new one it gets if it signs in."""

    def get(self) -> None:
        next_url = safe_next(self.get_query_argument("next", None))
        if self.current_user:
            self.redirect(next_url)
            return
        self.show(None, "", next_url, self.notice(NOTICES))

    def show(
        self, error: str | None, username: str, next_url: str, notice: str | None = None
    ) -> None:
        self.render(self.template, error=error, username=username, next_url=next_url, notice=notice)

    async def post_form(self) -> None:
        username = self.get_body_argument("username", "")
        next_url = safe_next(self.get_body_argument("next", None))
        known = self.get_signed_cookie(DEVICE_COOKIE, max_age_days=KNOWN_DAYS)
        self.device = known.decode() if known else secrets.token_urlsafe(18)
        try:
            name, account_id = await self.check(username)
        except Throttled as error:
            self.set_status(429)
            self.set_header("Retry-After", str(error.wait))
            self.show(str(error), username, next_url)
            return  # the username passed its checks: short, and safe to show
        except AccountError as error:
            self.set_status(400)
            shown = username if len(username) <= USERNAME_MAX else ""  # never echo a flood
            self.show(str(error), shown, next_url)
            return
        session = await self.application.sessions.open(name, account_id)
        # Secure behind TLS, as every cookie of the site (BaseHandler.set_cookie).
        self.set_signed_cookie(
            USER_COOKIE, session, expires_days=COOKIE_DAYS, httponly=True, samesite="Lax"
        )
        self.set_signed_cookie(
            DEVICE_COOKIE, self.device, expires_days=KNOWN_DAYS, httponly=True, samesite="Lax"
        )
        self.redirect(next_url, status=303)

    async def check(self, username: str) -> tuple[str, str]:
        """The account's name and ID, or :class:`AccountError` / :class:`Throttled`."""
        raise NotImplementedError


class LoginHandler(AccountFormHandler):
    template = "auth/login.html"

    async def check(self, username: str) -> tuple[str, str]:
        return await self.application.accounts.login(
            username,
            self.get_body_argument("password", ""),
            self.request.remote_ip or "",
            self.device,
        )


class SignupHandler(AccountFormHandler):
    template = "auth/signup.html"

    async def check(self, username: str) -> tuple[str, str]:
        return await self.application.accounts.register(
            username,
            self.get_body_argument("password", ""),
            self.get_body_argument("confirm", ""),
            self.request.remote_ip or "",
            self.device,
        )


class LogoutHandler(FormHandler):
    """A form handler, so its XSRF check runs after ``prepare`` has found the user:
    a refused sign-out of a signed-in user is a 403, not a trip to the sign-in page."""

    @tornado.web.authenticated
    def get(self) -> None:
        """A page with the sign-out button: signing out is a POST, so no link can do it."""
        self.render("auth/logout.html")

    async def post_form(self) -> None:
        """Sign this session out, or with ``everywhere`` every session of the user; their
        pages' live lists close at once and send them to the sign-in page."""
        sessions = self.application.sessions
        if self.get_body_argument("everywhere", "") and self.current_user:
            await sessions.close_all(self.current_user)
        elif (found := session_id(self)) is not None:
            await sessions.close(found)
        self.clear_cookie(USER_COOKIE)
        self.redirect("/login?notice=bye", status=303)


routes = [
    (r"/login", LoginHandler),
    (r"/signup", SignupHandler),
    (r"/logout", LogoutHandler),
]
