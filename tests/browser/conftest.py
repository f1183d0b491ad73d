"""Fixtures for the browser tests: the demo app as a real process, and headless Chromium.

The app runs as ``python -m app`` on the session's Redis and cluster (``tests/conftest.py``):
one server for the session, shared by tests that each sign in as a new user, and a
server of its own for a test that restarts it. Each browser is quit after its test and
its processes checked gone by PID. When a test fails, a screenshot, the console log and
the page of each of its browsers, and the app's log, are saved under
``test-artifacts/browser/<test name>/``, and the failure report names that folder.

The unit tests of moi's JS client share one browser instead (``page``): each loads a
static page with the real ``moi/static/`` scripts and a fake socket.

Without Chromium or chromedriver these tests skip, saying how to install them; with
``CI=true`` they fail instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moi import job as moi_job
from moi.embedded import RedisServer, free_port
from moi.exceptions import JobNotFound
from tests.browser import chromium
from tests.browser.appserver import AppServer
from tests.browser.unitpage import StaticServer, UnitPage

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

DRIVERS = pytest.StashKey[list[chromium.Browser]]()
SERVERS = pytest.StashKey[list[AppServer]]()


MISSING = chromium.missing()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (on CI: fail) each browser test before its fixtures start anything.

    Raised here rather than in a fixture, so every skip has this one location and the
    summary folds them into one line.
    """
    if MISSING:
        message = f"browser tests need {' and '.join(MISSING)}: {chromium.INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="package")
def session_app(settings, tmp_path_factory) -> Iterator[AppServer]:
    """The browser tests' app server, stopped when they are done.

    Not kept for the whole session: its hub hears every group's actions, and one still
    taking in an earlier test's notices would write them into a later test's Redis.
    """
    with serving(AppServer(settings, tmp_path_factory.mktemp("app"))) as server:
        yield server


@pytest.fixture
def app(request, session_app, r) -> AppServer:
    """The session's app server, on a Redis emptied for this test."""
    request.node.stash.setdefault(SERVERS, []).append(session_app)
    assert session_app.running, f"the app is no longer running:\n{session_app.log()}"
    return session_app


@pytest.fixture
def own_app(request, settings, r, tmp_path) -> Iterator[AppServer]:
    """An app server for this test alone (stopped by PID at the end, however it ends)."""
    server = AppServer(settings, tmp_path / "app")
    request.node.stash.setdefault(SERVERS, []).append(server)
    with serving(server):
        yield server


@pytest.fixture
def isolated_app(
    request, settings, r, tmp_path
) -> Iterator[Callable[[bool], tuple[AppServer, RedisServer]]]:
    """``isolated_app(persist)`` → an app server, and a Redis of its own to stop and start:
    on the same data with ``persist``, else it comes back empty. Both are stopped by PID
    at the end, the app first."""
    made: list[tuple[AppServer, RedisServer]] = []

    def make(persist: bool) -> tuple[AppServer, RedisServer]:
        redis_server = RedisServer(free_port(), tmp_path / "redis", persist=persist).start()
        ours = dataclasses.replace(settings, redis_url=redis_server.url)
        server = AppServer(ours, tmp_path / "app")
        made.append((server, redis_server))
        request.node.stash.setdefault(SERVERS, []).append(server)
        server.start()
        return server, redis_server

    try:
        yield make
    finally:
        for server, redis_server in made:
            try:
                code = server.stop()
                assert code in (0, None), f"the app exited with {code} on SIGTERM:\n{server.log()}"
            finally:
                redis_server.stop()


@contextlib.contextmanager
def serving(server: AppServer) -> Iterator[AppServer]:
    """Start the app, and stop it by PID however the block ends; SIGTERM must exit 0."""
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
    assert code in (0, None), f"the app exited with code {code} on SIGTERM:\n{server.log()}"


@pytest.fixture
def countdowns(r):
    """IDs of the countdowns a test starts: each is cancelled at its end, ended or not, so
    the next test has both engines."""
    started: list[str] = []
    yield started
    for job_id in started:
        with contextlib.suppress(JobNotFound):
            moi_job.cancel(job_id)


@pytest.fixture
def browser(request, tmp_path) -> Iterator[Callable[[], chromium.Browser]]:
    """``browser()`` → a new headless Chromium, quit after the test, PIDs checked gone.

    A test whose browsers logged errors to the console fails, unless it said it
    expected them (:meth:`chromium.Browser.allow_console_errors`).
    """
    drivers = request.node.stash.setdefault(DRIVERS, [])

    def make() -> chromium.Browser:
        number = len(drivers) + 1
        folder = tmp_path / f"browser{number}"
        folder.mkdir()
        drivers.append(chromium.start(folder / "profile", folder / "chromedriver.log"))
        return drivers[-1]

    yield make
    try:
        errors = {n: found for n, d in enumerate(drivers, 1) if (found := d.console_errors())}
    finally:
        chromium.stop(*drivers)
    assert not errors, f"errors in the browser console (browser number: messages): {errors}"


@pytest.fixture(scope="session")
def unit_site() -> Iterator[StaticServer]:
    """The JS unit-test page and moi's real scripts, served from a thread until the end."""
    server = StaticServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def unit_browser(tmp_path_factory) -> Iterator[chromium.Browser]:
    """One Chromium for all the JS unit tests (each loads the page afresh), PIDs checked gone."""
    folder = tmp_path_factory.mktemp("unit-browser")
    driver = chromium.start(folder / "profile", folder / "chromedriver.log")
    try:
        yield driver
    finally:
        chromium.stop(driver)


@pytest.fixture
def page(request, unit_site, unit_browser) -> Iterator[UnitPage]:
    """The JS unit-test page, loaded for this test in the shared browser.

    As with ``browser()``, the browser's artifacts are saved if the test fails, and the
    test fails on console errors logged during it that it did not allow.
    """
    request.node.stash.setdefault(DRIVERS, []).append(unit_browser)
    seen = len(unit_browser.console())
    unit_browser.allowed_errors.clear()
    yield UnitPage(unit_browser, unit_site.url)
    errors = [
        entry["message"]
        for entry in unit_browser.console()[seen:]
        if entry.get("level") == "SEVERE"
        and not any(p.search(entry.get("message", "")) for p in unit_browser.allowed_errors)
    ]
    assert not errors, f"errors in the browser console: {errors}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        folder, problems = save_artifacts(item)
        if folder is not None:
            lines = [f"saved in {folder}", *problems]
            report.sections.append(("browser artifacts", "\n".join(lines)))
            print(f"\nbrowser artifacts of {item.nodeid}: {folder}")
    return report


def save_artifacts(item: pytest.Item) -> tuple[Path | None, list[str]]:
    """Save what each browser shows and each app server logged; ``(None, [])`` if nothing."""
    drivers = item.stash.get(DRIVERS, [])
    servers = item.stash.get(SERVERS, [])
    if not drivers and not servers:
        return None, []
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    problems = []
    for number, driver in enumerate(drivers, 1):
        prefix = f"browser{number}-" if len(drivers) > 1 else ""
        problems += chromium.save(driver, folder, prefix)
    for number, server in enumerate(servers, 1):
        name = f"app{number}.log" if len(servers) > 1 else "app.log"
        if server.log_path.exists():
            shutil.copyfile(server.log_path, folder / name)
    return folder, problems
