"""The reaper's rules, on the real Redis and cluster: who reaps, and which jobs end."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

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


def store_queued(r, *, age: float, task: str) -> str:
    """A Queued job made ``age`` seconds ago, whose task is ``task`` ("" if never sent)."""
    info = record.new_info("ann", "old", None)
    info["date_created"] = (datetime.now(UTC) - timedelta(seconds=age)).isoformat()
    record.Writer(r).create([info], 3600)
    r.hset(keys.QUEUED, info["id"], task)
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


def test_a_queued_job_whose_task_the_controller_never_knew_ends_failed(r, ours):
    lost = store_queued(r, age=10, task="no-such-task-0000")
    young = store_queued(r, age=0, task="no-such-task-0001")  # the controller may not know yet

    async def body(one):
        return await one.reap_queued()

    assert run(with_reapers(ours, 1, body)) == [lost]
    info = json.loads(r.get(lost))
    assert (info["status"], info["result"]) == ("Failed", reaper.LOST_TASK)
    assert r.hkeys(keys.QUEUED) == [young]
    assert json.loads(r.get(young))["status"] == "Queued"


def test_a_queued_job_the_controller_knows_is_left_alone(r, ours, moi_context):
    # Two engines busy, a third job waiting: all three tasks known to the controller.
    key = "release:known"
    busy = [
        moi_context.submit("ann", "busy", None, jobs.blocks_until_released, ours.redis_url, key)
        for _ in range(3)
    ]
    moi_context.flush()
    try:
        queued = [job_id for job_id in busy if r.hget(keys.QUEUED, job_id)]
        assert queued, "three jobs on two engines: one waits"

        tasks = [r.hget(keys.QUEUED, job_id) for job_id in queued]

        async def body(one):
            return await one._unknown_tasks(tasks), await one.reap_queued()

        # lease=0: every queued job is old enough to be asked about
        assert run(with_reapers(dataclasses.replace(ours, lease=0), 1, body)) == (set(), [])
    finally:
        r.rpush(key, *["go"] * 3)
    for job_id in busy:
        assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
    assert r.hlen(keys.QUEUED) == 0


def test_a_job_never_sent_ends_failed_once_its_submitter_had_time_to_send_it(r, ours):
    unsent = store_queued(r, age=ours.write_retry + ours.lease + 1, task="")
    recent = store_queued(r, age=1, task="")

    async def body(one):
        return await one.reap_queued()

    assert run(with_reapers(ours, 1, body)) == [unsent]
    assert json.loads(r.get(unsent))["result"] == reaper.NEVER_SENT
    assert json.loads(r.get(recent))["status"] == "Queued"


def test_entries_of_jobs_that_started_ended_or_expired_are_dropped(r, ours):
    ended = store_queued(r, age=10, task="")
    record.Writer(r).fail(ended, "ended")
    r.hset(keys.QUEUED, ended, "")  # as if a late write had put it back
    r.hset(keys.QUEUED, "00000000-0000-4000-8000-000000000000", "")  # expired record

    async def body(one):
        return await one.reap_queued()

    assert run(with_reapers(ours, 1, body)) == []
    assert r.hlen(keys.QUEUED) == 0


def test_a_lapsed_lease_of_a_job_sent_again_meanwhile_is_only_dropped(r, ours):
    again = store_queued(r, age=0, task="")  # Queued: its lease is a leftover
    r.zadd(keys.LEASES, {again: 0})

    async def body(one):
        one.trust_leases()
        return await one.reap_lapsed()

    assert run(with_reapers(dataclasses.replace(ours, lease=0), 1, body)) == []
    assert json.loads(r.get(again))["status"] == "Queued"
    assert r.zcard(keys.LEASES) == 0


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
    moi_context.drain(30)
    assert r.hlen(keys.QUEUED) == 0
    assert r.zcard(keys.LEASES) == 0


def test_moi_reap_once_ends_a_job_whose_lease_lapsed(r, settings, tmp_path):
    info = record.new_info("ann", "orphan", None)
    info["status"] = "Running"
    record.Writer(r).create([info], 3600)
    r.hdel(keys.QUEUED, info["id"])
    r.zadd(keys.LEASES, {info["id"]: 0})  # lapsed long ago
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
    stored = json.loads(r.get(info["id"]))
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
