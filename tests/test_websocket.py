"""The moi websocket and its hub, against the real Redis and cluster, with real clients."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import uuid

import pytest
import redis.asyncio as aioredis
import tornado.httpclient

from moi import job, keys, record
from moi.embedded import RedisServer, free_port
from moi.hub import Hub
from moi.messages import MAX_CLIENT_MESSAGE_BYTES
from tests import jobs
from tests.test_group import store_jobs
from tests.wsclient import run, serve

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"
"""A job ID no test stores (fixed, so every test run collects the same tests)."""


def final(message: dict) -> bool:
    return "update" in message and message["update"]["status"] in ("Success", "Failed")


@run
async def test_open_sends_add_then_an_update_per_job(r, settings):
    ids = store_jobs(r, "ann", 3)
    store_jobs(r, "bob", 2)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        infos = await client.snapshot()
        assert set(infos) == set(ids)
        assert all(info["group"] == "ann" for info in infos.values())
        assert infos[ids[0]] == json.loads(r.get(ids[0]))
        await client.aclose()


@run
async def test_open_with_no_jobs_sends_an_empty_add(r, settings):
    async with serve(settings.redis_url) as served:
        client = await served.connect("nobody")
        assert await client.next() == {"add": []}
        await client.aclose()


@run
async def test_a_job_is_followed_through_every_status_in_order(r, settings, cluster):
    url = settings.redis_url
    async with serve(url) as served:
        client = await served.connect("ann")
        assert await client.next() == {"add": []}
        # Hold both engines, so the next job stays Queued until they are released.
        blockers = [
            job.submit("other", "blocker", None, jobs.blocks_until_released, url, f"hold:{n}")
            for n in range(2)
        ]
        for blocker in blockers:
            await wait_status(r, blocker, "Waiting")
        job_id = job.submit("ann", "stepper", "/result", jobs.steps, url, "step", ["Fitting"])

        assert await client.next() == {"add": [job_id]}
        queued = (await client.next())["update"]
        assert (queued["id"], queued["status"], queued["result"]) == (job_id, "Queued", None)
        assert queued["name"] == "stepper" and queued["handler"] == "/result"

        for n in range(2):
            r.rpush(f"hold:{n}", "go")
        assert (await client.next())["update"]["status"] == "Running"
        r.rpush("step", "go")
        assert (await client.next())["update"]["status"] == "Fitting"
        r.rpush("step", "go")
        done = (await client.next())["update"]
        assert (done["status"], done["result"]) == ("Success", "stepped")
        assert done["date_end"] is not None
        await client.aclose()


async def wait_status(r, job_id: str, status: str, timeout: float = 30) -> None:
    """Wait for a job's status via its channel (subscribed before the first read)."""
    pubsub = r.pubsub()
    pubsub.subscribe(keys.job_channel(job_id))
    try:
        async with asyncio.timeout(timeout):
            while json.loads(r.get(job_id))["status"] != status:
                await asyncio.to_thread(pubsub.get_message, timeout=1)
    finally:
        pubsub.close()


@run
async def test_every_client_of_a_group_gets_every_update_and_no_one_else(r, settings):
    async with serve(settings.redis_url) as served:
        ann1, ann2, bob = [await served.connect(user) for user in ("ann", "ann", "bob")]
        for client in (ann1, ann2, bob):
            assert await client.next() == {"add": []}
        job_id = job.submit("ann", "hello", None, jobs.hello, "Ann")
        for client in (ann1, ann2):
            seen = await client.until(final)
            assert seen[0] == {"add": [job_id]}
            assert seen[-1]["update"]["result"] == "Hello, Ann!"
            assert all(m["update"]["id"] == job_id for m in seen[1:])
        # bob's next message is the answer to his own request: nothing of ann's came first.
        await bob.send({"get": None})
        assert await bob.next() == {"add": []}
        for client in (ann1, ann2, bob):
            await client.aclose()


