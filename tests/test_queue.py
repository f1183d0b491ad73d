"""moi's own queue on a real 2-engine cluster: fair turns between groups, limits, bulk
jobs, the place of a waiting job, and a cancel that takes a job out of its queue."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime

import pytest

from moi import keys
from moi.exceptions import QueueFull
from moi.sync import SyncClient
from tests import jobs

TIMEOUT = 60


def started(info: dict) -> datetime:
    return datetime.fromisoformat(info["date_start"])


def ended(info: dict) -> datetime:
    return datetime.fromisoformat(info["date_end"])


def seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def test_a_second_user_waits_for_one_job_not_for_the_first_users_batch(r, moi_context):
    """A submits 20 jobs of 2 s, then B one: B's job runs as soon as an engine is free
    (within 2.5 s of its submit): before A's third starts, not after A's twentieth."""
    client = moi_context
    batch = client.submit_many("ann", None, [(f"a{n}", jobs.sleeps, 2) for n in range(20)])
    bobs = client.submit("bob", "b", None, jobs.sleeps, 1)
    bob = client.wait(bobs, timeout=TIMEOUT)
    assert bob["status"] == "Success"
    waited = seconds(bob["date_start"], bob["date_created"])
    assert waited <= 2.5, f"B's job waited {waited:.2f} s"
    anns = [client.get(job_id) for job_id in batch]
    started_before = [i for i in anns if i["date_start"] and i["date_start"] < bob["date_start"]]
    assert len(started_before) <= 2, "B's job started after more than one round of A's"


def test_with_a_limit_of_one_running_job_two_users_take_turns(r, exclusive_dispatch, settings):
    """``max_running_per_group = 1``: each group has one job running at any time, and both
    groups' jobs run side by side, so both progress and no engine idles while one waits."""
    limited = dataclasses.replace(settings, max_running_per_group=1)
    with SyncClient(limited) as client:
        client.start(dispatch=True)
        ids = {
            group: client.submit_many(group, None, [(f"{group} job", jobs.sleeps, 0.4)] * 4)
            for group in ("ann", "bob")
        }
        infos = {
            group: [client.wait(job_id, timeout=TIMEOUT) for job_id in group_ids]
            for group, group_ids in ids.items()
        }
    for group, done in infos.items():
        assert [info["status"] for info in done] == ["Success"] * 4
        spans = sorted((started(i), ended(i)) for i in done)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"two of {group}'s jobs ran at once"
    # Both progressed together: each of ann's jobs overlapped one of bob's.
    bobs = [(started(i), ended(i)) for i in infos["bob"]]
    for info in infos["ann"]:
        assert any(started(info) < end and start < ended(info) for start, end in bobs)


def test_every_engine_works_while_jobs_wait(r, moi_context):
    client = moi_context
    ids = client.submit_many("ann", None, [("j", jobs.tells_pid_then_sleeps, 0.5)] * 4)
    done = sorted(
        (client.wait(job_id, timeout=TIMEOUT) for job_id in ids), key=lambda i: i["date_start"]
    )
    assert {info["status"] for info in done} == {"Success"}
    # The second starts while the first runs, and the third as soon as one of them ends.
    assert done[1]["date_start"] < done[0]["date_end"], "one engine idled"
    assert seconds(done[2]["date_start"], min(done[0]["date_end"], done[1]["date_end"])) < 0.3


def test_map_makes_one_full_job_per_item(r, moi_context, subscribe):
    client = moi_context
    group = subscribe(keys.group_channel("ann"))
    ids = client.map("ann", "double", None, jobs.double, range(300))
    assert len(ids) == len(set(ids)) == 300
    assert group.next()[1] == {"add": ids}
    done = [client.wait(job_id, timeout=TIMEOUT) for job_id in ids]
    assert [info["result"] for info in done] == [2 * n for n in range(300)]
    assert [info["name"] for info in done[:2]] == ["double 1 of 300", "double 2 of 300"]
    assert {info["status"] for info in done} == {"Success"}
    assert r.scard("ann:jobs") == 300
    assert r.hlen(keys.CALLS) == 0, "every call is dropped with its job's end"


def test_no_job_of_a_map_runs_twice(r, moi_context, settings):
    key = "runs:map"
    ids = moi_context.map("ann", "count", None, _counter(settings.redis_url, key), range(500))
    for job_id in ids:
        assert moi_context.wait(job_id, timeout=TIMEOUT)["status"] == "Success"
    runs = r.hgetall(key)
    assert len(runs) == 500 and set(runs.values()) == {"1"}


def _counter(redis_url: str, key: str):
    from functools import partial

    return partial(jobs.counts_runs, redis_url, key)


def test_a_waiting_job_knows_how_many_wait_ahead_and_a_cancel_takes_it_out(
    r, exclusive_dispatch, settings
):
    with SyncClient(settings) as client:  # it does not dispatch: nothing starts
        client.start(dispatch=False)
        ids = [client.submit("ann", f"w{n}", None, jobs.double, n) for n in range(3)]
        assert [client.ahead(job_id) for job_id in ids] == [0, 1, 2]
        assert client.waiting("ann") == client.waiting() == 3
        assert client.cancel(ids[0]) is True
        assert r.zscore(keys.queue_key("ann"), ids[0]) is None
        assert r.hget(keys.CALLS, ids[0]) is None
        assert [client.ahead(job_id) for job_id in ids] == [None, 0, 1]
        client.start(dispatch=True)  # now the others run; the cancelled one never does
        assert [client.wait(i, timeout=TIMEOUT)["status"] for i in ids] == [
            "Cancelled",
            "Success",
            "Success",
        ]


def test_a_submit_past_the_queued_limit_is_refused_and_stores_nothing(
    r, exclusive_dispatch, settings
):
    limited = dataclasses.replace(settings, max_queued_per_group=3)
    with SyncClient(limited) as client:
        client.start(dispatch=False)
        client.submit_many("ann", None, [(f"w{n}", jobs.double, n) for n in range(3)])
        with pytest.raises(QueueFull, match="most jobs waiting that it may \\(3\\)"):
            client.submit("ann", "one more", None, jobs.double, 1)
        with pytest.raises(QueueFull):
            client.map("ann", "many", None, jobs.double, range(2000))
        assert r.scard("ann:jobs") == 3
        client.submit("bob", "another group", None, jobs.double, 1)  # a limit per group
        assert client.waiting() == 4


def test_jobs_wait_while_nobody_dispatches_and_run_when_one_does(r, exclusive_dispatch, settings):
    with SyncClient(settings) as client:
        client.start(dispatch=False)
        job_id = client.submit("ann", "patient", None, jobs.double, 4)
        assert client.cluster() is None  # no dispatcher reports
        assert client.get(job_id)["status"] == "Queued"
        client.start(dispatch=True)
        assert client.wait(job_id, timeout=TIMEOUT)["result"] == 8
        assert client.cluster()["engines"] == 2
