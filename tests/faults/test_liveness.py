"""A job whose engine is lost ends Failed, or is sent again if it has a retry left, even
when the process that submitted it is gone.

Real faults only, on a private cluster of two engines (so the session's cluster keeps its
engines): the submitting process is killed with SIGKILL, then the job's engine is killed
or frozen by PID. A reaper in another process (this one) ends the job, or sends it again
to the other engine, when its lease lapses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import ipyparallel
import pytest
from prometheus_client import REGISTRY

from moi import keys, reaper
from moi.embedded import LocalCluster
from moi.sync import SyncClient
from tests.wsclient import run, serve

pytestmark = pytest.mark.faults

LEASE = 2
BOUND = 30  # seconds from the fault to the job's final state (issue #11)

SUBMITTER = textwrap.dedent(
    """
    import sys
    from moi.config import Settings
    from moi.sync import SyncClient
    from tests import jobs

    redis_url, connection_file, lease, key, retries = sys.argv[1:]
    client = SyncClient(Settings(redis_url=redis_url, ipp_connection_file=connection_file,
                                 lease=int(lease)))
    submitter = client.with_options(retries=int(retries))
    print(submitter.submit("ann", "blocks", None, jobs.tells_pid_then_blocks, redis_url, key),
          flush=True)
    sys.stdin.read()  # until killed
    """
)


@pytest.fixture
def own_cluster(tmp_path):
    with LocalCluster(2, tmp_path / "ipython") as cluster:
        yield cluster


@pytest.fixture
def ours(settings, own_cluster, exclusive_dispatch):
    return dataclasses.replace(
        settings, ipp_connection_file=own_cluster.connection_file, lease=LEASE
    )


@pytest.fixture
def reaping(ours, r):
    """A client in this process that runs the reaper, as a moi server does."""
    with SyncClient(ours) as client:
        client.start(reap=True, dispatch=True)
        yield client


def submit_and_kill_submitter(ours, r, key: str, retries: int = 0) -> tuple[str, int]:
    """Submit a blocking job from another process, and SIGKILL that process once the job
    runs; the job's ID and its engine's PID."""
    argv = [sys.executable, "-c", SUBMITTER, ours.redis_url, ours.ipp_connection_file]
    with subprocess.Popen(
        [*argv, str(LEASE), key, str(retries)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            job_id = process.stdout.readline().strip()
            assert keys.is_job_id(job_id), job_id
            pid = engine_pid(r, job_id)
        finally:
            process.kill()
            process.wait(10)
    return job_id, pid


def wait_for_task(ours, index: int, timeout: float = BOUND) -> None:
    """Wait until the cluster's ``index``-th task (in the order they were sent) has come
    back: its engine's attempt at the job is over, the final write tried.

    The submitter that sent it is gone, so the controller's hub is asked.
    """
    hub = ipyparallel.Client(ours.ipp_connection_file)
    try:
        task = hub.get_result(hub.hub_history()[index], owner=False)
        assert task.wait(timeout), f"the task did not come back within {timeout} s"
    finally:
        hub.close()


def engine_pid(r, job_id: str, timeout: float = 30, attempt: int = 1) -> int:
    """The PID the job's engine reported in its status text (on ``attempt``), waiting on
    the job's channel."""

    def reported() -> dict | None:
        info = json.loads(r.get(job_id))
        told = info["status"].startswith("pid ") and info["attempt"] == attempt
        return info if told else None

    with r.pubsub() as pubsub:
        pubsub.subscribe(keys.job_channel(job_id))
        assert pubsub.get_message(timeout=10)["type"] == "subscribe"
        while (info := reported()) is None:
            assert pubsub.get_message(timeout=timeout) is not None, "the job never started"
    return int(info["status"].split()[1])


def test_killed_engine_of_a_dead_submitter_ends_the_job_failed(ours, reaping, r):
    job_id, pid = submit_and_kill_submitter(ours, r, "release:killed")
    assert r.zscore(keys.LEASES, job_id) is not None

    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    info = reaping.wait(job_id, timeout=BOUND)
    took = time.monotonic() - killed_at

    assert info["status"] == "Failed"
    assert info["result"] == reaper.lapsed_message(LEASE)
    assert info["date_end"] is not None
    assert r.zscore(keys.LEASES, job_id) is None
    assert took < BOUND
    print(f"killed engine's job ended {took:.1f} s after the kill (lease {LEASE} s)")


