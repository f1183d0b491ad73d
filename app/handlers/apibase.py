"""What every handler of the JSON API shares: who is asking, the JSON body, errors as JSON.

Every error is a JSON object ``{"error": "text"}``, with ``"fields": {"name": "what is
wrong"}`` when fields of the request were refused.

Who is asking: ``Authorization: Bearer <token>`` (:mod:`app.tokens`), and then only
that (cookies are ignored, and no XSRF token is needed: a browser never sends the header
by itself); or else the site's session cookie, as the pages read it, and then a write
must carry the page's XSRF token in an ``X-XSRFToken`` header, as Tornado checks it for
forms. Neither: 401 with ``WWW-Authenticate: Bearer``.

Bodies are streamed and limited as the forms' are (:mod:`app.handlers.forms`): Tornado
refuses one over :data:`API_MAX_BODY` from its ``Content-Length``, before reading it.
"""

from __future__ import annotations

import http
import json
from typing import Any

import tornado.web

from app.handlers.account import token_store
from app.handlers.base import (
    RETRY_AFTER,
    BaseHandler,
    check_host,
    signed_in_user,
    unavailable_service,
)

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


@tornado.web.stream_request_body
class ApiHandler(BaseHandler):
    """Base of the API's handlers: who asks, the JSON body, errors as JSON."""

    via_token = False
    """Whether the request came with a Bearer token (else with the session cookie)."""
    _xsrf_due = False  # Tornado asks check_xsrf_cookie before prepare: see prepare

    def initialize(self) -> None:
        self._chunks: list[bytes] = []

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")  # answers are per user, and change

    async def prepare(self) -> None:
        self.request.connection.set_max_body_size(API_MAX_BODY)  # before the body is read
        check_host(self)
        header = self.request.headers.get("Authorization")
        if header is not None:
            await self._token_user(header)
        else:
            self.current_user = await signed_in_user(self)
            if not self.current_user:
                raise ApiError(
                    401,
                    "Sign in, or send an API token as 'Authorization: Bearer <token>'.",
                    headers={"WWW-Authenticate": REALM},
                )
            if self.request.method not in ("GET", "HEAD", "OPTIONS"):
                self._check_xsrf()

    async def _token_user(self, header: str) -> None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401,
                "Send an API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": REALM},
            )
        token = await token_store(self.application).authenticate(secret.strip())
        if token is None:
            raise ApiError(
                401,
                "This API token is not valid: it was revoked, or its account is gone.",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        self.current_user = token.user
        self.via_token = True

    def _check_xsrf(self) -> None:
        self._xsrf_due = True
        try:
            self.check_xsrf_cookie()
        except tornado.web.HTTPError:
            raise ApiError(
                403,
                "A write with the session cookie needs the page's XSRF token in an "
                "'X-XSRFToken' header (or use an API token).",
            ) from None

    def check_xsrf_cookie(self) -> None:
        if self._xsrf_due:  # only for the session cookie, once prepare knows it is that
            super().check_xsrf_cookie()

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def json_body(self) -> dict[str, Any]:
        """The request's body, a JSON object, or a 400/415 :class:`ApiError` saying why not."""
        body = b"".join(self._chunks)
        media_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(415, "Send a JSON object, with 'Content-Type: application/json'.")
        try:
            value = json.loads(body)
        except ValueError as error:  # UnicodeDecodeError is one too
            raise ApiError(400, f"The body is not valid JSON: {error}.") from None
        if not isinstance(value, dict):
            raise ApiError(400, "The body must be a JSON object.")
        return value

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as JSON, in the same shape; Redis or the cluster away is a 503."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any] = {}
        unavailable = unavailable_service(error)
        if isinstance(error, ApiError):
            body["error"] = error.message
            if error.fields:
                body["fields"] = error.fields
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif unavailable:
            self.set_status(503)
            self.set_header("Retry-After", str(RETRY_AFTER))
            body["error"] = f"{unavailable} at the moment. Try again in a moment."
        else:
            reason = error.reason if isinstance(error, tornado.web.HTTPError) else None
            body["error"] = reason or _phrase(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def write_json(self, value: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.write(value)  # Tornado: application/json; charset=UTF-8


def _phrase(status_code: int) -> str:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
