"""A small client of the demo's JSON API for the tests: with a token, or a browser's cookies."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

from tests.app.conftest import Client


@dataclasses.dataclass
class Answer:
    status: int
    headers: Message
    text: str

    @property
    def json(self) -> Any:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.text
        return json.loads(self.text)


class Api:
    """JSON requests to ``/api/``: with ``token`` (and no cookies), or through ``browser``
    (its cookies, and the ``X-XSRFToken`` header on writes unless ``xsrf`` is False)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        browser: Client | None = None,
        xsrf: bool = True,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.browser = browser
        self.xsrf = xsrf

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if self.browser is not None and self.xsrf and method not in ("GET", "HEAD"):
            sent.setdefault("X-XSRFToken", self.browser.xsrf())
        request = urllib.request.Request(self.base_url + path, data, sent, method=method)
        if self.browser is not None:
            response = self.browser.request_object(request)
            return Answer(response.status, response.headers, response.text)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Answer(answer.status, answer.headers, answer.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers, error.read().decode())

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.call("POST", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.call("DELETE", path, **kwargs)


def make_token(browser: Client, name: str = "tests") -> tuple[str, str]:
    """A new token of the signed-in ``browser``'s user, made on the account page: the
    token as the page shows it once, and its ID."""
    page = browser.post("/account/tokens", name=name)
    assert page.status == 200, page.text
    found = re.search(
        r'<textarea id="new-token"[^>]*data-token-id="([0-9a-f]+)"[^>]*>([^<]+)</textarea>',
        page.text,
    )
    assert found, page.text
    return html.unescape(found.group(2)), found.group(1)