def test_frozen_engine_ends_the_job_failed_and_its_late_end_changes_nothing(ours, reaping, r):
    job_id, pid = submit_and_kill_submitter(ours, r, "release:frozen")

    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        info = reaping.wait(job_id, timeout=BOUND)
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"frozen engine's job ended {time.monotonic() - stopped_at:.1f} s after SIGSTOP")
    assert (info["status"], info["result"]) == ("Failed", reaper.lapsed_message(LEASE))

    # The engine wakes and its job ends: its final write is refused, the job stays Failed.
    failed = r.get(job_id)
    with r.pubsub() as pubsub:
        pubsub.subscribe(keys.job_channel(job_id))
        assert pubsub.get_message(timeout=10)["type"] == "subscribe"
        r.rpush("release:frozen", "go")
        wait_for_task(ours, 0)  # the only task: its engine tried its end, and is done
        assert r.llen("release:frozen") == 0, "the function took the release and returned"
        assert pubsub.get_message(timeout=0) is None  # no notice: nothing was written
    assert r.get(job_id) == failed
    assert r.zscore(keys.LEASES, job_id) is None


def test_a_frozen_engines_job_with_a_retry_runs_again_and_the_engine_that_wakes_is_shut_out(
    ours, reaping, r
):
    retried = REGISTRY.get_sample_value("moi_jobs_retried_total")
    job_id, first = submit_and_kill_submitter(ours, r, "release:again", retries=1)
    assert r.hexists(keys.CALLS, job_id), "its call is kept, for whoever sends it again"

    os.kill(first, signal.SIGSTOP)
    stopped_at = time.monotonic()
    frozen = True
    try:
        # The reaper gives the frozen engine up and sends the job to the other one.
        second = engine_pid(r, job_id, timeout=BOUND, attempt=2)
        print(f"sent again and running {time.monotonic() - stopped_at:.1f} s after SIGSTOP")
        assert second != first
        assert REGISTRY.get_sample_value("moi_jobs_retried_total") == retried + 1, "the reaper's"
        running = r.get(job_id)

        # The first engine wakes and its attempt ends (Redis hands a list's items to its
        # blocked readers in turn: the frozen one waited first), while the second runs:
        # its end is refused.
        with r.pubsub() as pubsub:
            pubsub.subscribe(keys.job_channel(job_id))
            assert pubsub.get_message(timeout=10)["type"] == "subscribe"
            r.rpush("release:again", "go")
            os.kill(first, signal.SIGCONT)
            frozen = False
            wait_for_task(ours, 0)  # the first attempt's task: its end was tried
            assert pubsub.get_message(timeout=0) is None  # no notice: nothing was written
        assert r.get(job_id) == running
        assert r.llen("release:again") == 0, "the first attempt took the release"
    finally:
        if frozen:
            os.kill(first, signal.SIGCONT)

    r.rpush("release:again", "go")
    info = reaping.wait(job_id, timeout=BOUND)
    assert (info["status"], info["result"], info["attempt"]) == ("Success", "released", 2)
    assert not r.hexists(keys.CALLS, job_id), "the kept call goes with the job's end"


def test_a_job_whose_engine_renews_its_lease_is_left_running(ours, reaping, r):
    job_id, _ = submit_and_kill_submitter(ours, r, "release:alive")
    first = r.zscore(keys.LEASES, job_id)

    # Three lease lengths: the reaper ran many rounds, the engine renewed many times.
    with r.pubsub() as pubsub:
        pubsub.subscribe(keys.job_channel(job_id))
        assert pubsub.get_message(timeout=10)["type"] == "subscribe"
        assert pubsub.get_message(timeout=3 * LEASE) is None  # not reaped: no notice
    assert r.zscore(keys.LEASES, job_id) > first
    r.rpush("release:alive", "go")
    info = reaping.wait(job_id, timeout=BOUND)
    assert (info["status"], info["result"]) == ("Success", "released")
    assert r.zscore(keys.LEASES, job_id) is None


@run
async def test_a_browser_watching_sees_the_job_of_a_killed_engine_end(ours, reaping, r):
    """The same fault, watched as the demo's page watches: over moi's websocket."""
    async with serve(ours.redis_url) as served:
        job_id, pid = await asyncio.to_thread(submit_and_kill_submitter, ours, r, "release:ws")
        client = await served.connect("ann")
        shown = await client.snapshot()
        assert shown[job_id]["status"].startswith("pid ")

        os.kill(pid, signal.SIGKILL)
        [*_, last] = await client.until(
            lambda message: message.get("update", {}).get("status") == "Failed", timeout=BOUND
        )
        assert last["update"]["id"] == job_id
        assert last["update"]["result"] == reaper.lapsed_message(LEASE)
        await client.aclose()
