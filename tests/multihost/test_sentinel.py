"""moi across hosts on Redis behind Sentinel: the primary's host is cut off, the sentinels
promote the replica, and moi carries on by itself.

Hosts: the primary on ``redis``, its replica on ``redis-2``, a sentinel on each of
``sentinel-1..3``; moi (dispatcher, engines, both web processes) is deployed with the
``redis+sentinel://`` URL. The figures printed (``-s``) are measured from the cut.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from examples.multihost import Deployment
from moi import config
from moi.sync import SyncClient
from tests import jobs
from tests.multihost.clients import new_username, signed_in
from tests.multihost.watching import until_status

SERVICE = "moi"
SENTINEL_PORT = 26379
DOWN_AFTER_MS = 2000
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
BOUND = 30.0
"""Seconds from the cut by which moi must carry on (submissions taken, running jobs
ended, hubs listening again): a generous bound; the figures measured are printed."""


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """``predicate()``'s first true value, asked every 0.1 s (a server's state on another
    host: nothing to wait on but asking), or a failure naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if value := predicate():
                return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


def start_sentinels(d: Deployment) -> str:
    """The primary, its replica and three sentinels on their hosts; the moi URL for them."""
    d.add_redis("redis", "redis")
    primary = d.hosts["redis"].addr
    d.add_redis("redis-2", "redis-2", "--replicaof", primary, "6379")
    for name in SENTINELS:
        conf = d.folder(name) / "sentinel.conf"  # a sentinel rewrites its own file
        conf.write_text(
            f"bind {d.hosts[name].addr}\nport {SENTINEL_PORT}\nprotected-mode no\n"
            f"dir {d.folder(name)}\n"
            f"sentinel monitor {SERVICE} {primary} 6379 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        d.add_service(name, name, ["redis-server", str(conf), "--sentinel"], port=SENTINEL_PORT)
    with d.inside():
        for name in SENTINELS:
            with sentinel(d, name) as client:
                wait_until(
                    lambda c=client: (
                        (m := c.sentinel_master(SERVICE))["num-slaves"] == 1
                        and m["num-other-sentinels"] == 2
                    ),
                    60,
                    f"{name} knows the replica and the other sentinels",
                )
    hosts = ",".join(f"{d.hosts[name].addr}:{SENTINEL_PORT}" for name in SENTINELS)
    return f"redis+sentinel://{hosts}/{SERVICE}/0"


def sentinel(d: Deployment, name: str) -> redis.Redis:
    return redis.Redis(d.hosts[name].addr, SENTINEL_PORT, socket_timeout=2, decode_responses=True)


def primary_addr(d: Deployment) -> str | None:
    """The primary's address as a majority of the sentinels that answer name it."""
    named = []
    for name in SENTINELS:
        with contextlib.suppress(redis.RedisError), sentinel(d, name) as client:
            named.append(client.sentinel_get_master_addr_by_name(SERVICE)[0])
    return max(set(named), key=named.count) if named else None


@pytest.fixture
def behind_sentinel(tmp_path) -> Iterator[Deployment]:
    d = Deployment.build(tmp_path / "run", extra_hosts=("redis-2", *SENTINELS))
    try:
        d.launch(redis_url=start_sentinels(d))
        with d.inside():
            yield d
    finally:
        left = d.close()
        assert not left, f"the deployment left {left}; logs in {d.run_dir}"


@pytest.mark.timeout(300)
def test_moi_carries_on_when_the_primary_host_is_cut_off(behind_sentinel):
    d = behind_sentinel
    user = new_username()
    web1, web2 = signed_in(d, "web-1", user), signed_in(d, "web-2", user)
    settings = config.Settings(redis_url=d.redis_url, dispatch=False, reap=False)
    with contextlib.closing(SyncClient(settings)) as moi:
        before = moi.submit("g", "before", None, jobs.double, 1)
        assert moi.wait(before, timeout=30)["status"] == "Success"
        across = moi.submit("g", "across", None, jobs.tells_pid_then_sleeps, 6)
        wait_until(lambda: (moi.get(across) or {})["status"].startswith("pid"), 30, "it runs")
        with contextlib.closing(d.redis()) as r:
            assert r.execute_command("WAIT", 1, 5000) == 1  # the replica has it all
            kept = {job_id: r.get(job_id) for job_id in (before,)}

        with (
            concurrent.futures.ThreadPoolExecutor(1) as pool,  # on the client host too
            contextlib.ExitStack() as stack,
        ):
            later: concurrent.futures.Future = concurrent.futures.Future()
            live = pool.submit(asyncio.run, until_status(d, "web-2", web1, later, "Success"))
            stack.callback(later.cancel)  # on a failure, the thread stops waiting for it
            d.cut("redis")
            cut = time.monotonic()
            wait_until(lambda: primary_addr(d) == d.hosts["redis-2"].addr, BOUND, "promoted")
            promoted = time.monotonic() - cut

            def taken() -> bool:
                answer = web1.post("/jobs/hello", name="After")
                return answer.status == 303

            wait_until(taken, BOUND, "web-1 takes a submission")
            submitted = time.monotonic() - cut
            with contextlib.closing(d.redis()) as r:
                group = json.loads(r.get(before))  # read on the new primary
                assert group["status"] == "Success"
                assert {job_id: r.get(job_id) for job_id in kept} == kept
            info = moi.wait(across, timeout=BOUND)
            assert (info["status"], info["result"]) == ("Success", "slept"), info
            ended = time.monotonic() - cut
            later.set_result(newest_job(web2))
            seen_at, closes = live.result(timeout=BOUND + 60)
            seen = seen_at - cut
    print(
        f"\nprimary's host cut: promoted {promoted:.1f} s, web-1 takes a job {submitted:.1f} s,"
        f" the job running across it stored Success {ended:.1f} s, web-2's socket shows the"
        f" new job's Success {seen:.1f} s after the cut (the socket was closed {closes} times)"
    )
    assert seen < BOUND


def newest_job(client) -> str:
    """The ID of the newest job of ``client``'s user, as the JSON API lists them."""
    answer = client.get("/api/jobs")
    assert answer.status == 200, answer.text
    return json.loads(answer.text)["jobs"][0]["id"]
