"""Signing in (which registers a new username, this being a demo) and signing out."""

from __future__ import annotations

import tornado.web

from app.accounts import AccountError
from app.handlers.base import COOKIE_DAYS, USER_COOKIE, BaseHandler, safe_next


class LoginHandler(BaseHandler):
    def get(self) -> None:
        next_url = safe_next(self.get_query_argument("next", None))
        if self.current_user:
            self.redirect(next_url)
            return
        self.render("auth/login.html", error=None, username="", next_url=next_url)

    async def post(self) -> None:
        username = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        next_url = safe_next(self.get_body_argument("next", None))
        try:
            name, _created = await self.application.accounts.login(username, password)
        except AccountError as error:
            self.set_status(400)
            self.render("auth/login.html", error=str(error), username=username, next_url=next_url)
            return
        self.set_signed_cookie(
            USER_COOKIE,
            name,
            expires_days=COOKIE_DAYS,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",  # behind TLS, never sent in clear
        )
        self.redirect(next_url, status=303)


class LogoutHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        """A page with the sign-out button: signing out is a POST, so no link can do it."""
        self.render("auth/logout.html")

    def post(self) -> None:
        self.clear_cookie(USER_COOKIE)
        self.redirect("/login", status=303)


routes = [
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
]
