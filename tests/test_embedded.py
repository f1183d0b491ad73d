"""moi.embedded: private servers start, work, and stop leaving no process behind."""

from __future__ import annotations

import psutil
import pytest
import redis

from moi.embedded import EmbeddedError, LocalCluster, RedisServer, free_port


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
