"""Hearing that the job an engine runs was cancelled.

Whoever cancels a job stores ``Cancelled`` and announces ``{"cancel": job ID}`` on
``moi:cancels`` in one transaction (:func:`moi.record.queue_end`); it needs Redis only,
not the cluster. Each engine process listens there on a daemon thread of its own. When
the ID is that of the job it runs, the thread marks it and wakes the engine's main thread
through a pipe; that thread (:mod:`moi.runner`) stops the job's process. No signal is
ever sent to the engine itself, so no interrupt can land in moi's own code.

The job is watched from before its ``Running`` write: a cancel stored earlier makes that
write refuse (the job has ended), and one sent later is heard, or found in Redis when the
listener subscribes again after Redis was away.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time

import redis

from moi import keys, record
from moi.status import Status

log = logging.getLogger(__name__)

RECONNECT_WAIT = (0.5, 5.0)
"""Seconds between tries to listen again after Redis went away: first, most."""


def time_limit_message(seconds: float) -> str:
    return f"time limit of {seconds:g} s exceeded"


class CancelListener:
    """Tells this engine process's main thread when the job it runs is cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_id: str | None = None
        self._cancelled = False
        self._listeners: set[int] = set()  # ids of the Redis clients listened with
        self.work = threading.Event()
        """Set when jobs start to wait (``moi:wake``): an idle engine's task asks again."""
        self.wake_fd, self._wake_w = os.pipe()
        """Readable when a cancel was heard: the main thread waits on it with the job."""
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)

    def listen(self, client: redis.Redis) -> None:
        """Start listening on ``client`` (once per client): cancels, and new work."""
        self._listen(client)

    def watch(self, client: redis.Redis, job_id: str) -> None:
        """Listen for ``job_id``'s cancel from now on; pair with :meth:`done`."""
        self._listen(client)
        self.take()  # a wake left from an earlier job means nothing now
        with self._lock:
            self._job_id, self._cancelled = job_id, False

    def done(self) -> None:
        with self._lock:
            self._job_id, self._cancelled = None, False

    def take(self) -> bool:
        """Whether the watched job was cancelled; empties the wake pipe."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_fd, 64):
                pass
        with self._lock:
            return self._cancelled

    def cancelled(self, job_id: str | None) -> None:
        """A cancel of ``job_id`` was heard."""
        with self._lock:
            if job_id is None or job_id != self._job_id or self._cancelled:
                return
            self._cancelled = True
        log.info("moi heard that job %s was cancelled", job_id)
        with contextlib.suppress(BlockingIOError):  # full: a wake is pending anyway
            os.write(self._wake_w, b"!")

    def _listen(self, client: redis.Redis) -> None:
        with self._lock:
            if id(client) in self._listeners:
                return
            self._listeners.add(id(client))
        thread = threading.Thread(target=self._hear, args=(client,), name="moi-cancels")
        thread.daemon = True
        thread.start()

    def _hear(self, client: redis.Redis) -> None:
        wait = RECONNECT_WAIT[0]
        while True:
            try:
                with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(keys.CANCELS, keys.WAKE)
                    for _ in range(2):  # the confirmations: from now on, heard
                        pubsub.get_message(timeout=5)
                    self._check_current(client)  # a cancel sent before that is in Redis
                    wait = RECONNECT_WAIT[0]
                    for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        if message["channel"] in (keys.WAKE, keys.WAKE.encode()):
                            self.work.set()
                        else:
                            self.cancelled(cancelled_job(message["data"]))
            except Exception as error:  # Redis went away: listen again, then check again
                log.warning("moi engine cannot hear cancels (%s); trying again", error)
                time.sleep(wait)
                wait = min(wait * 2, RECONNECT_WAIT[1])

    def _check_current(self, client: redis.Redis) -> None:
        job_id = self._job_id
        if job_id is None:
            return
        info = record.decode(client.get(keys.job_key(job_id)))
        if info is not None and info.get("status") == Status.CANCELLED.value:
            self.cancelled(job_id)


def cancelled_job(data: str | bytes) -> str | None:
    """The job ID of a ``moi:cancels`` message, or None for anything else."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message.get("cancel") if isinstance(message, dict) else None
