"""One client used from many threads at once: submitters, ipyparallel's I/O thread, the loop.

``Client.outstanding`` and the drained event are shared by the caller's threads (a submit
adds its jobs), ipyparallel's I/O thread (a task comes back) and the client's loop
(``drain`` waits). A ``drain`` must never return while a job submitted before it began
is still out, however those threads interleave.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid

import pytest

from moi import record
from moi.status import Status
from moi.sync import SyncClient
from tests import jobs

SUBMITTERS = 4
JOBS_EACH = 125
"""Each submitter's jobs: 500 in all."""


def statuses(r, job_ids) -> dict[str, str | None]:
    """Each job's stored status (None: not stored)."""
    ordered = sorted(job_ids)
    infos = [record.decode(raw) or {} for raw in r.mget(ordered)] if ordered else []
    return {job_id: info.get("status") for job_id, info in zip(ordered, infos, strict=True)}


def test_drain_never_returns_before_the_jobs_submitted_before_it_are_back(r, settings):
    """Submitters that wait for most of their jobs keep the outstanding set emptying and
    filling again as tasks come back, while the main thread drains over and over. A tiny
    switch interval makes the threads change hands between almost every two bytecodes."""
    client = SyncClient(settings)
    submitted: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def submitter(number: int) -> None:
        try:
            for i in range(JOBS_EACH):
                job_id = client.submit("threads", f"double {number}.{i}", None, jobs.double, i)
                with lock:
                    submitted.append(job_id)
                if i % 3:  # and every third, the next submit overlaps this job's return
                    client.wait(job_id, timeout=30)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(SUBMITTERS)]
    interval = sys.getswitchinterval()
    drains = 0
    try:
        client.start()
        sys.setswitchinterval(1e-6)
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            with lock:
                before = set(submitted)
            client.drain(timeout=30)
            drains += 1
            out = before & client.outstanding
            assert not out, f"drain {drains} returned with {len(out)} earlier jobs out"
            unfinished = {k: v for k, v in statuses(r, before).items() if v != "Success"}
            assert not unfinished, f"drain {drains} returned before they ended: {unfinished}"
    finally:
        sys.setswitchinterval(interval)
        for thread in threads:
            thread.join(60)
        try:
            client.drain(timeout=30)
        finally:
            client.close()
    assert not errors, errors
    assert len(set(submitted)) == SUBMITTERS * JOBS_EACH
    assert drains > 1, "no drain returned while the submitters were at work"
    assert client.outstanding == set()
    assert set(statuses(r, submitted).values()) == {Status.SUCCESS.value}


class HeldEvent(asyncio.Event):
    """The client's drained event, whose first ``set`` (on the loop) waits until the test
    says go: it holds the loop at the moment the last task came back, so that a submit
    can land there, as a thread switch may let it."""

    def __init__(self, replaces: asyncio.Event) -> None:
        super().__init__()
        if replaces.is_set():
            super().set()
        self.setting = threading.Event()
        self.go = threading.Event()
        self.armed = True

    def set(self) -> None:
        if self.armed:
            self.armed = False
            self.setting.set()
            self.go.wait(30)
        super().set()


def test_a_submit_as_the_last_task_comes_back_is_waited_for_by_the_next_drain(r, settings):
    """The interleaving of issue 21's finding 5, made to happen: the loop hears that the
    last outstanding task came back; a thread submits a job before the loop marks the
    client drained; then a drain must still wait for that job."""
    key = f"release-{uuid.uuid4()}"
    client = SyncClient(settings)
    held = HeldEvent(client.client._drained)
    client.client._drained = held
    try:
        client.start()
        client.submit("threads", "first", None, jobs.double, 1)
        assert held.setting.wait(30), "the first job's return never reached the loop"
        # The loop is inside the drained event's set(): submit in this thread meanwhile.
        second = client.submit(
            "threads", "second", None, jobs.blocks_until_released, settings.redis_url, key
        )
        held.go.set()
        with pytest.raises(TimeoutError):
            client.drain(timeout=1)  # the second job is out: a drain cannot return
        assert second in client.outstanding

        r.rpush(key, "go")
        client.drain(timeout=30)
        assert client.outstanding == set()
        assert statuses(r, [second]) == {second: Status.SUCCESS.value}
    finally:
        held.go.set()
        r.rpush(key, "go")
        client.close()
