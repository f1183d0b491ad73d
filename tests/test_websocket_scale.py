"""The websocket at list sizes of thousands: snapshots in lists, sent a part at a time and
ordered without decoding every record, one message for a bulk remove or cancel, and one
error for a list's ended jobs."""

from __future__ import annotations

import json

import pytest

from moi import keys, record
from moi.hub import SNAPSHOT_LIST
from moi.messages import created
from moi.status import Status
from tests.conftest import store_infos
from tests.test_websocket import EndsAJobMidJoin
from tests.wsclient import run, serve


def store_many(r, group: str, count: int, status: str = "Success") -> list[str]:
    """``count`` jobs of ``group``, created a microsecond apart: the list's order is known
    (newest first)."""
    infos = []
    for n in range(count):
        info = record.new_info(group, f"job {n}", None)
        info.update(status=status, date_created=f"2026-12-07T10:00:00.{n:06d}+00:00")
        infos.append(info)
    pipe = r.pipeline(transaction=False)
    store_infos(pipe, infos)
    pipe.execute()
    return [info["id"] for info in infos]


@run
async def test_a_snapshot_of_2500_jobs_is_one_add_and_three_update_lists(r, settings):
    ids = store_many(r, "ann", 2500)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        added = await client.next()
        assert added == {"add": ids[::-1]}  # newest first
        lists = [(await client.next())["update"] for _ in range(3)]
        assert [len(infos) for infos in lists] == [SNAPSHOT_LIST, SNAPSHOT_LIST, 500]
        infos = [info for infos in lists for info in infos]
        assert [info["id"] for info in infos] == ids[::-1]
        assert infos[0] == json.loads(r.get(ids[-1]))
        await client.send({"get": None})  # a get brings the same, and nothing came between
        assert list(await client.snapshot()) == ids[::-1]
        await client.aclose()


@run
async def test_one_message_removes_10000_jobs(r, settings, subscribe):
    ids = store_many(r, "ann", 10_000)
    (kept,) = store_many(r, "ann", 1)
    async with serve(settings.redis_url) as served:
        ann1, ann2 = await served.connect("ann"), await served.connect("ann")
        await ann1.snapshot()
        await ann2.snapshot()
        await ann1.send({"remove": ids})
        for client in (ann1, ann2):
            removed: list[str] = []
            while len(removed) < len(ids):
                removed += (await client.next(30))["remove"]
            assert removed == ids
        assert r.smembers("ann:jobs") == {kept}
        await ann1.aclose()
        await ann2.aclose()


@run
async def test_one_message_cancels_10000_jobs_and_one_error_names_those_that_had_ended(
    r, settings, subscribe
):
    running = store_many(r, "ann", 10_000, status="Running")
    ended = store_many(r, "ann", 12, status="Success")
    before = {job_id: r.get(job_id) for job_id in ended}
    cancels = subscribe(keys.CANCELS)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"cancel": running[:5000] + ended + running[5000:]})
        errors: list[str] = []
        cancelled: set[str] = set()
        while len(cancelled) < len(running) or not errors:
            message = await client.next(30)
            if "error" in message:
                errors.append(message["error"])
                continue
            value = message["update"]
            for info in value if isinstance(value, list) else [value]:
                assert info["status"] == "Cancelled" and info["result"].startswith(
                    "Cancelled by ann"
                )
                cancelled.add(info["id"])
        assert cancelled == set(running)
        assert len(errors) == 1
        assert errors[0].startswith("12 of the 10012 jobs had already ended, left as they were: ")
        assert ended[0] in errors[0]
        assert {job_id: r.get(job_id) for job_id in ended} == before
        assert cancels.next() == (keys.CANCELS, {"cancel": running[0]})  # for the engines
        await client.aclose()


@run
async def test_a_cancel_of_one_ended_job_in_a_list_still_names_it(r, settings):
    (done,) = store_many(r, "ann", 1, status="Failed")
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"cancel": [done]})
        assert await client.next() == {"error": f"already ended, left as they were: {done}"}
        await client.aclose()


