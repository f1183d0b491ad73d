"""The page that the unit tests of ``moi.js`` and ``moi_list.js`` run in.

:class:`StaticServer` serves the real scripts from ``moi/static/`` at ``/static/`` and
the harness page from ``tests/browser/pages/`` at ``/pages/``, from a thread of the test
process on a port the kernel picks. :class:`UnitPage` runs JavaScript in that page and
waits on its state.
"""

from __future__ import annotations

import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.chromium import Browser

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"static": REPO / "moi" / "static", "pages": Path(__file__).resolve().parent / "pages"}
PAGE = "/pages/moi_unit.html"
WAIT = 5
"""Seconds a page state may take to appear (the longest the tests wait for is 0.5 s)."""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        match = re.fullmatch(r"/(\w+)/([\w.-]+)", urlsplit(self.path).path)
        root = ROOTS.get(match.group(1)) if match else None
        path = root / match.group(2) if root else None
        if path is None or not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a failing test shows the page's own console instead


class StaticServer:
    """Serves :data:`ROOTS` on 127.0.0.1 until :meth:`stop`."""

    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="moi-unit-static", daemon=True
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and check that the thread ended."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        assert not self._thread.is_alive(), "the static server's thread did not stop"


class UnitPage:
    """A freshly loaded harness page (``window.t``, see ``pages/moi_unit.js``)."""

    def __init__(self, driver: Browser, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        driver.get(base_url + PAGE)
        ready = self.run("return typeof t === 'object' && typeof moi.JobList === 'function';")
        assert ready, f"the harness or moi's scripts did not load in {driver.current_url}"

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return`` gives its value) in the page."""
        return self.driver.execute_script(script, *args)

    def run_async(self, script: str, *args: Any) -> Any:
        """Run an ``await``-ing function body and return what it returns."""
        return self.driver.execute_async_script(
            f"const done = arguments[arguments.length - 1];"
            f"(async () => {{ {script} }})().then(done, (e) => done({{error: String(e)}}));",
            *args,
        )

    def wait(self, expression: str, what: str, timeout: float = WAIT) -> Any:
        """The first truthy value of the JS ``expression``, polled; else fail naming ``what``."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.02).until(
                lambda d: d.execute_script(f"return ({expression});")
            )
        except TimeoutException:
            rows = self.run("return t.rows();")
            raise AssertionError(f"waited {timeout} s for {what}; the list shows {rows}") from None
