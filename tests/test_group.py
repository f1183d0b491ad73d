"""moi.group: listing a group's jobs in one batch, and removing jobs."""

from __future__ import annotations

import json

import pytest

from moi import group, job, keys, record
from tests import jobs
from tests.conftest import store_infos


def store_jobs(r, group_name: str, count: int, status: str = "Success") -> list[str]:
    """Store ``count`` jobs of a group directly, as an engine would leave them."""
    infos = []
    for n in range(count):
        info = record.new_info(group_name, f"job {n}", None)
        info.update(status=status, result=n if status == "Success" else None)
        infos.append(info)
    store_infos(r, infos)
    return [info["id"] for info in infos]


def test_jobs_of_an_empty_group(r):
    assert group.jobs("nobody") == []


def test_jobs_returns_submitted_jobs(r):
    ids = [job.submit("g", f"double {n}", None, jobs.double, n) for n in range(3)]
    for job_id in ids:
        job.wait(job_id, timeout=30)
    listed = group.jobs("g")
    assert sorted(info["id"] for info in listed) == sorted(ids)
    assert sorted(info["result"] for info in listed) == [0, 2, 4]
    assert group.jobs("other") == []


def test_jobs_on_a_thousand_jobs_is_one_batch(r):
    ids = store_jobs(r, "big", 1000)
    before = r.info("commandstats")
    listed = group.jobs("big")
    after = r.info("commandstats")
    assert sorted(info["id"] for info in listed) == sorted(ids)
    calls = {
        name: after[name]["calls"] - before.get(name, {}).get("calls", 0)
        for name in after
        if after[name]["calls"] != before.get(name, {}).get("calls", 0)
    }
    # INFO itself is counted once (the second call); GET must never appear.
    assert calls.get("cmdstat_mget") == 1
    assert calls.get("cmdstat_smembers") == 1
    assert "cmdstat_get" not in calls


def test_jobs_drops_expired_records(r):
    ids = store_jobs(r, "g", 3)
    r.delete(ids[1])  # as if it had expired
    listed = group.jobs("g")
    assert {info["id"] for info in listed} == {ids[0], ids[2]}
    assert not r.sismember("g:jobs", ids[1])


def test_jobs_are_oldest_first(r):
    ids = store_jobs(r, "g", 5)
    listed = group.jobs("g")
    dates = [info["date_created"] for info in listed]
    assert dates == sorted(dates)
    assert {info["id"] for info in listed} == set(ids)


@pytest.mark.parametrize("as_list", [False, True], ids=["one-id", "list-of-ids"])
def test_remove_takes_jobs_out_and_announces_it(r, subscribe, as_list):
    ids = store_jobs(r, "g", 2)
    sub = subscribe(keys.group_channel("g"))
    group.remove("g", [ids[0]] if as_list else ids[0])
    assert sub.next() == ("g:pubsub", {"remove": [ids[0]]})
    assert r.smembers("g:jobs") == {ids[1]}
    assert r.get(ids[0]) is not None  # the record stays until it expires


def test_remove_nothing_does_nothing(r, subscribe):
    store_jobs(r, "g", 1)
    group.remove("g", [])
    assert r.scard("g:jobs") == 1


def test_remove_refuses_non_str_ids(r):
    ids = store_jobs(r, "g", 1)
    with pytest.raises(TypeError, match="job IDs must be str"):
        group.remove("g", [ids[0], 5])
    assert r.scard("g:jobs") == 1


def test_create_announces_a_list_of_ids(r, subscribe, exclusive_dispatch):
    sub = subscribe(keys.group_channel("g"))
    info = record.new_info("g", "job", None)
    job_id = info["id"]
    record.Writer(r).create([info], 3600, {job_id: b"a call"})  # no one dispatches it
    channel, message = sub.next()
    assert message == {"add": [job_id]}
    assert json.loads(r.get(job_id))["group"] == "g"


def test_add_puts_jobs_in_and_announces_it(r, subscribe, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    sub = subscribe(keys.group_channel("bob"))
    group.add("bob", job_id)
    assert sub.next() == ("bob:pubsub", {"add": [job_id]})
    assert r.sismember("bob:jobs", job_id)
    assert 0 < r.ttl("bob:jobs") <= settings.key_ttl
    assert [info["id"] for info in group.jobs("bob")] == [job_id]
