"""A job whose engine dies ends Failed, told by the process that submitted it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from moi import context, job
from moi.embedded import free_port
from moi.sync import SyncClient
from tests import jobs


@pytest.fixture
def replace_dead_engine(cluster):
    """Start a fresh engine after the test, so later tests still have two (and no more:
    the dead one is first seen gone by the controller)."""
    yield
    with cluster.cluster.connect_client_sync() as client:
        deadline = time.monotonic() + 60
        while len(client.ids) >= cluster.engines:
            assert time.monotonic() < deadline, "the controller never saw the engine die"
            time.sleep(0.1)
    cluster.add_engines(1)


def test_job_that_kills_its_engine_ends_failed(r, replace_dead_engine):
    job_id = job.submit("g", "suicide", None, jobs.kill_own_engine)
    info = job.wait(job_id, timeout=30)
    assert info["status"] == "Failed"
    assert "engine running this job died" in info["result"]
    assert info["date_end"] is not None
    # The final state stays: nothing later overwrites it.
    assert job.get(job_id)["status"] == "Failed"


def test_engine_that_cannot_reach_redis_still_ends_failed(r, moi_context):
    """The engine reports nothing; the submitting process stores the engine's error."""
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    lost = SyncClient(replace(moi_context.settings, engine_redis_url=unreachable))
    previous = context.set_default(lost)
    try:
        job_id = job.submit("g", "lost", None, jobs.double, 1)
        info = job.wait(job_id, timeout=30)
    finally:
        context.set_default(previous)
        lost.close()
    assert info["status"] == "Failed"
    assert "ConnectionError" in info["result"]
    assert "\x1b[" not in info["result"]
