"""The controller killed and started again: jobs waiting in moi lose nothing.

Real faults only: an ``ipcontroller`` and two ``ipengine`` run as they would in a
deployment (separate commands sharing a profile directory); the controller is killed
with SIGKILL by PID and a new one is started, with new engines.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from moi import keys
from moi.sync import SyncClient
from tests import jobs
from tests.faults.cluster import BIN, connection_file

pytestmark = pytest.mark.faults

LEASE = 2
BOUND = 30  # seconds from the fault's end to every job's final state (issue #11)


def wait_for_engines(client: SyncClient, count: int) -> None:
    deadline = time.monotonic() + 60
    while client.cluster() is None or client.cluster()["engines"] < count:
        assert time.monotonic() < deadline, f"never {count} engines"
        time.sleep(0.2)  # engines register in their own time: nothing to wait on


def test_jobs_waiting_when_the_controller_is_killed_run_on_the_new_one(
    settings, commands, r, exclusive_dispatch
):
    """50 jobs wait and 2 run when the controller is SIGKILLed; submits in the outage are
    taken; a new controller with new engines runs every waiting job to ``Success``."""
    controller = commands.controller()
    for _ in range(2):
        commands.start(str(BIN / "ipengine"))
    ours = dataclasses.replace(settings, ipp_connection_file=connection_file(commands), lease=LEASE)
    with SyncClient(ours) as client:
        client.start(reap=True, dispatch=True)
        wait_for_engines(client, 2)
        key = "release:controller"
        busy = [
            client.submit("ann", f"busy {n}", None, jobs.blocks_until_released, ours.redis_url, key)
            for n in range(2)
        ]
        with r.pubsub() as pubsub:  # until the engines hold both
            pubsub.subscribe(*map(keys.job_channel, busy))
            while any(r.zscore(keys.LEASES, job_id) is None for job_id in busy):
                assert pubsub.get_message(timeout=30) is not None, "the busy jobs never started"
        waiting = client.map("ann", "waiting", None, jobs.double, range(50))

        commands.kill(controller)  # SIGKILL
        killed_at = time.monotonic()
        during = client.map("bob", "during", None, jobs.double, range(5))  # taken: Redis only
        while client.cluster() is None or client.cluster()["controller"] is None:
            assert time.monotonic() - killed_at < 15, "the dispatcher never noticed"
            time.sleep(0.2)  # it probes every 2 s: nothing to wait on
        assert {client.get(job_id)["status"] for job_id in waiting + during} == {"Queued"}

        commands.controller()  # a new controller, on new ports, knowing nothing
        for _ in range(2):
            commands.start(str(BIN / "ipengine"))
        restarted_at = time.monotonic()
        for number, job_id in enumerate(waiting):
            info = client.wait(job_id, timeout=BOUND)
            assert (info["status"], info["result"]) == ("Success", 2 * number), info
        for job_id in during:
            assert client.wait(job_id, timeout=BOUND)["status"] == "Success"
        ended_in = time.monotonic() - restarted_at

        # The old engines' jobs end as running jobs do: stored by their engine if it lives
        # on, else their lease lapses and the reaper ends them.
        r.rpush(key, "go", "go")
        for job_id in busy:
            assert client.wait(job_id, timeout=BOUND)["status"] in ("Success", "Failed")
    print(f"the 55 waiting jobs ended {ended_in:.1f} s after the restart")
