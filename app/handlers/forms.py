"""Form posts with a size limit that holds before the body is read.

Tornado reads a whole request body into memory before the handler runs, up to the
server's ``max_body_size``. A handler that streams its body (``stream_request_body``)
may lower that limit for its own requests in ``prepare``, which is Tornado's documented
way to have one limit per handler. A body over it is refused by Tornado with a bare 400,
its bytes never read, so nothing of it is echoed back.

Tornado checks the XSRF token before ``prepare``, when a streamed body has not arrived
yet; so these handlers check it themselves (:meth:`StreamedBodyHandler.check_xsrf_now`),
once they may: a form once its body is parsed, before ``post_form``; the JSON API once
it knows the session cookie is what signs the request in.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import tornado.httputil
import tornado.web

from app.handlers.base import BaseHandler

SERVER_MAX_BODY = 64 * 1024
"""The server's own limit, for every handler: the largest any form of the site needs."""


@tornado.web.stream_request_body
class StreamedBodyHandler(BaseHandler):
    """A handler whose body is at most ``max_body_bytes``, refused before it is read."""

    max_body_bytes = SERVER_MAX_BODY
    _xsrf_due = False  # Tornado asks check_xsrf_cookie before prepare: see the docstring

    async def prepare(self) -> None:
        self._chunks: list[bytes] = []
        # Tornado's HTTP/1 connection has it; the interface it is typed as does not.
        self.request.connection.set_max_body_size(self.max_body_bytes)  # type: ignore[union-attr]
        await super().prepare()

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def body_bytes(self) -> bytes:
        return b"".join(self._chunks)

    def check_xsrf_cookie(self) -> None:
        if self._xsrf_due:
            super().check_xsrf_cookie()

    def check_xsrf_now(self) -> None:
        """Check the XSRF token now that the request may be judged (see the docstring)."""
        self._xsrf_due = True
        self.check_xsrf_cookie()


class FormHandler(StreamedBodyHandler):
    """A handler whose POST body is a form of at most ``max_body_bytes``."""

    async def post(self, *args: str) -> None:
        body = self.body_bytes()
        request = self.request
        tornado.httputil.parse_body_arguments(
            request.headers.get("Content-Type", ""),
            body,
            request.body_arguments,
            request.files,
            request.headers,
        )
        for name, values in request.body_arguments.items():
            request.arguments.setdefault(name, []).extend(values)
        if self.application.settings.get("xsrf_cookies"):
            self.check_xsrf_now()
        result = self.post_form(*args)
        if result is not None:
            await result

    # Typed as Tornado types get and post, so that subclasses may take the URL's groups by
    # name and be @tornado.web.authenticated.
    def post_form(self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        raise NotImplementedError
