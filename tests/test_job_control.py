"""Job control on a real cluster: cancel, time limits, retries after an engine died.

These tests end engines on purpose (a function that will not stop, a function that kills
its engine), so they run on a cluster of their own that starts an engine again whenever
one ends, as ``make run``'s does.
"""

from __future__ import annotations

import time
from dataclasses import replace

import ipyparallel
import psutil
import pytest
from prometheus_client import REGISTRY

from moi import keys, record
from moi.embedded import LocalCluster
from moi.exceptions import JobNotFound
from moi.sync import SyncClient
from tests import jobs
from tests.conftest import Subscriber, end_jobs, wait_idle

GRACE = 2


@pytest.fixture(scope="module")
def kept_cluster(tmp_path_factory):
    local = LocalCluster(2, tmp_path_factory.mktemp("kept"), keep=True)
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def client(settings, kept_cluster, moi_context):
    """The module's client, dispatching to the module's cluster (the session's client
    stands by meanwhile)."""
    moi_context.stop_dispatching()
    moi = SyncClient(
        replace(settings, ipp_connection_file=kept_cluster.connection_file, cancel_grace=GRACE)
    )
    try:
        moi.start(dispatch=True)
        yield moi
    finally:
        moi.close()
        moi_context.start(dispatch=True)


@pytest.fixture(scope="module")
def kept_hub(kept_cluster):
    """An ipyparallel client of the module's cluster, to ask its hub whether it is idle."""
    hub = ipyparallel.Client(kept_cluster.connection_file)
    yield hub
    hub.close()


@pytest.fixture
def rc(client, redis_client, kept_hub):
    """The session's Redis, emptied for this test; the test's jobs are ended after it."""
    redis_client.flushdb()
    yield redis_client
    end_jobs(client, redis_client, kept_hub)


def wait_for_status(client, rc, job_id, prefix, timeout=30):
    """The job's info once its status starts with ``prefix`` (the sign it is running)."""
    notices = Subscriber(rc, f"{job_id}:pubsub")
    try:
        deadline = time.monotonic() + timeout
        while not str((info := client.get(job_id))["status"]).startswith(prefix):
            notices.next(timeout=max(0.01, deadline - time.monotonic()))
        return info
    finally:
        notices.close()


def pid_of(info) -> int:
    return int(info["status"].removeprefix("pid "))


def occupy_engines(client, rc, count):
    """Keep ``count`` engines busy until the returned function releases them."""
    url = client.settings.redis_url
    ids = [
        client.submit("g", f"blocker {n}", None, jobs.blocks_until_released, url, "release")
        for n in range(count)
    ]
    for job_id in ids:
        wait_for_status(client, rc, job_id, "Waiting")

    def release():
        rc.rpush("release", *["go"] * count)
        for job_id in ids:
            assert client.wait(job_id, timeout=30)["status"] == "Success"

    return release


def test_a_queued_job_cancelled_never_runs(client, rc, cluster_hub):
    release = occupy_engines(client, rc, 2)
    job_id = client.submit(
        "g", "never", None, jobs.marks_that_it_ran, client.settings.redis_url, "ran"
    )
    assert client.get(job_id)["status"] == "Queued"

    assert client.cancel(job_id, by="alice") is True

    info = client.get(job_id)
    assert info["status"] == "Cancelled"
    assert info["result"].startswith("Cancelled by alice at ")
    assert info["date_end"] is not None
    assert rc.zscore(keys.queue_key("g"), job_id) is None  # out of its queue at once
    release()
    wait_idle(cluster_hub)  # the engines took whatever waited: never this one
    assert rc.get("ran") is None
    assert client.get(job_id)["status"] == "Cancelled"


def test_a_running_job_cancelled_stops_and_its_engine_takes_the_next_job(client, rc):
    release = occupy_engines(client, rc, 1)
    job_id = client.submit("g", "sleeper", None, jobs.tells_pid_then_sleeps, 60)
    engine = pid_of(wait_for_status(client, rc, job_id, "pid "))

    assert client.cancel(job_id) is True

    assert client.wait(job_id, timeout=2)["status"] == "Cancelled"
    after = client.submit("g", "next", None, jobs.pid)
    info = client.wait(after, timeout=10)  # the only free engine is the cancelled job's
    assert info["status"] == "Success"
    assert info["result"] == engine
    assert client.get(job_id)["status"] == "Cancelled"
    release()


def test_a_job_that_ignores_the_interrupt_has_its_process_ended_and_its_engine_lives_on(client, rc):
    release = occupy_engines(client, rc, 1)
    job_id = client.submit("g", "stubborn", None, jobs.ignores_interrupts, 120)
    engine, process = pids_of(wait_for_status(client, rc, job_id, "pid "))
    assert engine != process

    assert client.cancel(job_id) is True

    assert client.get(job_id)["status"] == "Cancelled"
    psutil.Process(process).wait(timeout=GRACE + 20)  # ended once the grace is over
    assert psutil.Process(engine).is_running(), "the engine itself is never ended"
    after = client.submit("g", "next", None, jobs.pid)
    info = client.wait(after, timeout=30)  # the only free engine is the stubborn job's
    assert (info["status"], info["result"]) == ("Success", engine)
    assert client.get(job_id)["status"] == "Cancelled"
    release()


def pids_of(info) -> tuple[int, int]:
    """The engine's and the job process's PIDs, from "pid ENGINE process JOB_PROCESS"."""
    _, engine, _, process = info["status"].split()
    return int(engine), int(process)


