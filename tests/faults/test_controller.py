"""The controller killed and started again: no job is left queued, and submitting heals.

Real faults only: an ``ipcontroller`` and an ``ipengine`` run as they would in a
deployment (separate commands sharing a profile directory); the controller is killed
with SIGKILL by PID, which loses the tasks it held, and a new one is started.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from moi import keys, reaper
from moi.exceptions import ClusterError
from moi.sync import SyncClient
from tests import jobs
from tests.faults.cluster import BIN

pytestmark = pytest.mark.faults

LEASE = 2
BOUND = 30  # seconds from the fault's end to every job's final state (issue #11)


def wait_for_engines(client: SyncClient, count: int) -> None:
    deadline = time.monotonic() + 60
    while client._call(client.client.engines()) < count:
        assert time.monotonic() < deadline, f"never {count} engines"
        time.sleep(0.2)  # engines register in their own time: nothing to wait on


def test_jobs_queued_on_a_killed_controller_end_failed_and_submitting_heals(settings, commands, r):
    controller = commands.controller()
    commands.start(str(BIN / "ipengine"))
    ours = dataclasses.replace(
        settings,
        ipp_connection_file=str(commands.profile / "security" / "ipcontroller-client.json"),
        lease=LEASE,
    )
    with SyncClient(ours) as client:
        client.start(reap=True)
        wait_for_engines(client, 1)
        key = "release:controller"
        busy = client.submit("ann", "busy", None, jobs.blocks_until_released, ours.redis_url, key)
        queued = [client.submit("ann", f"queued {n}", None, jobs.double, n) for n in range(3)]
        with r.pubsub() as pubsub:  # until the engine holds the busy job
            pubsub.subscribe(keys.job_channel(busy))
            while r.zscore(keys.LEASES, busy) is None:
                assert pubsub.get_message(timeout=30) is not None, "the busy job never started"

        commands.kill(controller)  # SIGKILL: the tasks it held are lost with it
        killed_at = time.monotonic()
        refused = None
        while refused is None:  # until the client notices; what it took meanwhile counts too
            assert time.monotonic() - killed_at < 15, "submissions never failed fast"
            try:
                queued.append(client.submit("ann", "during", None, jobs.double, 0))
            except ClusterError as error:
                refused = error
        noticed = time.monotonic() - killed_at
        assert "controller is unavailable" in str(refused)

        commands.controller()  # a new controller, on new ports, knowing nothing
        commands.start(str(BIN / "ipengine"))
        restarted_at = time.monotonic()
        outcomes = set()
        for job_id in queued:
            # Its task was lost (Failed, saying so), or the killed controller's scheduler,
            # which outlives it, still gave it to the engine (Success): never left Queued.
            info = client.wait(job_id, timeout=BOUND)
            outcomes.add(info["status"])
            assert info["status"] == "Success" or info["result"] == reaper.LOST_TASK, info
        ended_in = time.monotonic() - restarted_at

        # The old engine's job is not the controller's business: it ends, stored.
        r.rpush(key, "go")
        assert client.wait(busy, timeout=BOUND)["status"] in ("Success", "Failed")

        # Submitting works again, on the new controller.
        deadline = time.monotonic() + BOUND
        while True:
            try:
                healed = client.submit("ann", "after", None, jobs.double, 21)
                break
            except ClusterError:
                assert time.monotonic() < deadline, "the client never reconnected"
                time.sleep(0.2)
        assert client.wait(healed, timeout=BOUND)["result"] == 42
    assert r.hlen(keys.QUEUED) == 0
    print(f"noticed in {noticed:.1f} s; queued jobs ended {ended_in:.1f} s after the restart")
    assert "Failed" in outcomes  # the reaper had work: the test saw the fault it means to