@run
async def test_remove_from_a_client(r, settings, subscribe):
    ids = store_jobs(r, "ann", 2)
    group_sub = subscribe(keys.group_channel("ann"))
    async with serve(settings.redis_url) as served:
        ann1, ann2 = await served.connect("ann"), await served.connect("ann")
        await ann1.snapshot()
        await ann2.snapshot()
        await ann1.send({"remove": ids[0]})
        assert await ann1.next() == {"remove": [ids[0]]}
        assert await ann2.next() == {"remove": [ids[0]]}
        assert group_sub.next() == ("ann:pubsub", {"remove": [ids[0]]})
        assert r.smembers("ann:jobs") == {ids[1]}
        await ann1.aclose()
        await ann2.aclose()


@run
async def test_remove_of_another_groups_job_is_refused(r, settings, subscribe):
    (ann_job,) = store_jobs(r, "ann", 1)
    (bob_job,) = store_jobs(r, "bob", 1)
    async with serve(settings.redis_url) as served:
        bob = await served.connect("bob")
        await bob.snapshot()
        await bob.send({"remove": [bob_job, ann_job]})
        reply = await bob.next()
        assert ann_job in reply["error"] and "nothing was removed" in reply["error"]
        assert r.smembers("ann:jobs") == {ann_job}
        assert r.smembers("bob:jobs") == {bob_job}
        await bob.aclose()


@run
async def test_cancel_from_a_client_ends_the_job_for_every_tab(r, settings, subscribe):
    ids = store_jobs(r, "ann", 2, status="Running")
    cancels = subscribe("moi:cancels")
    async with serve(settings.redis_url) as served:
        ann1, ann2 = await served.connect("ann"), await served.connect("ann")
        await ann1.snapshot()
        await ann2.snapshot()
        await ann1.send({"cancel": ids[0]})
        for client in (ann1, ann2):
            update = (await client.next())["update"]
            assert (update["id"], update["status"]) == (ids[0], "Cancelled")
            assert update["result"].startswith("Cancelled by ann at ")
        assert cancels.next() == ("moi:cancels", {"cancel": ids[0]})  # for the engine that runs it
        assert record.decode(r.get(ids[1]))["status"] == "Running"
        await ann1.aclose()
        await ann2.aclose()


@run
async def test_cancel_of_another_groups_job_is_refused(r, settings):
    (ann_job,) = store_jobs(r, "ann", 1, status="Running")
    (bob_job,) = store_jobs(r, "bob", 1, status="Running")
    async with serve(settings.redis_url) as served:
        bob = await served.connect("bob")
        await bob.snapshot()
        await bob.send({"cancel": [bob_job, ann_job]})
        reply = await bob.next()
        assert ann_job in reply["error"] and "nothing was cancelled" in reply["error"]
        for job_id in (ann_job, bob_job):
            assert record.decode(r.get(job_id))["status"] == "Running"
        await bob.aclose()


@run
async def test_cancel_of_an_ended_job_says_so_and_changes_nothing(r, settings):
    (done,) = store_jobs(r, "ann", 1, status="Success")
    before = r.get(done)
    async with serve(settings.redis_url) as served:
        ann = await served.connect("ann")
        await ann.snapshot()
        await ann.send({"cancel": done})
        reply = await ann.next()
        assert done in reply["error"] and "already ended" in reply["error"]
        assert r.get(done) == before
        await ann.aclose()


@run
async def test_actions_published_by_any_program_reach_the_clients(r, settings):
    ids = store_jobs(r, "ann", 2)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        r.publish("ann:pubsub", json.dumps({"remove": ids[0]}))
        assert await client.next() == {"remove": [ids[0]]}
        assert r.smembers("ann:jobs") == {ids[1]}  # the hub made the set agree

        (foreign,) = store_jobs(r, "elsewhere", 1)
        r.publish("ann:pubsub", json.dumps({"add": [foreign]}))
        assert await client.next() == {"add": [foreign]}
        assert (await client.next())["update"]["id"] == foreign
        assert r.sismember("ann:jobs", foreign)
        await client.aclose()


@run
async def test_get_resends_the_whole_list(r, settings):
    ids = store_jobs(r, "ann", 2)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        first = await client.snapshot()
        await client.send({"get": None})
        assert await client.snapshot() == first
        assert set(first) == set(ids)
        await client.aclose()


