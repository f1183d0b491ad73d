"""What every handler of the JSON API shares: who is asking, the JSON body, errors as JSON.

Every error is a JSON object ``{"error": "text"}``, with ``"fields": {"name": "what is
wrong"}`` when fields of the request were refused.

Who is asking: ``Authorization: Bearer <token>`` (:mod:`app.tokens`), and then only
that (cookies are ignored, and no XSRF token is needed: a browser never sends the header
by itself); or else the site's session cookie, as the pages read it, and then a write
must carry the page's XSRF token in an ``X-XSRFToken`` header, as Tornado checks it for
forms. Neither: 401 with ``WWW-Authenticate: Bearer``.

Bodies are streamed and limited as the forms' are (:mod:`app.handlers.forms`): Tornado
refuses one over :data:`API_MAX_BODY` from its ``Content-Length``, before reading it;
what it lets through is parsed within bounds (:mod:`app.jsonbody`).
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from app import jsonbody
from app.handlers.base import status_phrase
from app.handlers.forms import StreamedBodyHandler

API_MAX_BODY = 8 * 1024
"""As the job forms: every request body of the API is a small JSON object."""
REALM = 'Bearer realm="moi"'


class ApiError(tornado.web.HTTPError):
    """An error answered as JSON: ``message``, and ``fields`` naming what was refused."""

    def __init__(
        self,
        status: int,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


class ApiHandler(StreamedBodyHandler):
    """Base of the API's handlers: who asks, the JSON body, errors as JSON."""

    max_body_bytes = API_MAX_BODY
    via_token = False
    """Whether the request came with a Bearer token (else with the session cookie)."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")  # answers are per user, and change

    async def prepare(self) -> None:
        await super().prepare()  # the body's limit, the Host, then find_user
        if not self.current_user:
            raise ApiError(
                401,
                "Sign in, or send an API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": REALM},
            )
        if not self.via_token and self.request.method not in ("GET", "HEAD", "OPTIONS"):
            self._check_xsrf()

    async def find_user(self) -> str | None:
        """The token's user if the request has an ``Authorization`` header, else the
        session cookie's (as the pages read it)."""
        header = self.request.headers.get("Authorization")
        if header is None:
            return await super().find_user()
        return await self._token_user(header)

    async def _token_user(self, header: str) -> str:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401,
                "Send an API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": REALM},
            )
        token = await self.application.tokens.authenticate(secret.strip())
        if token is None:
            raise ApiError(
                401,
                "This API token is not valid: it expired, was revoked, or its account is gone.",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        self.via_token = True
        self.account_id = token.account_id
        return token.user

    def _check_xsrf(self) -> None:
        try:
            self.check_xsrf_now()
        except tornado.web.HTTPError:
            raise ApiError(
                403,
                "A write with the session cookie needs the page's XSRF token in an "
                "'X-XSRFToken' header (or use an API token).",
            ) from None

    def json_body(self) -> dict[str, Any]:
        """The request's body, a JSON object, or a 400/415 :class:`ApiError` saying why not.

        Read within bounds (:func:`app.jsonbody.parse`: size, nesting, numbers, text): a
        body it refuses is a 400 naming the field at fault, never a 500.
        """
        body = self.body_bytes()
        media_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(415, "Send a JSON object, with 'Content-Type: application/json'.")
        try:
            value = jsonbody.parse(body, self.max_body_bytes)
        except jsonbody.BodyError as error:
            fields = {error.field: str(error)} if error.field is not None else None
            raise ApiError(400, str(error), fields) from None
        if not isinstance(value, dict):
            raise ApiError(400, "The body must be a JSON object.")
        return value

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as JSON, in the same shape; Redis or the cluster away is a 503."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any] = {}
        unavailable = None if isinstance(error, ApiError) else self.mark_unavailable(error)
        if isinstance(error, ApiError):
            body["error"] = error.message
            if error.fields:
                body["fields"] = error.fields
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif unavailable:
            body["error"] = f"{unavailable} at the moment. Try again in a moment."
        else:
            reason = error.reason if isinstance(error, tornado.web.HTTPError) else None
            body["error"] = reason or status_phrase(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def write_json(self, value: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.write(value)  # Tornado: application/json; charset=UTF-8