def test_a_job_past_its_time_limit_ends_failed_with_the_reason(client, rc):
    limited = client.with_options(time_limit=1)
    job_id = limited.submit("g", "too long", None, jobs.tells_pid_then_sleeps, 60)

    info = client.wait(job_id, timeout=10)

    assert info["status"] == "Failed"
    assert info["result"] == "time limit of 1 s exceeded"
    assert info["time_limit"] == 1
    after = client.submit("g", "next", None, jobs.double, 4)
    assert client.wait(after, timeout=10)["result"] == 8


def test_a_job_within_its_time_limit_succeeds(client, rc):
    job_id = client.with_options(time_limit=30).submit("g", "quick", None, jobs.double, 2)
    info = client.wait(job_id, timeout=30)
    assert (info["status"], info["result"]) == ("Success", 4)


def test_cancelling_an_ended_job_changes_nothing(client, rc):
    job_id = client.submit("g", "done", None, jobs.double, 3)
    before = client.wait(job_id, timeout=30)

    assert client.cancel(job_id) is False

    assert client.get(job_id) == before


def test_cancelling_an_unknown_job_is_an_error(client, rc):
    with pytest.raises(JobNotFound):
        client.cancel("00000000-0000-4000-8000-000000000000")
    with pytest.raises(JobNotFound):
        client.cancel("not-a-job")


def test_a_job_whose_engine_dies_runs_again_with_retries(client, rc):
    url = client.settings.redis_url
    retried = REGISTRY.get_sample_value("moi_jobs_retried_total")
    job_id = client.with_options(retries=1).submit(
        "g", "fragile", None, jobs.dies_on_first_attempt, url, "attempts"
    )

    info = client.wait(job_id, timeout=60)
    assert REGISTRY.get_sample_value("moi_jobs_retried_total") == retried + 1

    assert (info["status"], info["result"]) == ("Success", "second attempt")
    assert (info["attempt"], info["retries"]) == (2, 1)
    assert rc.get("attempts") == "2"
    assert not rc.hexists(keys.CALLS, job_id), "its kept call went with its end"


def test_a_job_whose_engine_dies_without_retries_ends_failed(client, rc):
    url = client.settings.redis_url
    job_id = client.submit("g", "fragile", None, jobs.dies_on_first_attempt, url, "attempts")

    info = client.wait(job_id, timeout=60)

    assert info["status"] == "Failed"
    assert "engine running this job died" in info["result"]
    assert info["attempt"] == 1
    assert rc.get("attempts") == "1"
    assert not rc.exists(keys.CALLS), "no retries: no call kept"


def test_a_lost_attempt_can_neither_write_nor_end_the_next_one(rc):
    writer = record.Writer(rc)
    first = record.new_info("g", "twice", None, retries=1)
    # Stored as create stores it, but in no queue: no engine may take it in this test.
    rc.set(first["id"], record.encode(first), ex=60)
    rc.hset(keys.CALLS, first["id"], record.stored_call(b"the call"))
    assert record.loaded_call(rc.hget(keys.CALLS, first["id"])) == b"the call"
    second = {**first, "attempt": 2, "status": "Running"}
    assert writer.update(second, 60)

    assert not writer.update({**first, "status": "Success", "result": 1}, 60, lease="end")
    assert not writer.fail(first["id"], "its task failed", attempt=1)
    assert record.decode(rc.get(first["id"])) == second
    assert rc.hexists(keys.CALLS, first["id"])

    assert writer.update({**second, "status": "Success", "result": 2}, 60, lease="end")
    assert not rc.hexists(keys.CALLS, first["id"]), "the end takes the kept call"


def test_a_job_whose_function_raises_is_never_retried(client, rc):
    job_id = client.with_options(retries=2).submit("g", "raises", None, jobs.raises, "no")
    info = client.wait(job_id, timeout=30)
    assert info["status"] == "Failed"
    assert info["attempt"] == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"time_limit": -1}, ValueError),
        ({"time_limit": "10"}, ValueError),
        ({"retries": -1}, ValueError),
        ({"retries": 1.5}, TypeError),
    ],
)
def test_bad_options_are_refused_before_anything_is_stored(client, rc, options, error):
    with pytest.raises(error):
        client.with_options(**options)
    assert rc.dbsize() == 0


def test_a_function_may_have_keywords_named_like_the_options(client, rc):
    job_id = client.with_options(time_limit=30).submit(
        "g", "kw", None, jobs.returns, value={"time_limit": 5}
    )
    assert client.wait(job_id, timeout=30)["result"] == {"time_limit": 5}


def test_a_cancel_racing_the_end_of_a_job_never_changes_a_final_status(client, rc):
    """Cancels sent while short jobs end: whichever is stored first stays, every time.

    The cancels go newest first, towards the jobs the engines are ending: the first ones
    find jobs still queued, the last ones jobs long ended, and where they meet the
    cancels race the ends, however fast the engines are.
    """
    ids = client.submit_many("g", None, [(f"quick {n}", jobs.double, n) for n in range(200)])
    client.wait(ids[10], timeout=30)  # from here on, jobs end while they are cancelled
    cancelled = {job_id: client.cancel(job_id) for job_id in reversed(ids)}
    client.drain(timeout=60)

    for n, job_id in enumerate(ids):
        info = client.get(job_id)
        if cancelled[job_id]:
            assert (info["status"], info["result"][:9]) == ("Cancelled", "Cancelled"), n
        else:
            assert (info["status"], info["result"]) == ("Success", n * 2), n
    assert set(cancelled.values()) == {True, False}, "the race was not run: try more jobs"