BAD_MESSAGES = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object with one action"),
    ('"get"', "JSON object with one action"),
    ('{"get": null, "remove": "x"}', "JSON object with one action"),
    ('{"explode": true}', "unknown action 'explode'"),
    ('{"get": 1}', "get takes null"),
    ('{"remove": 5}', "remove takes a job ID or a non-empty list"),
    ('{"remove": []}', "remove takes a job ID or a non-empty list"),
    ('{"remove": ["a", 5]}', "remove takes a job ID or a non-empty list"),
    ('{"remove": "no-such-job"}', "remove takes job IDs (UUID4 strings), not 'no-such-job'"),
    ('{"remove": "' + UNKNOWN_JOB + '"}', "not jobs of yours: "),
    ('{"cancel": []}', "cancel takes a job ID or a non-empty list"),
    ('{"cancel": "no-such-job"}', "cancel takes job IDs (UUID4 strings), not 'no-such-job'"),
    ('{"cancel": "' + UNKNOWN_JOB + '"}', "not jobs of yours: "),
    ('{"remove": "' + "x" * MAX_CLIENT_MESSAGE_BYTES + '"}', "message too large"),
    ('{"get": ' + "[" * 20_000 + "]" * 20_000 + "}", "nested too deeply"),
]


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES, ids=[r for _, r in BAD_MESSAGES])
@run
async def test_bad_messages_get_an_error_and_the_socket_keeps_working(r, settings, message, reason):
    ids = store_jobs(r, "ann", 1)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send(message)
        reply = await client.next()
        assert set(reply) == {"error"}
        assert reason in reply["error"]
        assert r.smembers("ann:jobs") == set(ids)  # nothing changed
        await client.send({"get": None})
        assert set(await client.snapshot()) == set(ids)
        await client.aclose()


NOT_JOB_IDS = [
    "\ud800",  # a lone surrogate: JSON can carry it, UTF-8 cannot
    "\udfff\ud800",
    "\x00",
    "",
    "ann:jobs",  # the group's own set
    "moi:ready",
    "*",
    "0" * 8 + "-0000-4000-8000-" + "0" * 12 + "\n",
    UNKNOWN_JOB.upper(),
    "x" * 1000,
]


@pytest.mark.parametrize("action", ["remove", "cancel"])
@run
async def test_anything_but_a_job_id_gets_an_error_and_the_socket_answers_on(r, settings, action):
    ids = store_jobs(r, "ann", 2, status="Running")
    before = {job_id: r.get(job_id) for job_id in ids}
    done = {"remove": "removed", "cancel": "cancelled"}[action]
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        for wrong in NOT_JOB_IDS:
            for value in (wrong, [ids[0], wrong]):
                # json.dumps escapes the surrogates: the server decodes them back into the str
                await client.send(json.dumps({action: value}))
                reply = await client.next()
                assert set(reply) == {"error"}, (wrong, reply)
                assert f"{action} takes job IDs (UUID4 strings), not " in reply["error"]
                assert ascii(wrong[:40]) in reply["error"]
                assert reply["error"].endswith(f"nothing was {done}")
        await client.send({"get": None})  # still open, still answering
        assert set(await client.snapshot()) == set(ids)
        assert r.smembers("ann:jobs") == set(ids)
        assert {job_id: r.get(job_id) for job_id in ids} == before
        await client.aclose()


@run
async def test_the_hub_takes_what_is_not_a_job_id_for_a_stranger(r, settings):
    ids = store_jobs(r, "ann", 1, status="Running")
    r.set("secret", json.dumps({"id": "secret", "status": "Running"}))
    r.sadd("ann:jobs", "secret")  # in the set, but not a job ID
    hub = Hub(settings.redis_url)
    try:
        assert await hub.remove("ann", [ids[0], "\ud800"]) == ["\ud800"]
        assert await hub.cancel("ann", ["secret", ids[0]]) == (["secret"], [])
        assert await hub.remove("ann", ["secret"]) == ["secret"]
        assert r.smembers("ann:jobs") == {ids[0], "secret"}
        assert record.decode(r.get(ids[0]))["status"] == "Running"
        assert json.loads(r.get("secret"))["status"] == "Running"
    finally:
        await hub.close()


