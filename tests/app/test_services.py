"""What the app starts for itself, and the jobs a previous run left behind."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from app.accounts import USERS_KEY
from app.services import (
    ORPHAN_MESSAGE,
    Services,
    StartupError,
    check_redis,
    fail_orphaned_jobs,
    first_line,
)
from app.settings import AppSettings
from moi import record
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


def store(r, user: str, status: str) -> str:
    info = record.new_info(user, f"{status} job", "/result/hello")
    info["status"] = status
    record.Writer(r).create([info], 60)
    return info["id"]


def test_unfinished_jobs_of_a_previous_run_end_failed(r, moi_context):
    r.hset(USERS_KEY, mapping={"alice": "{}", "bob": "{}"})
    running, queued, custom = (store(r, "alice", s) for s in ("Running", "Queued", "3 s to go"))
    done, failed, other = (
        store(r, "alice", "Success"),
        store(r, "bob", "Failed"),
        store(r, "bob", "Running"),
    )
    stranger = store(r, "not-a-user", "Running")

    async def fail_them() -> int:
        moi = Client(moi_context.settings)
        try:
            return await fail_orphaned_jobs(moi)
        finally:
            await moi.aclose()

    assert asyncio.run(fail_them()) == 4

    for job_id in (running, queued, custom, other):
        info = record.decode(r.get(job_id))
        assert info["status"] == "Failed"
        assert info["result"] == ORPHAN_MESSAGE
    assert record.decode(r.get(done))["status"] == "Success"
    assert record.decode(r.get(failed))["result"] is None
    assert record.decode(r.get(stranger))["status"] == "Running"


def test_errors_are_shown_as_one_line():
    assert first_line(TimeoutError("no engines\nafter 60 s")) == "no engines"
    assert first_line(TimeoutError()) == "TimeoutError"
