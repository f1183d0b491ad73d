"""What the app starts for itself, and the jobs a previous run left behind."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from app.services import (
    ORPHAN_MESSAGE,
    Services,
    StartupError,
    check_redis,
    end_orphaned_jobs,
    first_line,
)
from app.settings import AppSettings
from moi import keys, record
from moi.client import Client
from moi.embedded import free_port


def test_configured_servers_are_used_and_nothing_started(settings, tmp_path):
    configured = dataclasses.replace(
        settings, explicit=frozenset({"redis.url", "ipyparallel.connection_file"})
    )
    services = Services(configured, AppSettings(var_dir=str(tmp_path)))
    assert services.start() == configured
    assert services.pids() == []
    assert not services.owns_everything
    services.stop()
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_redis_is_one_line():
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(StartupError) as raised:
        check_redis(url, timeout=2)
    message = str(raised.value)
    assert message.startswith(f"cannot reach Redis at {url}: ")
    assert "\n" not in message


def test_the_private_redis_is_started_and_stopped(settings, tmp_path):
    # The session's cluster stands in for a configured one, so only Redis is started.
    configured = dataclasses.replace(settings, explicit=frozenset({"ipyparallel.connection_file"}))
    services = Services(configured, AppSettings(var_dir=str(tmp_path)))
    running = services.start()
    try:
        assert running.redis_url != settings.redis_url
        [pid] = services.pids()
        check_redis(running.redis_url)
        assert (tmp_path / "redis").is_dir()
    finally:
        services.stop()
    with pytest.raises(StartupError):
        check_redis(running.redis_url, timeout=1)


def store(r, user: str, status: str, *, held: bool = False) -> str:
    """A job of ``user`` stored as ``status``; ``held``: as if an engine had taken it."""
    info = record.new_info(user, f"{status} job", "/result/hello")
    info["status"] = status
    r.set(info["id"], record.encode(info), ex=60)
    if held:
        r.zadd(keys.LEASES, {info["id"]: 0})
    return info["id"]


def test_jobs_the_stopped_cluster_held_end_failed_and_waiting_ones_wait(
    r, moi_context, exclusive_dispatch
):
    running, custom = (store(r, "alice", s, held=True) for s in ("Running", "3 s to go"))
    taken = store(r, "alice", "Queued", held=True)  # taken by an engine, never started
    waiting = store(r, "bob", "Queued")
    done = store(r, "alice", "Success")

    async def end_them() -> int:
        moi = Client(moi_context.settings)
        try:
            return await end_orphaned_jobs(moi)
        finally:
            await moi.aclose()

    assert asyncio.run(end_them()) == 2

    for job_id in (running, custom):
        info = record.decode(r.get(job_id))
        assert (info["status"], info["result"]) == ("Failed", ORPHAN_MESSAGE)
    again = record.decode(r.get(taken))
    assert (again["status"], again["attempt"], again["requeues"]) == ("Queued", 2, 1)
    assert r.zrange(keys.queue_key("alice"), 0, -1) == [taken]
    assert record.decode(r.get(waiting))["status"] == "Queued"
    assert record.decode(r.get(done))["status"] == "Success"
    assert r.zcard(keys.LEASES) == 0


def test_errors_are_shown_as_one_line():
    assert first_line(TimeoutError("no engines\nafter 60 s")) == "no engines"
    assert first_line(TimeoutError()) == "TimeoutError"
