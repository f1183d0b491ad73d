"""The reaper's rules, on the real Redis and cluster: who reaps, and which jobs end."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from moi import keys, reaper, record
from moi.reaper import Reaper
from tests import jobs


@pytest.fixture
def ours(settings):
    return dataclasses.replace(settings, lease=1, write_retry=5)


def run(coroutine):
    return asyncio.run(coroutine)


async def with_reapers(settings, count, body):
    """``body(*reapers)`` with ``count`` reapers, as if in as many processes."""
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    reapers = [Reaper(client, settings) for _ in range(count)]
    try:
        return await body(*reapers)
    finally:
        for one in reapers:
            await one.close()
        await client.aclose()


def store(r, status: str, **fields) -> str:
    """A job of ann stored as ``status``, as an engine would have left it."""
    info = {**record.new_info("ann", "old", None), "status": status, **fields}
    r.set(info["id"], record.encode(info), ex=3600)
    return info["id"]


def test_one_reaper_at_a_time_and_the_next_takes_over_when_it_lets_go(r, ours):
    async def body(first, second):
        assert await first.hold()
        assert await first.hold()  # keeps it
        assert not await second.hold()
        assert 0 < await first.redis.ttl(keys.REAPER_LOCK) <= 3
        await first.close()
        assert await second.hold()
        assert not await first.hold()

    run(with_reapers(ours, 2, body))


def test_a_lapsed_lease_of_a_job_taken_but_never_started_puts_it_back_in_front(
    r, ours, exclusive_dispatch
):
    """Its engine died between taking it and starting it: no retry is used, the lost
    engine is fenced by the attempt, and the job waits ahead of those never run."""
    behind = store(r, "Queued")
    r.zadd(keys.queue_key("ann"), {behind: 5})
    taken = store(r, "Queued")
    r.zadd(keys.LEASES, {taken: 0})
    r.sadd(keys.running_key("ann"), taken)

    async def body(one):
        one.trust_leases()
        return await one.reap_lapsed()

    assert run(with_reapers(dataclasses.replace(ours, lease=0), 1, body)) == []
    info = json.loads(r.get(taken))
    assert (info["status"], info["attempt"], info["requeues"]) == ("Queued", 2, 1)
    assert r.zrange(keys.queue_key("ann"), 0, -1) == [taken, behind]
    assert r.zcard(keys.LEASES) == 0 and r.scard(keys.running_key("ann")) == 0


def test_a_lapsed_lease_of_a_running_job_with_a_retry_left_puts_it_back(
    r, ours, exclusive_dispatch
):
    job_id = store(r, "Running", retries=1)
    r.zadd(keys.LEASES, {job_id: 0})

    async def body(one):
        one.trust_leases()
        return await one.reap_lapsed()

    assert run(with_reapers(dataclasses.replace(ours, lease=0), 1, body)) == []
    info = json.loads(r.get(job_id))
    assert (info["status"], info["attempt"]) == ("Queued", 2)
    assert "requeues" not in info
    assert r.zrange(keys.queue_key("ann"), 0, -1) == [job_id]
    assert r.zscore(keys.READY, "ann") is not None


def test_leases_are_not_reaped_until_redis_has_been_up_a_lease_length(r, ours):
    r.zadd(keys.LEASES, {"00000000-0000-4000-8000-000000000001": 0})
    long_lease = dataclasses.replace(ours, lease=10**6)  # longer than this Redis has run

    async def body(one):
        one.trust_leases()  # as if this process had been up long enough
        return await one.reap_lapsed()

    assert run(with_reapers(long_lease, 1, body)) == []
    assert r.zcard(keys.LEASES) == 1


def test_a_submitted_job_leaves_no_entries_once_it_ends(r, moi_context):
    job_id = moi_context.submit("ann", "double", None, jobs.double, 21)
    assert moi_context.wait(job_id, timeout=30)["result"] == 42
    assert r.zcard(keys.LEASES) == 0
    assert r.hlen(keys.CALLS) == 0
    assert r.exists(keys.queue_key("ann"), keys.running_key("ann"), keys.READY) == 0


def test_moi_reap_once_ends_a_job_whose_lease_lapsed(r, settings, tmp_path):
    job_id = store(r, "Running")
    r.zadd(keys.LEASES, {job_id: 0})  # lapsed long ago
    ini = tmp_path / "moi.ini"
    ini.write_text(
        f"[redis]\nurl = {settings.redis_url}\n[jobs]\nlease = 1\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "moi", "--config", str(ini), "reap", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 jobs ended"
    stored = json.loads(r.get(job_id))
    assert (stored["status"], stored["result"]) == ("Failed", reaper.lapsed_message(1))
    assert r.zcard(keys.LEASES) == 0


def test_moi_reap_refuses_a_missing_config_file(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "moi", "--config", str(tmp_path / "nope.ini"), "reap", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "nope.ini" in done.stderr
    assert "Traceback" not in done.stderr