@pytest.mark.parametrize("user", [None, "forged"])
@run
async def test_no_login_is_refused_before_the_upgrade(r, settings, user):
    async with serve(settings.redis_url) as served:
        request = served.request(None)
        if user == "forged":
            request.headers["Cookie"] = "user=ann"  # not signed
        with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
            await served.open(request)
        assert refused.value.code == 403
        assert served.hub.subscriptions == 0


@run
async def test_the_probe_says_whether_the_socket_would_let_a_page_in(r, settings):
    async with serve(settings.redis_url) as served:
        assert await served.probe("ann") == (200, "ready")
        assert await served.probe(None) == (401, "signed out")


@run
async def test_other_origins_are_refused(r, settings):
    async with serve(settings.redis_url) as served:
        request = served.request("ann", origin="http://evil.example")
        with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
            await served.open(request)
        assert refused.value.code == 403


def subscribers(r) -> set[str]:
    """The IDs of this Redis's connections that listen to channels or patterns."""
    return {c["id"] for c in r.client_list() if int(c["sub"]) or int(c.get("psub", 0))}


@run
async def test_fifty_clients_share_one_subscription_and_all_get_each_update(r, settings):
    # Other hubs of the session may listen too, or be closing: count only new ones.
    others = subscribers(r)
    async with serve(settings.redis_url) as served:
        clients = [await served.connect("ann" if n % 2 else "bob") for n in range(50)]
        for client in clients:
            assert await client.next() == {"add": []}
        assert len(subscribers(r) - others) == 1
        assert served.hub.subscriptions == 2  # ann:pubsub and bob:pubsub

        ann_job = job.submit("ann", "hello", None, jobs.hello, "Ann")
        bob_job = job.submit("bob", "hello", None, jobs.hello, "Bob")
        for n, client in enumerate(clients):
            expected = ann_job if n % 2 else bob_job
            seen = await client.until(final)
            assert seen[0] == {"add": [expected]}
            assert seen[-1]["update"]["id"] == expected
        assert len(subscribers(r) - others) == 1
        for client in clients:
            await client.aclose()


class EndsAJobMidJoin(Hub):
    """Ends a job at the worst moment of a join: its channel followed, its state not yet
    read again. Real timing hits that window rarely; this hits it every time."""

    def __init__(self, redis_url: str, r) -> None:
        super().__init__(redis_url, 3600)
        self.writer, self.r = record.Writer(r), r
        self.ending: str | None = None  # the job to end during the next join

    async def _track(self, group, ids) -> None:
        await super()._track(group, ids)
        if self.ending in ids:
            info = json.loads(self.r.get(self.ending))
            info.update(status="Success", result="done")
            self.writer.update(info, 3600)
            self.ending = None


@run
async def test_a_job_ending_while_another_tab_joins_reaches_every_tab(r, settings):
    (job_id,) = store_jobs(r, "ann", 1, status="Running")
    hub = EndsAJobMidJoin(settings.redis_url, r)
    async with serve(settings.redis_url, hub=hub) as served:
        first = await served.connect("ann")
        assert (await first.snapshot())[job_id]["status"] == "Running"
        hub.ending = job_id
        second = await served.connect("ann")
        assert (await second.snapshot())[job_id]["status"] == "Success"
        assert (await first.next())["update"]["status"] == "Success"
        await hub.settled()
        assert hub.job_groups == {}  # followed until its final notice, then let go
        await first.aclose()
        await second.aclose()


@run
async def test_the_last_client_leaving_unsubscribes_its_group(r, settings):
    store_jobs(r, "ann", 3, status="Running")
    store_jobs(r, "ann", 2, status="Success")
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        assert len(await client.snapshot()) == 5
        assert served.hub.subscriptions == 4  # the group and its three unfinished jobs
        await client.aclose()
        await served.left()
        assert hub_channels(r) == []  # Redis confirmed the unsubscribe
        assert served.hub.subscriptions == 0
        assert served.hub.clients == {} and served.hub.job_groups == {}


