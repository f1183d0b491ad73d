"""Fixtures of the fault suite."""

from __future__ import annotations

import pytest

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
