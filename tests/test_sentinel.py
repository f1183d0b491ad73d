"""moi on Redis behind Sentinel, on 127.0.0.1: a primary, a replica and three sentinels.

Killing the primary (SIGKILL) makes the sentinels promote the replica; moi's clients, the
engines' writes and the hub find the new primary by themselves. The figures the tests
print (``-s``) are the time from the kill to moi's first write stored again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from moi import config, connections, sentinel
from moi.embedded import free_port, redis_server_binary, stop_process
from moi.exceptions import ConfigError
from moi.sync import SyncClient
from tests import jobs
from tests.wsclient import run, serve

SERVICE = "moi"
DOWN_AFTER_MS = 1000


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """``predicate()``'s first true value, asked every 50 ms (a server's state: nothing
    to wait on but asking), or a failure naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if value := predicate():
                return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)


@dataclasses.dataclass
class Topology:
    """The servers, each a child process stopped by its PID."""

    dir: Path
    processes: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)
    ports: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[f'sentinel-{n}']}" for n in (1, 2, 3))
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(port=self.ports[name], socket_timeout=2, decode_responses=True)

    def _start(self, name: str, *args: str) -> None:
        port = self.ports[name] = free_port()
        data = self.dir / name
        data.mkdir()
        with open(data / "log", "w") as log:
            self.processes[name] = subprocess.Popen(
                [redis_server_binary(), *args, "--port", str(port), "--bind", "127.0.0.1",
                 "--dir", str(data), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        with self.client(name) as client:
            wait_until(client.ping, 20, f"{name} answers")

    def start(self) -> None:
        self._start("primary", "--save", "", "--appendonly", "no")
        primary = self.ports["primary"]
        self._start("replica", "--save", "", "--appendonly", "no",
                    "--replicaof", "127.0.0.1", str(primary))  # fmt: skip
        for n in (1, 2, 3):
            conf = self.dir / f"sentinel-{n}.conf"  # a sentinel rewrites its own file
            conf.write_text(
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 3000\n"
            )
            self._start(f"sentinel-{n}", str(conf), "--sentinel")
        for n in (1, 2, 3):
            with self.client(f"sentinel-{n}") as client:
                wait_until(
                    lambda c=client: (
                        (m := c.sentinel_master(SERVICE))["num-slaves"] == 1
                        and m["num-other-sentinels"] == 2
                    ),
                    30,
                    f"sentinel-{n} knows the replica and the other sentinels",
                )

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel says."""
        with self.client("sentinel-1") as client:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])

    def replicated(self) -> None:
        """Return once the replica has everything the primary stored."""
        with self.client("primary") as client:
            assert client.execute_command("WAIT", 1, 5000) == 1

    def kill(self, name: str) -> float:
        """SIGKILL ``name``; the monotonic time of the kill."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(10)
        return killed

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process)


@pytest.fixture
def topology(tmp_path) -> Iterator[Topology]:
    servers = Topology(tmp_path)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def sentinel_client(topology, settings, exclusive_dispatch) -> Iterator[SyncClient]:
    """A client of the session's cluster keeping jobs behind the sentinels, dispatching."""
    ours = dataclasses.replace(settings, redis_url=topology.url, engine_redis_url="")
    with SyncClient(ours) as client:
        client.start(dispatch=True)
        yield client


def kill_primary(topology: Topology) -> float:
    """Kill the primary once the replica has its data; the time of the kill."""
    topology.replicated()
    return topology.kill("primary")


def promoted(topology: Topology) -> None:
    """Return once the sentinels name the replica as the primary."""
    replica = topology.ports["replica"]
    wait_until(lambda: topology.primary_port() == replica, 30, "the replica is promoted")


def failover(topology: Topology) -> float:
    """Kill the primary and return once the replica is promoted; the time of the kill."""
    killed = kill_primary(topology)
    promoted(topology)
    return killed


# -- the URL ------------------------------------------------------------------------------


def test_a_sentinel_url_names_sentinels_service_and_db():
    parsed = sentinel.parse("redis+sentinel://:s%40cret@h1,h2:26380,[::1]:7/jobs/2")
    assert parsed.sentinels == (("h1", 26379), ("h2", 26380), ("::1", 7))
    assert (parsed.service, parsed.db, parsed.password) == ("jobs", 2, "s@cret")
    assert config.redis_url("redis+sentinel://h1/jobs") == "redis+sentinel://h1/jobs"
    assert sentinel.parse("REDIS+SENTINEL://h1/jobs").db == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h1", "names no service"),
        ("redis+sentinel://h1/", "names no service"),
        ("redis+sentinel://h1/jobs/x", "bad path"),
        ("redis+sentinel://h1/jobs/0/1", "bad path"),
        ("redis+sentinel://h1:port/jobs", "bad port"),
        ("redis+sentinel://h1:0/jobs", "bad port"),
        ("redis+sentinel://h1,/jobs", "empty sentinel address"),
        ("redis+sentinel://[::1/jobs", "bad sentinel address"),
        ("redis+sentinel://h1/jobs?db=1", "takes no \\?options"),
        ("sentinel://h1/jobs", "must start with redis://"),
    ],
)
def test_a_bad_sentinel_url_is_a_clear_config_error(tmp_path, url, message):
    path = tmp_path / "config.ini"
    path.write_text(f"[redis]\nurl = {url}\n")
    with pytest.raises(ConfigError, match=message):
        config.load(path)


