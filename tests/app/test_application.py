"""The app's access log: which requests are worth a line at INFO."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import pytest

MARKER = "/login?last=1"


class Seen(logging.Handler):
    """The access log's records, and an event set once the marker request is logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.marker = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if f" {MARKER} " in record.getMessage():
            self.marker.set()

    def lines(self, level: int) -> list[str]:
        return [record.getMessage() for record in self.records if record.levelno == level]


@pytest.fixture
def access_log() -> Iterator[Seen]:
    logger = logging.getLogger("tornado.access")
    seen, level = Seen(), logger.level
    logger.addHandler(seen)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)


def test_static_files_are_logged_at_debug_and_pages_at_info(client, access_log):
    page = client.get("/login")
    assert page.status == 200
    assets = re.findall(r'href="(/(?:static|moi-static)/[^"]+\?v=[0-9a-f]+)"', page.text)
    assert {asset.split("/")[1] for asset in assets} == {"static", "moi-static"}, assets
    for asset in assets:
        assert client.get(asset).status == 200
    # The server logs a request after its answer has gone: one more, and its line, say
    # that the lines of all before it are in.
    assert client.get(MARKER).status == 200
    assert access_log.marker.wait(10), "the last request was never logged"

    info, debug = access_log.lines(logging.INFO), access_log.lines(logging.DEBUG)
    assert any(" /login " in line for line in info), info
    assert not [line for line in info if "static/" in line], info
    for asset in assets:
        assert any(f" {asset} " in line for line in debug), (asset, debug)