@run
async def test_a_client_that_vanishes_does_not_stop_the_others(r, settings):
    async with serve(settings.redis_url) as served:
        clients = [await served.connect("ann") for _ in range(3)]
        for client in clients:
            assert await client.next() == {"add": []}
        clients[1].conn.protocol.stream.close()  # the TCP connection drops, no close frame
        await served.left()
        job_id = job.submit("ann", "hello", None, jobs.hello, "Ann")
        for client in (clients[0], clients[2]):
            seen = await client.until(final)
            assert seen[0] == {"add": [job_id]}
        assert len(served.hub.clients["ann"]) == 2
        for client in clients:
            await client.aclose()


@run
async def test_a_job_is_followed_only_until_it_ends(r, settings):
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        assert await client.next() == {"add": []}
        job_id = job.submit("ann", "hello", None, jobs.hello, "Ann")
        await client.until(final)
        await served.hub.settled()
        assert served.hub.job_groups == {}
        assert hub_channels(r) == ["ann:pubsub"]
        await client.aclose()
        await served.left()
        assert hub_channels(r) == []
        assert job.get(job_id)["status"] == "Success"


@run
async def test_a_client_that_stops_reading_is_closed_and_the_others_go_on(r, settings):
    (job_id,) = store_jobs(r, "ann", 1, status="Running")
    info = json.loads(r.get(job_id))
    info["log"] = "x" * 200_000  # every update of this job is 200 KB
    r.set(job_id, json.dumps(info))
    async with serve(settings.redis_url, moi_max_buffered_bytes=1024 * 1024) as served:
        reader = await served.connect("ann")
        await reader.snapshot()
        stalled = await served.connect_stalled("ann")
        await reader.send({"get": None})  # the stalled one has joined once this returns
        await reader.snapshot()
        assert len(served.hub.clients["ann"]) == 2
        closed = asyncio.ensure_future(served.closed.get())
        for _ in range(200):  # far more than socket buffers and the 1 MiB limit hold
            r.publish(keys.job_channel(job_id), json.dumps({"update": None}))
            assert (await reader.next())["update"]["id"] == job_id
            if closed.done():
                break
        assert closed.done(), "the stalled client was never closed"
        assert (await closed) is not None
        assert len(served.hub.clients["ann"]) == 1
        await reader.send({"get": None})
        assert set(await reader.snapshot()) == {job_id}
        stalled.close()
        await reader.aclose()


