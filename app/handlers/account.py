"""The account page: the user's API tokens, a form to make one, and a button to revoke each.

A new token is shown once, on the page that answers the form (never in a URL, never
stored), with ``Cache-Control: no-store`` so that no cache keeps it either.
"""

from __future__ import annotations

import tornado.web

from app.handlers.base import BaseHandler
from app.handlers.forms import FormHandler
from app.tokens import NAME_MAX, TOKENS_MAX, Token, TokenError

ACCOUNT_FORM_MAX_BODY = 4 * 1024
"""A token's name and the XSRF token: a few hundred bytes."""
ECHO_MAX = 200
"""A refused name is shown again up to this length; a longer one is dropped."""

NOTICES = {
    "revoked": "The token was revoked: it no longer works, from now on.",
    "gone": "There is no such token (revoked already?).",
}
"""Notices a revoke may leave for the page it redirects to (``?notice=``)."""


async def render_account(
    handler: BaseHandler,
    *,
    new: tuple[Token, str] | None = None,
    error: str | None = None,
    typed: str = "",
    notice: str | None = None,
) -> None:
    assert handler.account_id is not None  # signed in: find_user set it
    tokens = await handler.application.tokens.for_user(handler.current_user, handler.account_id)
    handler.set_header("Cache-Control", "no-store")
    handler.render(
        "account/index.html",
        tokens=tokens,
        new_token=new[0] if new else None,
        new_secret=new[1] if new else None,
        error=error,
        typed=typed,
        notice=notice,
        name_max=NAME_MAX,
        tokens_max=TOKENS_MAX,
        token_days=handler.application.tokens.days,
    )


class AccountHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await render_account(self, notice=self.notice(NOTICES))


class TokenCreateHandler(FormHandler):
    """Make a token and show it, this once."""

    max_body_bytes = ACCOUNT_FORM_MAX_BODY

    @tornado.web.authenticated
    async def post_form(self) -> None:
        name = self.get_body_argument("name", "")
        assert self.account_id is not None  # signed in: find_user set it
        try:
            made = await self.application.tokens.create(self.current_user, self.account_id, name)
        except TokenError as error:
            self.set_status(400)
            typed = name if len(name) <= ECHO_MAX else ""  # a flood is not echoed back
            await render_account(self, error=str(error), typed=typed)
            return
        await render_account(self, new=made)


class TokenRevokeHandler(FormHandler):
    """Revoke a token, then back to the account page."""

    max_body_bytes = ACCOUNT_FORM_MAX_BODY

    @tornado.web.authenticated
    async def post_form(self, token_id: str) -> None:
        revoked = await self.application.tokens.revoke(self.current_user, token_id)
        self.redirect(f"/account?notice={'revoked' if revoked else 'gone'}", status=303)


routes = [
    (r"/account", AccountHandler),
    (r"/account/tokens", TokenCreateHandler),
    (r"/account/tokens/([^/]+)/revoke", TokenRevokeHandler),
]
