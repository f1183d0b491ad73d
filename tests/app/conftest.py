"""The demo app served for real: in a thread of this process, on a port of its own.

Each test gets a fresh application (on the session's Redis and cluster, emptied by the
``r`` fixture) and a :class:`Client` that keeps cookies and sends the XSRF token the way
a browser's form would. Errors the app logs fail the test that caused them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import http.cookiejar
import io
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest
import tornado.httpserver
import tornado.netutil

from app import accounts
from app.application import Application, create_app
from app.handlers.forms import SERVER_MAX_BODY
from app.keys import USERS_KEY
from app.settings import AppSettings
from moi import keys

PASSWORD = "correct horse"


class ServerThread:
    """An :class:`Application` served by an event loop on its own thread."""

    def __init__(self, make_app) -> None:
        self.make_app = make_app
        self.app: Application | None = None
        [self.socket] = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.app = self.make_app()
        await self.app.start()
        server = tornado.httpserver.HTTPServer(  # as python -m app
            self.app, xheaders=False, max_body_size=SERVER_MAX_BODY
        )
        server.add_sockets([self.socket])
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.stop()
            await self.app.close()
            await asyncio.wait_for(server.close_all_connections(), 5)

    def start(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "the app did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        if self._thread.is_alive():
            raise AssertionError(f"the app did not stop; it waits in:\n{self._where()}")

    def _where(self) -> str:
        """The stacks of the app's tasks, to show where a stop hangs."""
        out = io.StringIO()
        for task in asyncio.all_tasks(self.loop):
            task.print_stack(file=out)
        return out.getvalue()


@dataclasses.dataclass
class Response:
    status: int
    headers: Message
    text: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A cookie-keeping HTTP client that does not follow redirects, so tests see them.

    ``headers`` go with every request it builds (``X-Forwarded-For``, say)."""

    group: str | None = None
    """The moi group of the account it signed in to, where a fixture knows it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.headers = dict(headers or {})
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects
        )

    def request(self, path: str, data: dict | None = None) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        return self.request_object(
            urllib.request.Request(self.base_url + path, body, headers=self.headers)
        )

    def request_object(self, request: urllib.request.Request) -> Response:
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read().decode())

    def get(self, path: str) -> Response:
        return self.request(path)

    def xsrf(self) -> str:
        """The XSRF token, fetching the login page first if no page set the cookie yet."""
        for cookie in self.jar:
            if cookie.name == "_xsrf":
                return cookie.value
        self.get("/login")
        return self.xsrf()

    def post(self, path: str, xsrf: bool = True, **fields: str) -> Response:
        data = dict(fields)
        if xsrf:
            data["_xsrf"] = self.xsrf()
        return self.request(path, data)

    def login(self, username: str, password: str = PASSWORD, **fields: str) -> Response:
        """Sign in; if that is refused, make the account on the create-account form, as a
        new user would, and answer with that if it signed in (else with the refusal)."""
        response = self.post("/login", username=username, password=password, **fields)
        if response.status != 400:
            return response
        made = self.register(username, password, **fields)
        return made if made.status == 303 else response

    def register(
        self, username: str, password: str = PASSWORD, confirm: str | None = None, **fields: str
    ) -> Response:
        """Send the create-account form (``confirm`` is the password typed again)."""
        confirm = password if confirm is None else confirm
        return self.post("/signup", username=username, password=password, confirm=confirm, **fields)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def error_message(page: str, element_id: str) -> str | None:
    """The text of the form error ``element_id`` in ``page``, unescaped, or None."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(found.group(1).strip()) if found else None


def wait_for_status(r, job_id: str, status: str, timeout: float = 20) -> dict:
    """Block until the stored job has ``status``; listens on its channel, no polling."""
    with r.pubsub() as pubsub:
        pubsub.subscribe(f"{job_id}:pubsub")
        deadline = time.monotonic() + timeout
        while (info := json.loads(r.get(job_id) or "{}")).get("status") != status:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"job {job_id} is {info.get('status')!r}, not {status!r}"
            pubsub.get_message(timeout=remaining)
        return info


@pytest.fixture
def app_settings(tmp_path) -> AppSettings:
    return AppSettings(cookie_secret="test secret, not for production", var_dir=str(tmp_path))


@contextlib.contextmanager
def serving(settings, app_settings: AppSettings, caplog) -> Iterator[ServerThread]:
    """The app for ``settings``, served until the block ends; errors it logs fail the test."""
    served = ServerThread(lambda: create_app(settings, app_settings)).start()
    try:
        yield served
    finally:
        served.stop()
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert not errors, "the app logged errors:\n" + "\n".join(rec.getMessage() for rec in errors)


@pytest.fixture
def server(settings, r, app_settings, caplog):
    """The app, serving on a free port for this test."""
    with serving(settings, app_settings, caplog) as served:
        yield served


@pytest.fixture
def client(server) -> Client:
    return Client(server.url)


@pytest.fixture
def auth(client, r) -> Client:
    """A client signed in as ``alice``, a new account (its moi group in ``group``)."""
    response = client.register("alice")
    assert response.status == 303, response.text
    client.group = group_of(r, "alice")
    return client


@pytest.fixture
def other(server, r) -> Client:
    """A second client, signed in as ``bob``."""
    bob = Client(server.url)
    assert bob.register("bob").status == 303
    bob.group = group_of(r, "bob")
    return bob


def group_of(r, name: str) -> str:
    """The moi group of the account ``name``, as the app derives it: its account's ID."""
    return accounts.group_of(name, json.loads(r.hget(USERS_KEY, name)).get("id", ""))


def stored_keys(r) -> list[str]:
    """Every key in Redis but the background locks and the cluster report (with its jobs per
    minute), which moi keeps renewing."""
    background = {keys.REAPER_LOCK, keys.DISPATCHER_LOCK, keys.FENCE, keys.CLUSTER, keys.MINUTES}
    return sorted(key for key in r.scan_iter() if key not in background)
