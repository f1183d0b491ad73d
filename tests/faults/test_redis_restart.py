"""A Redis restart while jobs run: their final states are stored once Redis is back.

Real faults only: the Redis server is stopped by PID (SIGTERM; its append-only file is
written) while a job runs, the job ends while Redis is away, and a new server starts on
the same port and data. The engine's final write waits for it and lands.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import redis

from moi.sync import SyncClient
from tests import jobs

pytestmark = pytest.mark.faults


def wait_for_status(url: str, job_id: str, status: str, timeout: float = 30) -> None:
    """Until the stored job has ``status``, on its channel (no polling)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    with client, client.pubsub() as pubsub:
        pubsub.subscribe(f"{job_id}:pubsub")
        assert pubsub.get_message(timeout=10)["type"] == "subscribe"
        while json.loads(client.get(job_id))["status"] != status:
            assert pubsub.get_message(timeout=timeout) is not None, f"never {status}"


def test_a_job_that_ends_while_redis_is_down_is_stored_when_it_is_back(
    settings, own_redis, tmp_path
):
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    ours = dataclasses.replace(settings, redis_url=own_redis.url, write_retry=60)
    with SyncClient(ours) as moi_client:
        job_id = moi_client.submit("ann", "waits", None, jobs.waits_for_fifo, str(fifo))
        wait_for_status(own_redis.url, job_id, "Waiting")

        own_redis.stop()  # the job is Running, and Redis is gone
        with open(fifo, "w") as pipe:  # the job ends now: its final write fails, and waits
            pipe.write("done while Redis was down")
        own_redis.start()  # same port, same data

        info = moi_client.wait(job_id, timeout=30)
        assert (info["status"], info["result"]) == ("Success", "done while Redis was down")
        moi_client.drain(30)
    # Stored for good: a restarted server still has it.
    own_redis.stop()
    own_redis.start()
    stored = json.loads(redis.Redis.from_url(own_redis.url).get(job_id))
    assert stored["status"] == "Success"