@run
async def test_unfinished_jobs_of_any_part_of_a_snapshot_are_read_again_once_followed(r, settings):
    ids = store_many(r, "ann", 2500)
    oldest, newest = ids[0], ids[-1]  # in the snapshot's last part, and in its first
    for job_id in (oldest, newest):
        info = json.loads(r.get(job_id))
        info["status"] = "Running"
        r.set(job_id, record.encode(info))
    hub = EndsAJobMidJoin(settings.redis_url, r)
    hub.ending = oldest  # ends once followed, before it is read again
    async with serve(settings.redis_url, hub=hub) as served:
        client = await served.connect("ann")
        infos = await client.snapshot()
        assert list(infos) == ids[::-1]
        assert infos[oldest]["status"] == "Success"  # the state after the subscription
        assert infos[newest]["status"] == "Running"
        await hub.settled()
        assert hub.job_groups == {newest: {"ann"}}  # ended jobs are not followed
        assert record.Writer(r).end(newest, Status.SUCCESS, "done")
        assert (await client.next())["update"]["status"] == "Success"
        await client.aclose()


@run
async def test_a_record_that_only_looks_like_an_info_is_taken_off_the_list_again(r, settings):
    ids = store_many(r, "ann", 3)
    bad = ids[1]
    text = r.get(bad)
    r.set(bad, text.replace('"result":null', '"result":nul'))  # the date still reads
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        assert await client.next() == {"add": ids[::-1]}  # not decoded yet: in the add
        update = (await client.next())["update"]
        assert [info["id"] for info in update] == [ids[2], ids[0]]
        assert await client.next() == {"remove": [bad]}  # and never a word of its text
        await client.send({"get": None})
        assert await client.next() == {"add": ids[::-1]}
        await client.aclose()


@run
async def test_a_snapshot_is_ordered_by_the_stored_dates_whatever_the_text_holds(r, settings):
    ids = store_many(r, "ann", 4)
    misleading = json.loads(r.get(ids[0]))  # the oldest, with a newer date in its result
    misleading["result"] = {"date_created": "2099-01-01T00:00:00.000000+00:00"}
    r.set(ids[0], record.encode(misleading))
    other = json.loads(r.get(ids[1]))  # written by another program: spaces, its own order
    r.set(ids[1], json.dumps(dict(reversed(other.items())), indent=1))
    undated = json.loads(r.get(ids[2]))
    undated["date_created"] = None
    r.set(ids[2], record.encode(undated))
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        assert list(await client.snapshot()) == [ids[3], ids[1], ids[0], ids[2]]
        await client.aclose()


JOB = "12345678-1234-4234-8234-123456789abc"


@pytest.mark.parametrize(
    "info",
    [
        record.new_info("ann", "job", None),
        {**record.new_info("ann", 'a "date_created":"2099" ]}', None), "result": [{"x": "}"}]},
        {**record.new_info("ann", "job", None), "result": {"date_created": "2099"}},
        {**record.new_info("ann", "job", None), "progress": 0.5, "status": "x}]\\"},
        {**record.new_info("ann", "job", None), "date_created": 'odd \\ "quoted"'},
        {**record.new_info("ann", "job", None), "date_created": None},
        {**record.new_info("ann", "job", None), "date_created": 12},
        {**record.new_info("ann", "job", None), "late": {"date_created": "2099"}},
        {"date_created": "2026-12-07T10:00:00+00:00", "id": JOB},
    ],
)
def test_created_reads_the_date_that_decoding_reads(info):
    info["id"] = JOB
    for raw in (record.encode(info), json.dumps(info), json.dumps(info, indent=2)):
        assert created(JOB, raw) == str(json.loads(raw)["date_created"] or "")


@pytest.mark.parametrize(
    "raw",
    [None, "", "[]", '"text"', "not json", json.dumps({"id": "someone-else"}), "{}"],
)
def test_created_is_none_for_what_is_not_the_jobs_info(raw):
    assert created(JOB, raw) is None
