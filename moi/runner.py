"""What runs on an engine: the wrapper around a job's function.

The engine process stores every change of the job, keeps its lease, hears its cancel and
counts its time limit; the function itself runs in the engine's job process
(:mod:`moi.jobprocess`), so nothing it does can stop that machinery.

Engines may live on other hosts, so each job carries the Redis URL to report to, and
each engine process keeps one client per URL for all the jobs it runs.
"""

from __future__ import annotations

import functools
import logging
import pickle
import time
from multiprocessing.connection import wait
from typing import Any

import cloudpickle

from moi import connections, lease, output, queue, record, stopper
from moi.capture import Capture
from moi.config import Settings
from moi.exceptions import JobProcessDied
from moi.jobprocess import JobProcess, check_status_update, json_result
from moi.retry import TRANSIENT, durably
from moi.status import Status, failure_reason

__all__ = ["RunningJob", "json_result", "pack", "serve"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _writer(url: str) -> record.Writer:
    # One connection, not a pool: a pool checks its connection with a poll() per command,
    # a sixth of a write's cost here. The engine's few threads take turns on it (a lock),
    # and a connection Redis closed (a restart) is made again for the next command.
    return record.Writer(connections.single(url))


@functools.lru_cache(maxsize=8)
def _output(writer: record.Writer) -> output.Output:
    return output.Output(writer.client)


_renewer = lease.Renewer()
_cancels = stopper.CancelListener()
_process: JobProcess | None = None


def _job_process() -> JobProcess:
    """This engine's job process, started anew if the last one was stopped or died."""
    global _process
    if _process is None:
        _process = JobProcess()
    return _process


def _discard_job_process() -> None:
    global _process
    if _process is not None:
        _process.kill()
        _process = None


class RunningJob:
    """The engine's copy of a job's info, written through on every change."""

    def __init__(
        self,
        writer: record.Writer,
        info: dict[str, Any],
        ttl: int,
        write_retry: float = 0,
        lease_seconds: int = 0,
    ) -> None:
        self.writer = writer
        self.info = info
        self.ttl = ttl
        self.write_retry = write_retry
        self.lease_seconds = lease_seconds
        self.stored_end = False
        """Whether this engine stored the job's end; not if the job had ended already (a
        cancel, the reaper) or was sent again meanwhile (a later attempt)."""

    def status_update(self, status: str | None = None, *, progress: float | None = None) -> None:
        """Set the job's status text and/or its progress (0 to 1), and announce it.

        What the function's ``status_update`` keyword asks for, from its job process.
        """
        status, progress = check_status_update(status, progress)
        if progress is not None:
            self.info["progress"] = progress
        if status is not None:
            self.info["status"] = status
        try:
            self.writer.update(self.info, self.ttl, status_changed=status is not None)
        except TRANSIENT as error:
            # Redis is away: the job goes on, and its next write carries this change too.
            log.warning("moi could not store job %s's status: %s", self.info["id"], error)

    def start(self) -> bool:
        """Store ``Running`` and take the job's lease; False if the job has ended already
        (cancelled, say).

        Retried while Redis is away, as the end is (``write_retry`` s); if it still
        cannot be stored the task fails before the function runs, and the submitter ends
        the job ``Failed`` with the reason.
        """
        self.info.update(status=Status.RUNNING.value, date_start=record.now())
        started = durably(
            lambda: self.writer.update(self.info, self.ttl, lease=self.lease_seconds or ""),
            self.write_retry,
            f"the start of job {self.info['id']}",
        )
        if started and self.lease_seconds:
            _renewer.hold(self.writer.client, self.info["id"], self.lease_seconds)
        return started

    def finish(self, status: Status, result: Any) -> None:
        """Store the final state, retrying while Redis is away (up to ``write_retry`` s)."""
        self.info.update(status=status.value, result=result, date_end=record.now())
        try:
            self.stored_end = durably(
                lambda: self.writer.update(self.info, self.ttl, lease="end"),
                self.write_retry,
                f"the end of job {self.info['id']}",
            )
        finally:
            _renewer.release(self.info["id"])

    def end_stopped(self, why: Status) -> None:
        """Store the end of a job moi stopped: a time limit's ``Failed`` is stored here, at
        the limit; a cancel was stored by whoever cancelled it, with its lease dropped."""
        if why is Status.FAILED:
            self.finish(Status.FAILED, stopper.time_limit_message(self.info["time_limit"]))
        else:
            _renewer.release(self.info["id"])


def pack(settings: Settings, info: dict[str, Any], call) -> bytes:
    """Everything a job needs to run on an engine, stored with it in ``moi:calls``.

    ``call`` is
    ``(func, args, kwargs)``, cloudpickled so that functions from ``__main__``, lambdas
    and closures travel as well as module functions; it is unpickled on the engine inside
    the job, so a function the engine cannot load ends the job ``Failed`` with the reason.
    """
    engine_settings = (
        settings.engine_url,
        settings.key_ttl,
        settings.max_result_bytes,
        settings.write_retry,
        settings.lease,
        settings.cancel_grace,
        settings.max_output_bytes,
    )
    return pickle.dumps((engine_settings, info, cloudpickle.dumps(call)))


SERVE_BUDGET = 1.0
"""Seconds a :func:`serve` task keeps taking jobs before it returns (after the job in
hand), so the dispatcher hears of the ends it logs and counts at least that often."""

CHUNK_SECONDS = 0.02
"""Seconds of work an engine takes at once when no other group waits (short jobs only)."""

MOST_AT_ONCE = 64
"""The most jobs an engine takes in one claim."""

IDLE_SECONDS = 0.1
"""Seconds a :func:`serve` task that finds no job stays, woken by new work (``moi:wake``),
before it returns: jobs that come one after another skip the dispatcher and the cluster."""


def serve(url: str, fence: str, task: str, max_running: int, lease_seconds: int) -> dict:
    """The task the dispatcher keeps on each engine: take the next job moi's queue gives
    (:mod:`moi.queue`), run it, store every change of it, and ask again; until nothing
    may be taken, another dispatcher took over, or :data:`SERVE_BUDGET` seconds passed.

    Jobs are taken one at a time while several groups wait, so the fair choice is made
    whenever an engine is free; a group alone may have a few short ones at once.

    :returns: ``{"outcomes": [...], "stopped": why}``, one outcome per job run (its
        final status, times and a failure's last line, for the dispatcher's log and
        metrics; no status if this engine did not store the end).
    """
    writer = _writer(url)
    _cancels.listen(writer.client)
    began = worked = time.monotonic()
    outcomes: list[dict[str, Any]] = []
    most, stopped = 1, "budget"
    while True:
        _cancels.work.clear()  # a wake-up from now on means a job may wait
        claimed = writer.claim(fence, task, most, max_running, lease_seconds)
        if claimed == queue.AGAIN:
            continue
        if claimed == queue.FENCED:
            stopped = "fenced"
            break
        if isinstance(claimed, int):
            idle = IDLE_SECONDS - (time.monotonic() - worked)
            if idle > 0 and _cancels.work.wait(idle):
                continue
            stopped = "empty"
            break
        for info, _ in claimed:
            _renewer.hold(writer.client, info["id"], lease_seconds)
        chunk_began = time.monotonic()
        ran = 0
        for info, packed in claimed:
            rest = Rest(writer, [job for job, _ in claimed[ran + 1 :]])
            outcomes.append(_run_taken(writer, info, packed, rest))
            ran += 1
            if rest.handed_back:
                break
        worked = time.monotonic()
        took = (worked - chunk_began) / ran
        most = max(1, min(MOST_AT_ONCE, int(CHUNK_SECONDS / max(took, 1e-4))))
        if time.monotonic() - began > SERVE_BUDGET:
            break
    return {"outcomes": outcomes, "stopped": stopped}


class Rest:
    """The jobs of a chunk after the one running: handed back to their queue if that one
    runs longer than :data:`CHUNK_SECONDS` (a chunk's jobs were thought short), so that
    a free engine takes them rather than wait behind it."""

    def __init__(self, writer: record.Writer, infos: list[dict[str, Any]]) -> None:
        self.writer = writer
        self.infos = infos
        self.handed_back = False

    def hand_back(self) -> None:
        for info in self.infos:
            _renewer.release(info["id"])
            # Back to the front, on a new attempt (so no other claim of it is mistaken
            # for this one), no retry used; none that was cancelled meanwhile.
            self.writer.lost(info["id"], int(info.get("attempt") or 1), "")
        self.handed_back = True


def _run_taken(
    writer: record.Writer, info: dict[str, Any], packed: bytes, rest: Rest | None = None
) -> dict[str, Any]:
    """Run one job this engine took, and store every change of it; its outcome."""
    engine_settings, _, payload = pickle.loads(packed)
    _, ttl, max_result_bytes, write_retry, lease_seconds, grace, *rest_of_settings = engine_settings
    max_output_bytes = rest_of_settings[0] if rest_of_settings else 0  # a call packed by moi < 0.5
    job = RunningJob(writer, info, ttl, write_retry, lease_seconds)
    attempt = int(info.get("attempt") or 1)
    capture = Capture(_output(writer), info["id"], attempt, ttl, max_output_bytes)
    outcome: dict[str, Any] = {
        "id": info["id"],
        "group": info["group"],
        "date_created": info.get("date_created"),
        "status": None,
    }
    _cancels.watch(writer.client, info["id"])  # before the start: no cancel slips by
    try:
        if not job.start():
            _renewer.release(info["id"])
            return outcome  # ended before it started: cancelled while it waited
        log.info("moi job %s of group %s started", info["id"], info["group"])
        if attempt > 1:
            capture.note(f"Attempt {attempt}")
        with capture:  # every line is stored, before a lost process is dealt with below
            status = _supervise(job, payload, max_result_bytes, grace, rest, capture)
    except JobProcessDied as died:
        # As if its engine died: it may run again, else it ends Failed with the reason.
        why = str(died)
        what = durably(
            lambda: writer.lost(info["id"], int(info.get("attempt") or 1), why),
            write_retry,
            f"the loss of job {info['id']}",
        )
        if what == "failed":
            outcome.update(status=Status.FAILED.value, reason=why)
        return outcome
    finally:
        _cancels.done()
    if job.stored_end:
        outcome.update(
            status=status,
            date_start=info["date_start"],
            date_end=info.get("date_end"),
            reason=failure_reason(job.info),  # a line for the dispatcher's log, "" unless Failed
        )
    return outcome


def _supervise(
    job: RunningJob,
    payload: bytes,
    max_result_bytes: int,
    grace: float,
    rest: Rest | None,
    capture: Capture,
) -> str:
    """Run the call in the job process and store how it ended; its final status.

    The one loop of the engine's main thread while a job runs: it waits on the job
    process's messages and output, a cancel's wake-up, the time limit, the moment the
    rest of its chunk goes back to the queue, and the moment output is due to be stored,
    whichever comes first. Every line printed is stored before the job's end.
    """
    process = _job_process()
    limit = job.info.get("time_limit")
    deadline = time.monotonic() + limit if limit else None
    stopped: Status | None = None
    kill_at: float | None = None
    hand_back_at = time.monotonic() + CHUNK_SECONDS if rest and rest.infos else None
    process.send(payload, max_result_bytes, capture.open())
    while True:
        due = kill_at if stopped is not None else deadline
        for then in (hand_back_at, capture.due):
            if then is not None:
                due = then if due is None else min(due, then)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        ready = wait([process.conn, _cancels.wake_fd, *capture.fds], timeout)
        for fd in capture.fds:
            if fd in ready:
                capture.read(fd)
        capture.store_if_due()
        if rest is not None and hand_back_at is not None and time.monotonic() >= hand_back_at:
            hand_back_at = None
            rest.hand_back()
        if stopped is None and _cancels.take():
            stopped, kill_at = Status.CANCELLED, time.monotonic() + grace
            process.interrupt()
            job.end_stopped(stopped)
        if process.conn in ready:
            try:
                message = process.conn.recv()
            except (EOFError, OSError):
                return _process_died(job, process, stopped)
            if message[0] == "status":
                if stopped is None:
                    job.status_update(message[1], progress=message[2])
                continue
            capture.close()  # every line it printed, before its end
            if stopped is not None:  # it let go once interrupted: a new one for the next job
                _discard_job_process()
                return stopped.value
            return _store_outcome(job, message, max_result_bytes)
        now = time.monotonic()
        if stopped is None and deadline is not None and now >= deadline:
            stopped, kill_at = Status.FAILED, now + grace
            process.interrupt()
            job.end_stopped(stopped)
        elif stopped is not None and kill_at is not None and now >= kill_at:
            log.warning("moi ends the process of job %s: it did not stop", job.info["id"])
            _discard_job_process()
            return stopped.value


def _process_died(job: RunningJob, process: JobProcess, stopped: Status | None) -> str:
    """The job process ended mid-job: stopped by moi, or died of its own."""
    how = process.describe_end()
    _discard_job_process()
    if stopped is not None:
        return stopped.value
    _renewer.release(job.info["id"])
    raise JobProcessDied(f"The process running this job died before it finished: {how}.")


def _store_outcome(job: RunningJob, message: tuple, max_result_bytes: int) -> str:
    kind = message[0]
    if kind == "returned":
        job.finish(Status.SUCCESS, message[1])
        return Status.SUCCESS.value
    if kind == "too_big":
        job.finish(
            Status.FAILED,
            f"The result is {message[1]} bytes as JSON, more than max_result_bytes "
            f"({max_result_bytes}); store large results elsewhere and return a reference.",
        )
    else:
        job.finish(Status.FAILED, message[1])
    return Status.FAILED.value
