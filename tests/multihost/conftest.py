"""Fixtures for the multi-host tests: moi deployed on network-namespace hosts
(:mod:`examples.multihost`), and clients on its ``client`` host.

One deployment serves a whole test module (``shared_deployment``); a test that breaks
it beyond repair takes a fresh one (``fresh_deployment``). The ``deployment`` fixture
runs the test's body on the ``client`` host (this thread in its namespace), so the
test's HTTP, websocket, Redis and browser connections reach the hosts' addresses; the
root namespace cannot. Each deployment is torn down after its tests, and that teardown
must leave no namespace or process behind.

Every test here is marked ``multihost``. They need root and ``ip netns``: without them
they skip, saying so; with ``CI=true`` they fail instead, as CI runs as root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.multihost import Deployment, netns, support_problem
from tests.browser import chromium

HERE = Path(__file__).resolve().parent
PROBLEM = support_problem()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.multihost)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (on CI: fail) before any fixture builds a host."""
    if PROBLEM and HERE in Path(item.path).parents:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the multi-host tests cannot run: {PROBLEM}", pytrace=False)
        pytest.skip(f"multi-host tests: {PROBLEM}")


def torn_down(deployment: Deployment) -> None:
    """Close ``deployment``, and fail if anything of it is left."""
    left = deployment.close()
    assert not left, f"the deployment left {left}; logs in {deployment.run_dir}"


@pytest.fixture(scope="module")
def shared_deployment(tmp_path_factory) -> Iterator[Deployment]:
    """One deployment for the module's tests, torn down after them."""
    deployment = Deployment.start(tmp_path_factory.mktemp("multihost"))
    try:
        yield deployment
    finally:
        torn_down(deployment)


@pytest.fixture
def deployment(shared_deployment) -> Iterator[Deployment]:
    """The module's deployment, with the test's body on its ``client`` host."""
    assert not shared_deployment.closed
    with shared_deployment.inside():
        yield shared_deployment


@pytest.fixture
def fresh_deployment(tmp_path) -> Iterator[Callable[..., Deployment]]:
    """``fresh_deployment(**options)`` → a new deployment (:meth:`Deployment.start`'s
    options), torn down after the test; the body is not moved to its client host."""
    made: list[Deployment] = []

    def make(**options) -> Deployment:
        made.append(Deployment.start(tmp_path / f"run{len(made) + 1}", **options))
        return made[-1]

    try:
        yield make
    finally:
        for deployment in made:
            torn_down(deployment)


@pytest.fixture
def browser(tmp_path) -> Iterator[Callable[[], chromium.Browser]]:
    """``browser()`` → headless Chromium on the host the test's thread is on when it asks
    (the client host, in a test that uses ``deployment``): its driver, the browser and
    Selenium's connections to them all live in that namespace, and are quit from it after
    the test, their processes checked gone. A test whose browsers logged errors to the
    console fails, unless it allowed them (:meth:`chromium.Browser.allow_console_errors`).
    """
    missing = chromium.missing()
    if missing:
        message = f"needs {' and '.join(missing)}: {chromium.INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the browser {message}", pytrace=False)
        pytest.skip(f"the browser {message}")
    drivers: list[chromium.Browser] = []
    where: list[int] = []  # the namespace each was started in, as an open descriptor

    def make() -> chromium.Browser:
        folder = tmp_path / f"browser{len(drivers) + 1}"
        folder.mkdir()
        namespace = netns.current()
        try:
            drivers.append(chromium.start(folder / "profile", folder / "chromedriver.log"))
        except BaseException:
            os.close(namespace)
            raise
        where.append(namespace)
        return drivers[-1]

    yield make
    errors: dict[int, list[str]] = {}
    stopping: list[str] = []
    for number, (driver, namespace) in enumerate(zip(drivers, where, strict=True), 1):
        with netns.entered(namespace):
            try:
                if found := driver.console_errors():
                    errors[number] = found
            except Exception as error:  # a browser gone already: stop the others all the same
                errors[number] = [f"its console could not be read: {error}"]
            finally:
                try:
                    chromium.stop(driver)
                except AssertionError as error:  # stop the others all the same
                    stopping.append(str(error))
                finally:
                    os.close(namespace)
    assert not stopping, "; ".join(stopping)
    assert not errors, f"errors in the browser console (browser number: messages): {errors}"
