"""Fixtures of the fault suite."""

from __future__ import annotations

import pytest

from moi.embedded import RedisServer, free_port
from tests.app.conftest import app_settings  # noqa: F401 (the demo's tests' fixture)
from tests.faults.cluster import Commands


@pytest.fixture
def commands(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    started = Commands(profile)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own, persisting to disk, to stop and start on the same data."""
    server = RedisServer(free_port(), tmp_path / "redis", persist=True).start()
    try:
        yield server
    finally:
        server.stop()
