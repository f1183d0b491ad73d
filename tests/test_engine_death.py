"""A job whose engine dies ends Failed, told by the process that submitted it."""

from __future__ import annotations

import pytest

from moi import job
from tests import jobs


@pytest.fixture
def replace_dead_engine(cluster):
    """Start a fresh engine after the test, so later tests still have two."""
    yield
    cluster.add_engines(1)


def test_job_that_kills_its_engine_ends_failed(r, replace_dead_engine):
    job_id = job.submit("g", "suicide", None, jobs.kill_own_engine)
    info = job.wait(job_id, timeout=30)
    assert info["status"] == "Failed"
    assert "engine running this job died" in info["result"]
    assert info["date_end"] is not None
    # The final state stays: nothing later overwrites it.
    assert job.get(job_id)["status"] == "Failed"
