"""What runs on an engine: the wrapper around a job's function.

Engines may live on other hosts, so each job carries the Redis URL to report to, and
each engine process keeps one client per URL for all the jobs it runs.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import traceback
from typing import Any

import cloudpickle
import redis

from moi import lease, record, stopper
from moi.config import Settings
from moi.retry import TRANSIENT, durably
from moi.status import Status, is_final

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _writer(url: str) -> record.Writer:
    # One connection, not a pool: a pool checks its connection with a poll() per command,
    # a sixth of a write's cost here. The engine's few threads take turns on it (a lock).
    return record.Writer(redis.Redis.from_url(url, single_connection_client=True))


_renewer = lease.Renewer()
_stopper = stopper.Stopper()


def json_result(value: Any) -> tuple[Any, int]:
    """``value`` if JSON can carry it, else its ``repr()``; and its size as JSON in bytes."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        value = repr(value)
        encoded = json.dumps(value)
    return value, len(encoded.encode())


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

        Handed to the job's function as its ``status_update`` keyword.
        """
        if status is not None and not isinstance(status, str):
            raise TypeError(f"status must be a str, not {type(status).__name__}")
        if is_final(status):
            raise ValueError(f"status {status!r} is set by moi when the function returns or raises")
        if progress is not None:
            progress = min(1.0, max(0.0, float(progress)))
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

        Tried once: if Redis cannot be reached the task fails before the function runs,
        and the submitter ends the job ``Failed`` with the reason (no engine is held).
        """
        self.info.update(status=Status.RUNNING.value, date_start=record.now())
        started = self.writer.update(self.info, self.ttl, lease=self.lease_seconds or "")
        if started and self.lease_seconds:
            _renewer.hold(self.writer.client, self.info["id"], self.lease_seconds)
        return started

    def finish(self, status: Status, result: Any, *, retry: bool = True) -> None:
        """Store the final state, retrying while Redis is away (up to ``write_retry`` s,
        unless not ``retry``)."""
        self.info.update(status=status.value, result=result, date_end=record.now())
        try:
            self.stored_end = durably(
                lambda: self.writer.update(self.info, self.ttl, lease="end"),
                self.write_retry if retry else 0,
                f"the end of job {self.info['id']}",
            )
        finally:
            _renewer.release(self.info["id"])

    def end_stopped(self, why: Status, *, retry: bool = True) -> None:
        """Store the end of a job moi stopped. A time limit's ``Failed`` is stored here; a
        cancel was stored by whoever cancelled it, with its lease dropped."""
        if why is Status.FAILED:
            message = stopper.time_limit_message(self.info["time_limit"])
            self.finish(Status.FAILED, message, retry=retry)
        else:
            _renewer.release(self.info["id"])


def pack(settings: Settings, info: dict[str, Any], call) -> bytes:
    """Everything a job needs, as the one bytes argument of :func:`run_job`.

    One opaque argument is the cheapest thing for ipyparallel to carry. ``call`` is
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
    )
    return pickle.dumps((engine_settings, info, cloudpickle.dumps(call)))


def repack(packed: bytes, info: dict[str, Any]) -> bytes:
    """``packed`` with a new info object (the next attempt of a job); the call is kept."""
    engine_settings, _, payload = pickle.loads(packed)
    return pickle.dumps((engine_settings, info, payload))


def run_job(packed: bytes) -> dict[str, Any]:
    """Run one job on this engine and store every change of it.

    The result is stored in Redis, not returned, so it crosses the network once; the
    submitter gets only the final status and the times, for its log and metrics (no
    status if this engine did not store the end: someone else ended the job first).
    """
    engine_settings, info, payload = pickle.loads(packed)
    redis_url, ttl, max_result_bytes, write_retry, lease_seconds, grace = engine_settings
    job = RunningJob(_writer(redis_url), info, ttl, write_retry, lease_seconds)
    if not job.start():
        return {"status": None}  # ended before it started: cancelled while queued
    log.info("moi job %s of group %s started", info["id"], info["group"])
    status = _run(job, payload, max_result_bytes, grace)
    if not job.stored_end:
        return {"status": None}
    return {"status": status, "date_start": info["date_start"], "date_end": info.get("date_end")}


def _run(job: RunningJob, payload: bytes, max_result_bytes: int, grace: float) -> str:
    """Call the job's function and store how it ended; its final status."""
    info = job.info
    watch = _stopper.watch(
        job.writer.client,
        info["id"],
        info.get("time_limit"),
        grace,
        functools.partial(job.end_stopped, retry=False),  # the engine is about to end
    )
    try:
        try:
            func, args, kwargs = cloudpickle.loads(payload)
            value = func(*args, status_update=job.status_update, **kwargs)
        finally:
            _stopper.done(watch)
    except BaseException as error:
        if watch.stopped is not None:  # moi interrupted it: see _stopped
            return _stopped(job, watch)
        job.finish(Status.FAILED, traceback.format_exc())
        if not isinstance(error, Exception):
            raise
        return Status.FAILED.value
    if watch.stopped is not None:  # it caught the interrupt and returned all the same
        return _stopped(job, watch)
    result, size = json_result(value)
    if size > max_result_bytes:
        job.finish(
            Status.FAILED,
            f"The result is {size} bytes as JSON, more than max_result_bytes "
            f"({max_result_bytes}); store large results elsewhere and return a reference.",
        )
        return Status.FAILED.value
    job.finish(Status.SUCCESS, result)
    return Status.SUCCESS.value


def _stopped(job: RunningJob, watch: stopper.Watch) -> str:
    """Store the end of a job moi interrupted, once its function has let go."""
    job.end_stopped(watch.stopped)
    return watch.stopped.value