# -- against the servers ------------------------------------------------------------------


def test_a_job_runs_through_the_sentinel_url(topology, sentinel_client):
    job_id = sentinel_client.submit("g", "double", None, jobs.double, 21)
    assert sentinel_client.wait(job_id, timeout=30)["result"] == 42
    with topology.client("primary") as primary:
        assert primary.exists(job_id)  # stored on the primary the sentinels named


def test_moi_carries_on_when_the_primary_is_killed(topology, sentinel_client):
    across = sentinel_client.submit("g", "across", None, jobs.tells_pid_then_sleeps, 5)
    wait_until(
        lambda: (sentinel_client.get(across) or {}).get("status", "").startswith("pid"),
        30,
        "the job runs",
    )
    writer = connections.single(topology.url, decode_responses=True)  # as an engine's
    try:
        killed = kill_primary(topology)
        wait_until(lambda: writer.set("moi:test:written", "1"), 30, "a write is stored")
        written = time.monotonic() - killed
    finally:
        writer.close()
    promoted(topology)
    print(f"\nprimary killed: moi's writes stored again after {written:.2f} s")
    after = sentinel_client.submit("g", "after", None, jobs.double, 2)
    assert sentinel_client.wait(after, timeout=30)["status"] == "Success"
    # The job that ran across the failover ends, its final state on the new primary.
    info = sentinel_client.wait(across, timeout=30)
    assert (info["status"], info["result"]) == ("Success", "slept")
    with topology.client("replica") as promoted_primary:
        assert promoted_primary.exists(across, after)


@run
async def test_the_hub_resubscribes_after_a_failover(topology, sentinel_client):
    async with serve(topology.url) as served:
        await served.hub.start()
        client = await served.connect("ann")
        assert await client.next() == {"add": []}
        killed = await asyncio.to_thread(failover, topology)
        # The hub's subscription died with the primary: its sockets are closed (1012),
        # and it subscribes again on the new primary by itself.
        assert await asyncio.wait_for(client.conn.read_message(), 10) is None
        await client.aclose()
        await asyncio.wait_for(served.hub.listening.wait(), 30)
        print(f"\nhub listening again {time.monotonic() - killed:.2f} s after the kill")
        again = await served.connect("ann")
        assert await again.next() == {"add": []}
        job_id = await asyncio.to_thread(sentinel_client.submit, "ann", "d", None, jobs.double, 3)
        assert await again.next() == {"add": [job_id]}
        updates = await again.until(lambda m: m.get("update", {}).get("status") == "Success")
        assert updates[-1]["update"]["result"] == 6
        await again.aclose()


def test_no_sentinel_answers_is_a_connection_error_soon(tmp_path):
    """A URL whose sentinels are all away fails fast with redis's ConnectionError, which
    moi's callers treat as Redis away (503 pages, retried writes)."""
    url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/{SERVICE}"
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError, match="No master found"):
        connections.single(url)
    assert time.monotonic() - started < 10


def test_writes_to_a_demoted_primary_go_to_the_new_one(topology):
    """A failover the sentinels run while the old primary stays up (SENTINEL FAILOVER):
    connections still open to it get READONLY, which sends the write to the new primary."""
    writer = connections.single(topology.url, decode_responses=True)
    try:
        assert writer.set("moi:test:before", "1")
        with topology.client("sentinel-1") as asked:
            asked.execute_command("SENTINEL", "FAILOVER", SERVICE)
        promoted(topology)
        with topology.client("primary") as old:
            wait_until(lambda: old.execute_command("ROLE")[0] == "slave", 30, "it is demoted")
        assert writer.connection.port == topology.ports["primary"]  # still open to it
        assert writer.set("moi:test:after", "1")
        assert writer.connection.port == topology.ports["replica"]
    finally:
        writer.close()
    with topology.client("replica") as new_primary:
        assert new_primary.get("moi:test:after") == "1"
