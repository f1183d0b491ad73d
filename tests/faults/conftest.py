"""Fixtures of the fault suite."""

from __future__ import annotations

import pytest

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
