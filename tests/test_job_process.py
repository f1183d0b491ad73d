"""The job's own process (:mod:`moi.jobprocess`): what a function does there cannot reach
the engine's lease, cancel or time limit, and cannot end the engine.

Issue 21's findings 2, 3, 7 and 9, each caused for real on the session's cluster.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime

import psutil
import pytest

from moi.sync import SyncClient
from tests import jobs
from tests.conftest import Subscriber

LEASE = 2
GRACE = 2


@pytest.fixture
def client(settings, redis_client):
    """A client that reaps, with a short lease and grace, so a starved renewal would show."""
    redis_client.flushdb()
    moi = SyncClient(replace(settings, lease=LEASE, cancel_grace=GRACE, write_retry=5))
    try:
        moi.start(reap=True)
        moi.client.reaper.trust_leases()
        yield moi
    finally:
        moi.close()


def alive_engines(cluster) -> set[int]:
    return {pid for pid in cluster.engine_pids() if psutil.pid_exists(pid)}


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_a_function_that_holds_the_gil_longer_than_its_lease_is_not_taken_for_dead(client):
    """Finding 9: a 5-s ``sum(range(3 * 10**8))`` with a 2-s lease ended ``Failed`` ("gave
    no sign of life") after 2.5 s; the lease is now renewed by the engine, not the job."""
    job_id = client.submit("g", "sum", None, jobs.holds_the_gil, 3 * 10**8)

    info = client.wait(job_id, timeout=120)

    assert (info["status"], info["result"]) == ("Success", sum(range(3 * 10**8)))
    assert seconds_between(info["date_start"], info["date_end"]) > LEASE, "a real test"


def test_a_time_limit_is_stored_at_the_limit_even_if_the_function_ignores_it(client, cluster):
    """Finding 7: a 2-s limit on a function that ignores the interrupt was stored at
    12.1 s (limit + grace); now ``Failed`` is stored at the limit, and the job's process
    is ended after the grace."""
    engines = alive_engines(cluster)
    limited = client.with_options(time_limit=2)
    job_id = limited.submit("g", "stubborn", None, jobs.ignores_interrupts, 120)

    info = client.wait(job_id, timeout=30)

    assert (info["status"], info["result"]) == ("Failed", "time limit of 2 s exceeded")
    assert 2 <= seconds_between(info["date_start"], info["date_end"]) < 2 + GRACE / 2
    client.drain(timeout=GRACE + 20)  # the task comes back once the process is ended
    after = client.wait(client.submit("g", "next", None, jobs.double, 4), timeout=30)
    assert after["result"] == 8
    assert alive_engines(cluster) == engines


def test_a_function_that_ends_its_own_process_fails_and_its_engine_lives_on(client, cluster):
    engines = alive_engines(cluster)
    job_id = client.submit("g", "exits", None, jobs.exits, 3)

    info = client.wait(job_id, timeout=30)

    assert info["status"] == "Failed"
    assert "died before it finished: it exited with code 3" in info["result"]
    assert alive_engines(cluster) == engines
    client.drain(timeout=30)


def test_a_job_whose_process_dies_runs_again_with_retries(client, redis_client):
    url = client.settings.redis_url
    job_id = client.with_options(retries=1).submit(
        "g", "fragile", None, jobs.exits_on_first_attempt, url, "attempts"
    )

    info = client.wait(job_id, timeout=60)

    assert (info["status"], info["result"], info["attempt"]) == ("Success", "second attempt", 2)
    assert redis_client.get("attempts") == "2"


def test_a_cancel_as_a_job_starts_always_stops_it_and_never_ends_an_engine(
    client, redis_client, cluster
):
    """Findings 2 and 3: a cancel sent the moment a job is ``Running`` (between the
    engine's start write and its watch, before) was lost, and the function ran its full
    length; an interrupt that landed in moi's own code could end a healthy engine."""
    engines = alive_engines(cluster)
    url = client.settings.redis_url
    rounds = 12
    for number in range(rounds):
        job_id = client.submit(
            "g", f"short {number}", None, jobs.marks_after, url, f"finished:{number}", 2
        )
        cancel_when_running(client, redis_client, job_id)
        info = client.wait(job_id, timeout=10)
        assert info["status"] == "Cancelled"
    client.drain(timeout=GRACE + 30)
    ran_out = [n for n in range(rounds) if redis_client.get(f"finished:{n}")]
    assert ran_out == [], "these jobs ran their full length though cancelled as they started"
    assert alive_engines(cluster) == engines, "no engine was ended"


def cancel_when_running(client, redis_client, job_id, timeout=30):
    """Cancel the job the moment its notices say it is Running (in a thread of its own,
    as a browser's cancel would come)."""
    notices = Subscriber(redis_client, f"{job_id}:pubsub")
    try:
        deadline = time.monotonic() + timeout
        while client.get(job_id)["status"] == "Queued":
            notices.next(timeout=max(0.01, deadline - time.monotonic()))
    finally:
        notices.close()
    canceller = threading.Thread(target=client.cancel, args=(job_id,))
    canceller.start()
    canceller.join(timeout)
