"""submit, get and wait against the real Redis and cluster: the job's whole life."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from functools import partial

import pytest

from moi import context, job, keys
from moi.exceptions import JobNotFound
from moi.sync import SyncClient
from tests import jobs
from tests.conftest import wait_idle


def statuses_seen(subscriber, r, job_id, count):
    """Read ``count`` notices of the job; return them and the status read after each."""
    notices, statuses = [], []
    for _ in range(count):
        channel, message = subscriber.next(timeout=30)
        assert channel == f"{job_id}:pubsub"
        notices.append(message)
        statuses.append(json.loads(r.get(job_id))["status"])
    return notices, statuses


def test_submit_stores_info_object_and_announces_it(r, subscribe):
    group_sub = subscribe(keys.group_channel("alice"))
    job_id = job.submit("alice", "Say hello", "/result/hello", jobs.hello, "Ann")

    channel, message = group_sub.next()
    assert channel == "alice:pubsub"
    assert message == {"add": [job_id]}
    assert r.sismember("alice:jobs", job_id)
    info = job.wait(job_id, timeout=30)
    assert info["id"] == job_id
    assert info["name"] == "Say hello"
    assert info["handler"] == "/result/hello"
    assert info["group"] == "alice"
    assert info["status"] == "Success"
    assert info["result"] == "Hello, Ann!"
    assert info["date_created"] <= info["date_start"] <= info["date_end"]


def test_every_change_is_stored_then_announced_in_order(r, subscribe, settings):
    sub = subscribe(pattern="*:pubsub")  # in place before the job exists: sees everything
    release = "release:lifecycle"
    job_id = job.submit(
        "g", "held", None, jobs.blocks_until_released, settings.redis_url, release,
        ["one", "two", "three"],
    )  # fmt: skip
    assert sub.next() == ("g:pubsub", {"add": [job_id]})
    assert json.loads(r.get(job_id))["status"] in ("Queued", "Running", "Waiting")
    r.rpush(release, "go")
    changes = ["Running", "Waiting", "one", "two", "three", "Success"]
    notices, statuses = statuses_seen(sub, r, job_id, len(changes))

    assert notices == [{"update": "status"}] * len(changes)
    # A read made after the k-th notice shows the k-th change or a later one, never older.
    for k, status in enumerate(statuses):
        assert changes.index(status) >= k
    assert statuses[-1] == "Success"
    assert job.get(job_id)["result"] == "released"


def test_status_and_progress_updates_reach_a_subscriber(r, subscribe):
    def progress(status_update):
        for step in (1, 2, 3):
            status_update(f"step {step}", progress=step / 3)
        status_update(progress=1.0)
        return "done"

    sub = subscribe(pattern="*:pubsub")
    job_id = job.submit("g", "progress", None, progress)
    assert sub.next() == ("g:pubsub", {"add": [job_id]})
    # Running, three steps, a progress-only change, Success.
    notices, statuses = statuses_seen(sub, r, job_id, 6)
    assert [n["update"] for n in notices] == ["status"] * 4 + [None, "status"]
    assert statuses[-1] == "Success"
    info = job.get(job_id)
    assert info["progress"] == 1.0
    assert info["result"] == "done"


@pytest.mark.parametrize(
    "value",
    ["text", 42, 2.5, True, None, [1, "two", [3]], {"a": 1, "b": [None, {"c": "d"}]}],
    ids=["str", "int", "float", "bool", "none", "list", "dict"],
)
def test_results_that_json_carries_are_stored_as_they_are(r, value):
    info = job.wait(job.submit("g", "returns", None, jobs.returns, value), timeout=30)
    assert info["status"] == "Success"
    assert info["result"] == value


def test_result_json_cannot_carry_is_stored_as_repr(r):
    info = job.wait(job.submit("g", "opaque", None, jobs.returns_opaque), timeout=30)
    assert info["status"] == "Success"
    assert info["result"] == "<Opaque result>"


def test_nan_result_is_stored_as_repr(r):
    info = job.wait(job.submit("g", "nan", None, jobs.returns, float("nan")), timeout=30)
    assert info["result"] == "nan"


def test_exception_ends_failed_with_traceback(r):
    info = job.wait(job.submit("g", "boom", None, jobs.raises, "it broke"), timeout=30)
    assert info["status"] == "Failed"
    assert info["result"].startswith("Traceback (most recent call last):")
    assert "ValueError: it broke" in info["result"]
    assert "raises" in info["result"]  # the frame of the job's own function
    assert info["date_end"] is not None


def test_result_over_the_size_limit_ends_failed(r, settings):
    size = settings.max_result_bytes + 1
    info = job.wait(job.submit("g", "big", None, jobs.big_result, size), timeout=30)
    assert info["status"] == "Failed"
    assert "max_result_bytes" in info["result"]
    assert str(settings.max_result_bytes) in info["result"]


def test_result_at_the_size_limit_succeeds(r, settings):
    size = settings.max_result_bytes - 2  # the JSON string adds two quotes
    info = job.wait(job.submit("g", "fits", None, jobs.big_result, size), timeout=30)
    assert info["status"] == "Success"


def test_lambdas_and_closures_run(r):
    offset = 10

    def add_offset(x, **kwargs):
        return x + offset

    closure_id = job.submit("g", "closure", None, add_offset, 5)
    lambda_id = job.submit("g", "lambda", None, lambda x, **kw: x * 3, 5)
    assert job.wait(closure_id, timeout=30)["result"] == 15
    assert job.wait(lambda_id, timeout=30)["result"] == 15


def test_kwargs_reach_the_function(r):
    def greet(*, greeting, name, **kwargs):
        return f"{greeting}, {name}"

    job_id = job.submit("g", "kwargs", None, greet, greeting="Hi", name="Bo")
    assert job.wait(job_id, timeout=30)["result"] == "Hi, Bo"


def test_submit_nouser_uses_the_no_user_group(r, subscribe):
    sub = subscribe(keys.group_channel("no-user"))
    job_id = job.submit_nouser(jobs.double, 21)
    assert sub.next() == ("no-user:pubsub", {"add": [job_id]})
    info = job.wait(job_id, timeout=30)
    assert info["group"] == "no-user"
    assert info["handler"] is None
    assert info["name"] == "double"
    assert info["result"] == 42
    assert r.sismember("no-user:jobs", job_id)


def test_records_and_group_sets_expire(r, settings):
    job_id = job.submit("g", "ttl", None, jobs.double, 1)
    job.wait(job_id, timeout=30)
    assert 0 < r.ttl(job_id) <= settings.key_ttl
    assert 0 < r.ttl("g:jobs") <= settings.key_ttl


def test_key_ttl_zero_keeps_records_forever(r, moi_context):
    forever = SyncClient(replace(moi_context.settings, key_ttl=0))
    previous = context.set_default(forever)
    try:
        job_id = job.submit("g", "forever", None, jobs.double, 1)
        job.wait(job_id, timeout=30)
    finally:
        context.set_default(previous)
        forever.close()
    assert r.ttl(job_id) == -1
    assert r.ttl("g:jobs") == -1


def test_get_unknown_job_is_none(r):
    assert job.get("00000000-0000-4000-8000-000000000000") is None


def test_wait_unknown_job_raises(r):
    with pytest.raises(JobNotFound, match="no job with ID"):
        job.wait("00000000-0000-4000-8000-000000000000", timeout=1)


def test_wait_times_out_on_a_running_job(r, settings):
    release = "release:timeout"
    job_id = job.submit("g", "held", None, jobs.blocks_until_released, settings.redis_url, release)
    with pytest.raises(TimeoutError):
        job.wait(job_id, timeout=0.5)
    r.rpush(release, "go")
    assert job.wait(job_id, timeout=30)["status"] == "Success"


BAD_ARGUMENTS = [
    (("", "name", None, jobs.double), ValueError, "group must not be empty"),
    (("  ", "name", None, jobs.double), ValueError, "group must not be empty"),
    ((None, "name", None, jobs.double), TypeError, "group must be a str"),
    ((7, "name", None, jobs.double), TypeError, "group must be a str"),
    (("g", "", None, jobs.double), ValueError, "name must not be empty"),
    (("g", b"name", None, jobs.double), TypeError, "name must be a str"),
    (("g", "name", 3, jobs.double), TypeError, "handler must be a str"),
    (("g", "name", None, "not callable"), TypeError, "func must be callable"),
    (("g", "name", None, None), TypeError, "func must be callable"),
]


@pytest.mark.parametrize(("args", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_before_anything_is_written(r, args, error, message):
    with pytest.raises(error, match=message):
        job.submit(*args)
    assert r.dbsize() == 0


def test_unpicklable_argument_raises_before_anything_is_written(r):
    with pytest.raises(TypeError, match="pickle"):
        job.submit("g", "lock", None, jobs.returns, threading.Lock())
    assert r.dbsize() == 0


def test_function_the_engine_cannot_import_ends_failed(r, tmp_path, monkeypatch):
    (tmp_path / "only_here.py").write_text("def work(**kwargs):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here

    info = job.wait(job.submit("g", "missing", None, only_here.work), timeout=30)
    assert info["status"] == "Failed"
    assert "ModuleNotFoundError" in info["result"] and "only_here" in info["result"]


def test_a_job_cannot_claim_a_final_status_itself(r):
    def claims_success(status_update):
        status_update("Success")
        return "never reached"

    info = job.wait(job.submit("g", "claims", None, claims_success), timeout=30)
    assert info["status"] == "Failed"
    assert "ValueError: status 'Success' is set by moi" in info["result"]


def test_status_update_is_not_an_argument_of_submit(r):
    with pytest.raises(TypeError, match="status_update is moi's keyword"):
        job.submit("g", "name", None, jobs.double, 1, status_update=print)
    assert r.dbsize() == 0


@pytest.mark.parametrize("key", ["g:jobs", "not-a-uuid", "g:pubsub"])
def test_keys_that_are_not_job_ids_are_not_jobs(r, key):
    r.sadd("g:jobs", "x")
    assert job.get(key) is None
    with pytest.raises(JobNotFound):
        job.wait(key, timeout=1)
    assert job.fail(key, "no") is False
    assert r.type("g:jobs") == "set"


def test_fail_ends_a_running_job_once_and_invents_nothing(r, settings, cluster_hub):
    release = "release:fail"
    job_id = job.submit("g", "held", None, jobs.blocks_until_released, settings.redis_url, release)
    try:
        assert job.fail(job_id, "stopped by an admin") is True
        assert job.fail(job_id, "again") is False  # ended already
        ended = r.get(job_id)
    finally:
        r.rpush(release, "go")
    # Its engine is idle: whatever it tried to write (a start, an end), refused.
    wait_idle(cluster_hub)
    assert r.get(job_id) == ended
    info = job.wait(job_id, timeout=30)
    assert (info["status"], info["result"]) == ("Failed", "stopped by an admin")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert job.fail(unknown, "no such job") is False
    assert r.get(unknown) is None


def test_fail_keeps_what_the_engine_wrote_and_the_records_ttl(r, subscribe, settings, cluster_hub):
    release = "release:fail-keeps"
    job_id = job.submit("g", "held", None, jobs.blocks_until_released, settings.redis_url, release)
    try:
        job_sub = subscribe(keys.job_channel(job_id))
        while json.loads(r.get(job_id))["status"] != "Waiting":
            job_sub.next(timeout=30)  # each notice is a change to read
        before = json.loads(r.get(job_id))

        assert job.fail(job_id, "stopped") is True
        assert job_sub.next(timeout=30) == (keys.job_channel(job_id), {"update": "status"})
        after = r.get(job_id)
    finally:
        r.rpush(release, "go")
    # The function returns and the engine tries to store its Success: once the engine is
    # idle, that write has been refused.
    wait_idle(cluster_hub)
    assert r.get(job_id) == after
    after = json.loads(after)
    assert after["date_start"] == before["date_start"] is not None
    assert (after["status"], after["result"]) == ("Failed", "stopped")
    assert 0 < r.ttl(job_id) <= settings.key_ttl
    assert r.llen(release) == 0, "the function took the release: it ran to its end"


def test_submit_many_stores_and_announces_all_at_once(r, subscribe):
    group_sub = subscribe(keys.group_channel("ann"))
    ids = job.submit_many(
        "ann",
        "/result/hello",
        [("first", jobs.hello, "A"), ("second", jobs.double, 21), ("third", jobs.hello, "C")],
    )
    assert group_sub.next() == ("ann:pubsub", {"add": ids})  # one notice for the three
    assert r.smembers("ann:jobs") == set(ids)
    infos = [job.wait(job_id, timeout=30) for job_id in ids]
    assert [(i["name"], i["status"], i["result"]) for i in infos] == [
        ("first", "Success", "Hello, A!"),
        ("second", "Success", 42),
        ("third", "Success", "Hello, C!"),
    ]
    assert {i["handler"] for i in infos} == {"/result/hello"}
    created = [i["date_created"] for i in infos]
    assert created == sorted(set(created))  # distinct, in the order of the calls


def test_submit_many_takes_keywords_through_partial(r):
    [job_id] = job.submit_many("g", None, [("kw", partial(jobs.returns, value=[1, 2]))])
    assert job.wait(job_id, timeout=30)["result"] == [1, 2]


def test_submit_many_of_nothing_stores_nothing(r):
    assert job.submit_many("g", None, []) == []
    assert r.dbsize() == 0


@pytest.mark.parametrize(
    ("calls", "error", "message"),
    [
        ([("ok", jobs.double, 1), ("bad", "not callable")], TypeError, "func must be callable"),
        ([("ok", jobs.double, 1), ("", jobs.double, 2)], ValueError, "name must not be empty"),
        ([("ok", jobs.double, 1), ["list", jobs.double]], TypeError, "call 1 must be a tuple"),
        ([("only a name",)], TypeError, "call 0 must be a tuple"),
        ([("ok", jobs.double, 1), ("lock", jobs.returns, threading.Lock())], TypeError, "pickle"),
    ],
)
def test_submit_many_refuses_any_bad_call_before_anything_is_written(r, calls, error, message):
    with pytest.raises(error, match=message):
        job.submit_many("g", None, calls)
    assert r.dbsize() == 0
