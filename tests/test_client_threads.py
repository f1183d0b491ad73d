"""One client used from many threads at once: submitters and the client's loop.

``Client.outstanding`` is shared by the caller's threads (a submit adds its jobs) and the
client's loop (``drain`` takes out the jobs it sees end). A ``drain`` must never return
while a job submitted before it began has not ended, however those threads interleave.
"""

from __future__ import annotations

import sys
import threading

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
