"""The cluster's state over the websocket (``moi:cluster``), and the dispatcher's report
it relays (:mod:`moi.clusterfeed`, :mod:`moi.clusterreport`)."""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis

from moi import clusterfeed, clusterreport, job, keys
from tests import jobs
from tests.wsclient import run, serve


def report(**changes) -> dict:
    """A dispatcher's report, as :mod:`moi.dispatch` writes it."""
    made = {
        "engines": 4,
        "busy": 1,
        "waiting": 7,
        "per_minute": [0] * 59 + [3],
        "controller": None,
        "error": None,
        "tasks": 1,
        "dispatcher": "host:1",
        "fence": "1",
    }
    return made | changes


def queue_jobs(r, group: str, count: int) -> None:
    r.zadd(keys.queue_key(group), {f"job-{n}": n for n in range(count)})


@run
async def test_a_watcher_gets_the_state_at_once_then_each_new_report(
    exclusive_dispatch, r, settings
):
    r.set(keys.CLUSTER, json.dumps(report()), ex=60)
    queue_jobs(r, "ann", 2)
    queue_jobs(r, "bob", 5)
    async with serve(settings.redis_url) as served:
        ann = await served.connect("ann")
        await ann.snapshot()
        await ann.send({"moi:cluster": True})
        first = (await ann.next())["moi:cluster"]
        assert first == {
            "engines": 4,
            "busy": 1,
            "waiting": 7,
            "mine": 2,
            "per_minute": [0] * 59 + [3],
            "controller": "reachable",
            "dispatching": True,
        }
        queue_jobs(r, "ann", 3)
        r.publish(keys.CLUSTER_CHANNEL, json.dumps(report(busy=4, controller="no answer")))
        second = (await ann.next())["moi:cluster"]
        assert (second["busy"], second["mine"], second["controller"]) == (4, 3, "lost")
        assert "dispatcher" not in second and "fence" not in second  # the server's own
        await ann.aclose()


@run
async def test_with_no_dispatcher_at_work_the_state_is_unknown(exclusive_dispatch, r, settings):
    async with serve(settings.redis_url) as served:
        ann = await served.connect("ann")
        await ann.snapshot()
        await ann.send({"moi:cluster": True})
        state = (await ann.next())["moi:cluster"]
        assert state["dispatching"] is False and state["controller"] == "unknown"
        assert state["engines"] is None and state["mine"] == 0
        await ann.aclose()


@run
async def test_a_dispatcher_gone_silent_is_told_as_unknown(
    exclusive_dispatch, r, settings, monkeypatch
):
    monkeypatch.setattr(clusterfeed, "SILENT_AFTER", 0.5)
    r.set(keys.CLUSTER, json.dumps(report()), ex=60)
    async with serve(settings.redis_url) as served:
        ann = await served.connect("ann")
        await ann.snapshot()
        await ann.send({"moi:cluster": True})
        assert (await ann.next())["moi:cluster"]["dispatching"] is True
        assert (await ann.next(5))["moi:cluster"]["dispatching"] is False
        await ann.aclose()


@run
async def test_a_burst_of_reports_reaches_a_socket_twice_a_second_at_most(
    exclusive_dispatch, r, settings
):
    async with serve(settings.redis_url) as served:
        ann = await served.connect("ann")
        await ann.snapshot()
        await ann.send({"moi:cluster": True})
        await ann.next()
        for busy in range(10):
            r.publish(keys.CLUSTER_CHANNEL, json.dumps(report(busy=busy)))
        times: list[float] = []
        states: list[dict] = []
        while not states or states[-1]["busy"] != 9:
            states.append((await ann.next())["moi:cluster"])
            times.append(time.monotonic())
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert len(states) <= 3  # at once (or after the first's gap), then the latest
        assert all(gap >= clusterfeed.MIN_GAP * 0.9 for gap in gaps)
        await ann.aclose()


@run
async def test_many_watchers_share_one_subscription(exclusive_dispatch, r, settings):
    r.set(keys.CLUSTER, json.dumps(report()), ex=60)
    async with serve(settings.redis_url) as served:
        clients = [await served.connect(user) for user in ("ann", "ann", "bob")]
        for client in clients:
            await client.snapshot()
            await client.send({"moi:cluster": True})
            await client.next()
        assert r.pubsub_numsub(keys.CLUSTER_CHANNEL) == [(keys.CLUSTER_CHANNEL, 1)]
        for client in clients:
            await client.send({"moi:cluster": False})
        await asyncio.wait_for(served.hub.settled(), 10)
        assert r.pubsub_numsub(keys.CLUSTER_CHANNEL) == [(keys.CLUSTER_CHANNEL, 0)]
        assert served.hub.cluster.watchers == {}
        await clients[0].send({"moi:cluster": "yes"})
        assert await clients[0].next() == {
            "error": "moi:cluster takes true (watch the cluster) or false (stop)"
        }
        for client in clients:
            await client.aclose()


@run
async def test_jobs_per_minute_keep_the_last_hour_oldest_first(r, settings, exclusive_dispatch):
    """No dispatcher at work meanwhile: it would read the hash as of now, and drop these
    minutes of another time."""
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        now = 1_800_000_000.0
        await clusterreport.count_ended(redis, 2, now - 3600)  # an hour ago: dropped
        await clusterreport.count_ended(redis, 5, now - 60)
        await clusterreport.count_ended(redis, 1, now)
        await clusterreport.count_ended(redis, 2, now)
        minutes = await clusterreport.per_minute(redis, now)
        assert len(minutes) == 60 and minutes[-2:] == [5, 3] and sum(minutes) == 8
        assert await redis.hlen(keys.MINUTES) == 2  # the old minute went
        assert 0 < await redis.ttl(keys.MINUTES) <= 61 * 60
    finally:
        await redis.aclose()


@run
async def test_the_counts_sum_the_waiting_groups(r, settings):
    for group, count in (("ann", 3), ("bob", 4)):
        queue_jobs(r, group, count)
        r.zadd(keys.READY, {group: 1})
    r.zadd(keys.LEASES, {"job-a": 1, "job-b": 2})
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        assert await clusterreport.counts(redis) == (2, 7)
    finally:
        await redis.aclose()


def test_the_dispatchers_report_counts_jobs_ended_per_minute(r, subscribe):
    reports = subscribe(keys.CLUSTER_CHANNEL)  # published on each change
    job_id = job.submit("ann", "double", None, jobs.double, 2)
    job.wait(job_id, timeout=30)
    *_, (_, last) = reports.until(lambda _, report: sum(report["per_minute"]) >= 1)
    assert len(last["per_minute"]) == 60
    assert last["engines"] >= 1 and 0 <= last["busy"] <= last["engines"]
    assert last["waiting"] == 0
    assert json.loads(r.get(keys.CLUSTER))["per_minute"] == last["per_minute"]  # stored too