@contextlib.asynccontextmanager
async def set_changes(redis_url: str, key: str):
    """Redis's own keyspace notices of the set ``key``: ``await changed()`` → "sadd"/"srem"."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.config_set("notify-keyspace-events", "Ks")  # our private test server
    pubsub = client.pubsub()
    db = client.connection_pool.connection_kwargs.get("db", 0)
    await pubsub.subscribe(f"__keyspace@{db}__:{key}")
    await pubsub.get_message(timeout=5)  # the confirmation

    async def changed(timeout: float = 10) -> str:
        async with asyncio.timeout(timeout):
            while (message := await pubsub.get_message(timeout=timeout)) is None:
                pass
        return message["data"]

    try:
        yield changed
    finally:
        await client.config_set("notify-keyspace-events", "")
        await pubsub.aclose()
        await client.aclose()


@run
async def test_a_started_hub_keeps_idle_groups_sets_in_step(r, settings):
    (job_id,) = store_jobs(r, "elsewhere", 1)
    async with (
        serve(settings.redis_url) as served,
        set_changes(settings.redis_url, "idle:jobs") as changed,
    ):
        await served.hub.start()
        assert served.hub.listening.is_set() and served.hub.clients == {}
        r.publish("idle:pubsub", json.dumps({"add": job_id}))
        assert await changed() == "sadd"
        assert r.smembers("idle:jobs") == {job_id}
        assert 0 < r.ttl("idle:jobs") <= 3600

        r.publish(keys.job_channel(job_id), json.dumps({"update": "status"}))  # not a group
        r.publish("idle:pubsub", "not json")  # ignored
        r.publish("idle:pubsub", json.dumps({"remove": [job_id]}))
        assert await changed() == "srem"
        assert r.smembers("idle:jobs") == set()
        assert served.hub.subscriptions == 0  # no channel: one pattern, no clients


@run
async def test_a_large_add_is_stored_whole(r, settings):
    ids = [str(uuid.uuid4()) for _ in range(2500)]  # more than a Lua unpack() takes
    async with (
        serve(settings.redis_url) as served,
        set_changes(settings.redis_url, "big:jobs") as changed,
    ):
        await served.hub.start()
        r.publish("big:pubsub", json.dumps({"add": ids}))
        assert await changed() == "sadd"
        await served.hub.settled()
        assert r.smembers("big:jobs") == set(ids)
        assert 0 < r.ttl("big:jobs") <= 3600


@run
async def test_when_redis_goes_away_clients_are_closed_and_can_come_back(tmp_path):
    server = RedisServer(free_port(), tmp_path / "redis").start()
    try:
        async with serve(server.url) as served:
            await served.hub.start()
            client = await served.connect("ann")
            assert await client.next() == {"add": []}
            server.stop()
            assert await asyncio.wait_for(client.conn.read_message(), 10) is None
            assert client.conn.close_code == 1012
            assert not served.hub.listening.is_set()
            # The probe a page asks while it waits: away, from what the hub knows alone.
            assert await served.probe("ann") == (503, "away")
            await client.aclose()
            await served.left()
            server.start()
            # A started hub listens again by itself, before any client comes back.
            await asyncio.wait_for(served.hub.listening.wait(), 30)
            assert await served.probe("ann") == (200, "ready")
            again = await served.connect("ann")
            assert await again.next() == {"add": []}
            await again.aclose()
    finally:
        server.stop()


@run
async def test_ids_that_are_not_jobs_never_reach_a_browser(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    r.set("secret", json.dumps({"id": "secret", "status": "Running"}))
    r.sadd("ann:jobs", "secret")  # not a job ID
    impostor = "00000000-0000-4000-8000-000000000001"
    r.set(impostor, json.dumps({"id": "someone-else", "status": "Success"}))
    r.sadd("ann:jobs", impostor)  # a stored value that is not this job's info
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        assert set(await client.snapshot()) == {job_id}
        r.publish("ann:pubsub", json.dumps({"add": ["secret", '1,"add":["x"]']}))
        r.publish("ann:pubsub", '{"add": ' + "[" * 20_000 + "]" * 20_000 + "}")
        r.publish("ann:pubsub", json.dumps({"remove": job_id}))
        assert await client.next() == {"remove": [job_id]}  # nothing came before it
        await client.aclose()


@run
async def test_a_failed_join_leaves_the_group_usable(r, settings):
    r.set("ann:jobs", "not a set")  # SMEMBERS fails with WRONGTYPE
    async with serve(settings.redis_url) as served:
        broken = await served.connect("ann")
        assert await asyncio.wait_for(broken.conn.read_message(), 10) is None
        assert broken.conn.close_code == 1011
        await broken.aclose()
        await served.left()
        assert served.hub.clients == {} and hub_channels(r) == []
        r.delete("ann:jobs")
        client = await served.connect("ann")
        assert await client.next() == {"add": []}
        (job_id,) = store_jobs(r, "ann", 1)
        r.publish("ann:pubsub", json.dumps({"add": [job_id]}))
        assert await client.next() == {"add": [job_id]}
        await client.aclose()


@run
async def test_a_list_larger_than_the_buffer_limit_still_arrives_whole(r, settings):
    ids = store_jobs(r, "ann", 40)
    for job_id in ids:
        info = json.loads(r.get(job_id))
        info["result"] = "x" * 400_000  # 16 MB of results in all: more than socket buffers
        r.set(job_id, json.dumps(info))
    async with serve(settings.redis_url, moi_max_buffered_bytes=1024 * 1024) as served:
        client = await served.connect("ann")
        assert set(await client.snapshot()) == set(ids)
        await client.send({"get": None})
        assert set(await client.snapshot()) == set(ids)
        await client.aclose()


@run
async def test_a_subscription_redis_never_confirms_resets_the_hub(tmp_path, monkeypatch):
    monkeypatch.setattr("moi.subscription.CONFIRM_TIMEOUT", 1.0)
    server = RedisServer(free_port(), tmp_path / "redis").start()
    try:
        async with serve(server.url) as served:
            await served.hub.start()
            os.kill(server.pid, signal.SIGSTOP)  # connected, but answers nothing
            try:
                refused = await served.connect("ann")  # its group's subscription hangs
                assert await asyncio.wait_for(refused.conn.read_message(), 10) is None
                assert refused.conn.close_code == 1011
                assert not served.hub.listening.is_set()  # reset: no trusted connection
                await refused.aclose()
            finally:
                os.kill(server.pid, signal.SIGCONT)
            await asyncio.wait_for(served.hub.listening.wait(), 30)  # back by itself
            client = await served.connect("ann")
            assert await client.next() == {"add": []}
            await client.aclose()
    finally:
        server.stop()


@run
async def test_a_group_whose_changes_cannot_be_stored_has_its_clients_resync(r, settings):
    async with serve(settings.redis_url) as served:
        ann, bob = await served.connect("ann"), await served.connect("bob")
        assert await ann.next() == {"add": []} and await bob.next() == {"add": []}
        r.set("ann:jobs", "not a set")  # the hub's SADD for ann now fails (WRONGTYPE)
        (job_id,) = store_jobs(r, "elsewhere", 1)
        r.publish("ann:pubsub", json.dumps({"add": job_id}))
        assert await asyncio.wait_for(ann.conn.read_message(), 10) is None
        assert ann.conn.close_code == 1011  # told to reconnect and resync
        await ann.aclose()
        r.delete("ann:jobs")
        again = await served.connect("ann")
        assert await again.next() == {"add": []}
        r.publish("bob:pubsub", json.dumps({"add": job_id}))  # other groups never noticed
        assert await bob.next() == {"add": [job_id]}
        await again.aclose()
        await bob.aclose()


@run
async def test_a_snapshot_loosens_the_write_buffer_limit_only_while_it_is_written(r, settings):
    for job_id in store_jobs(r, "ann", 200):
        info = json.loads(r.get(job_id))
        info["result"] = "x" * 50_000  # 10 MB in all: the sockets' own buffers hold far less
        r.set(job_id, json.dumps(info))
    limit = 64 * 1024
    async with serve(settings.redis_url, moi_max_buffered_bytes=limit) as served:
        client = await served.connect("ann")
        # Queued at once, so most of it waits in the server's buffer: only a limit raised
        # by the snapshot's size keeps the client from being dropped for it.
        assert len(await client.snapshot()) == 200
        [handler] = served.handlers
        # Tornado's stream, reached through the handler's public ws_connection: if an
        # upgrade moves it, this fails loudly rather than leaving the limit unset.
        stream = handler.ws_connection.stream
        if handler.snapshot_written is not None:
            await asyncio.wait_for(handler.snapshot_written, 10)
        assert stream.max_write_buffer_size == limit
        await client.send({"get": None})
        assert len(await client.snapshot()) == 200
        if handler.snapshot_written is not None:
            await asyncio.wait_for(handler.snapshot_written, 10)
        assert stream.max_write_buffer_size == limit
        await client.aclose()


def test_tornado_still_has_the_frame_writer_moi_uses():
    """moi.websocket writes frames with Tornado's private ``_write_frame`` (measured in
    its comment); an upgrade that renames or changes it must fail here, loudly."""
    from tornado.websocket import WebSocketProtocol13

    import moi.websocket

    assert moi.websocket._WRITE_FRAME is WebSocketProtocol13._write_frame
    parameters = list(inspect.signature(WebSocketProtocol13._write_frame).parameters)
    assert parameters[:4] == ["self", "fin", "opcode", "data"]


def hub_channels(r) -> list[str]:
    """The channels someone listens on, but the engines' ``moi:cancels`` and the
    dispatcher's ``moi:wake``."""
    return sorted(c for c in r.pubsub_channels() if c not in (keys.CANCELS, keys.WAKE))
