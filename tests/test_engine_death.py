"""A job whose engine dies ends Failed, told by the process that submitted it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from moi import job
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


def test_engines_that_cannot_reach_redis_leave_jobs_waiting_and_say_why(
    r, exclusive_dispatch, settings
):
    """Engines given a Redis URL they cannot reach take no job: it waits, and the
    dispatcher's report (``moi status``) says why its tasks fail."""
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    with SyncClient(replace(settings, engine_redis_url=unreachable)) as lost:
        lost.start(dispatch=True)
        job_id = lost.submit("g", "lost", None, jobs.double, 1)
        deadline = time.monotonic() + 30
        while not ((report := lost.cluster()) and report.get("error")):
            assert time.monotonic() < deadline, f"no error reported: {report}"
            time.sleep(0.2)  # the report is renewed every second: nothing else to wait on
        assert "ConnectionError" in report["error"] or "Connection" in report["error"]
        assert lost.get(job_id)["status"] == "Queued"
        lost.cancel(job_id)
