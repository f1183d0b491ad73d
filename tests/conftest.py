"""Real servers for the tests: a private redis-server and a 2-engine local cluster.

Both are started once per session on free ports under a temporary directory, and
stopped by PID at the end, whatever happened in between. Each test gets an empty Redis,
and leaves no job behind: whatever still runs on the cluster when it ends is cancelled
and waited for (:func:`end_jobs`).
"""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import time
from pathlib import Path

import ipyparallel
import pytest
import redis

from moi import config, context, keys, record
from moi.embedded import LocalCluster, RedisServer, free_port
from moi.exceptions import JobNotFound
from moi.status import is_final
from moi.sync import SyncClient

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def example_config() -> configparser.ConfigParser:
    """``config.example.ini`` with every key line uncommented, as a user would set them."""
    text = (ROOT / "config.example.ini").read_text()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(re.sub(r"(?m)^# ([a-z_]+ = )", r"\1", text))
    return parser


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    local = LocalCluster(2, tmp_path_factory.mktemp("ipython"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def settings(redis_server, cluster) -> config.Settings:
    return config.Settings(
        redis_url=redis_server.url,
        ipp_connection_file=cluster.connection_file,
        key_ttl=3600,
        max_result_bytes=64 * 1024,
    )


@pytest.fixture(scope="session")
def moi_context(settings) -> SyncClient:
    """The default client of the seed's module functions (``moi.job.submit`` ...)."""
    client = SyncClient(settings)
    previous = context.set_default(client)
    try:
        client.start()  # connected here, so no test's timing includes the handshakes
        yield client
    finally:
        context.set_default(previous)
        client.close()


@pytest.fixture
def exclusive_dispatch(moi_context):
    """The session's client stops dispatching for this test (its lock let go), so that a
    client the test makes, with settings of its own, dispatches instead."""
    moi_context.stop_dispatching()
    try:
        yield
    finally:
        moi_context.start(dispatch=True)


@pytest.fixture(scope="session")
def redis_client(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def cluster_hub(cluster):
    """An ipyparallel client of the session's cluster, to ask its hub whether it is idle."""
    client = ipyparallel.Client(cluster.connection_file)
    yield client
    client.close()


@pytest.fixture
def r(moi_context, redis_client, cluster_hub) -> redis.Redis:
    """The private Redis, emptied for this test (decoded responses); the jobs the test
    left running are ended after it (:func:`end_jobs`)."""
    redis_client.flushdb()
    yield redis_client
    end_jobs(moi_context, redis_client, cluster_hub)


def end_jobs(client: SyncClient, rc: redis.Redis, hub: ipyparallel.Client, timeout=30) -> None:
    """Cancel every job still queued or running, and wait until the cluster is idle.

    A test's job must not outlive it: it would hold an engine the next test counts on, or
    write its record again after the next test emptied Redis. Any process's jobs are
    found in Redis (the group queues, ``moi:leases``); ``client``'s own are also waited
    for until they end. A job that ended otherwise (``fail``) but whose function still
    runs cannot be cancelled: its test must release it.
    """
    waiting = [
        job_id
        for group in rc.zrange(keys.READY, 0, -1)
        for job_id in rc.zrange(keys.queue_key(group), 0, -1)
    ]
    listed = sorted({*waiting, *rc.zrange(keys.LEASES, 0, -1)})
    for job_id, raw in zip(listed, rc.mget(listed) if listed else [], strict=True):
        info = record.decode(raw)
        if info is not None and not is_final(info.get("status")):
            with contextlib.suppress(JobNotFound):
                client.cancel(job_id, by="the end of its test")
    try:
        client.drain(timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"jobs outlived their test: {sorted(client.outstanding)}") from None
    wait_idle(hub, timeout)


def wait_idle(hub: ipyparallel.Client, timeout: float = 30) -> None:
    """Wait until no engine runs a task: every job's function has returned (or was
    stopped) and its engine has stored what it would."""
    deadline = time.monotonic() + timeout
    while busy := cluster_tasks(hub):
        assert time.monotonic() < deadline, f"the cluster still runs jobs of the test: {busy}"
        time.sleep(0.05)  # no event tells of another client's task ending: ask the hub again


def cluster_tasks(hub: ipyparallel.Client) -> dict:
    """The engines with tasks queued or running, and the tasks not yet given to one."""
    status = hub.queue_status()
    unassigned = status.pop("unassigned", 0)
    engines = set(hub.ids)  # the hub keeps a dead engine's last task in its status
    busy = {e: s for e, s in status.items() if e in engines and (s["queue"] or s["tasks"])}
    return {**busy, "unassigned": unassigned} if busy or unassigned else {}


def store_infos(rc: redis.Redis, infos: list[dict], ttl: int = 3600) -> None:
    """Store jobs as an engine would leave them (in their group's set, in no queue), so
    that nothing runs them."""
    for info in infos:
        rc.set(keys.job_key(info["id"]), record.encode(info), ex=ttl)
        rc.sadd(keys.group_jobs_key(info["group"]), info["id"])


class Subscriber:
    """A real Redis subscriber that records every message on its channels, in order."""

    def __init__(self, client: redis.Redis, *channels: str, pattern: str | None = None) -> None:
        self.pubsub = client.pubsub()
        if channels:
            self.pubsub.subscribe(*channels)
        if pattern:
            self.pubsub.psubscribe(pattern)
        # Wait for each confirmation, so nothing published after this returns is missed.
        for _ in range(len(channels) + bool(pattern)):
            confirmation = self._next(timeout=5, kinds=("subscribe", "psubscribe"))
            assert confirmation is not None, "subscription not confirmed"
        self.messages: list[tuple[str, dict]] = []

    def _next(self, timeout: float, kinds=("message", "pmessage")):
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.pubsub.get_message(timeout=remaining)
            if message is not None and message["type"] in kinds:
                return message
        return None

    def next(self, timeout: float = 10) -> tuple[str, dict]:
        message = self._next(timeout)
        assert message is not None, f"no message within {timeout} s"
        item = (message["channel"], json.loads(message["data"]))
        self.messages.append(item)
        return item

    def until(self, predicate, timeout: float = 20) -> list[tuple[str, dict]]:
        """Collect messages until one satisfies ``predicate``; return all collected."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(timeout=max(0.01, deadline - time.monotonic()))
            if predicate(*item):
                return list(self.messages)

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def subscribe(r):
    """``subscribe(*channels, pattern=None)`` → a :class:`Subscriber`, closed after the test."""
    made: list[Subscriber] = []

    def make(*channels: str, pattern: str | None = None) -> Subscriber:
        made.append(Subscriber(r, *channels, pattern=pattern))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()
