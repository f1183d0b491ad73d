"""Stopping a running job on its engine: a cancel, a time limit, and the grace after them.

Whoever cancels a job stores ``Cancelled`` and announces ``{"cancel": job ID}`` on
``moi:cancels`` in one transaction (:func:`moi.record.queue_end`); it needs Redis only,
not the cluster.
Each engine process listens there on a daemon thread of its own, and when the ID is
that of the job it runs, it interrupts the function: ``SIGINT`` to the thread that runs
it, which ipykernel turns into ``KeyboardInterrupt`` while it executes a task (its
``pre_handler_hook`` installs ``signal.default_int_handler``). A time limit is a timer
that does the same. The signal reaches a function blocked in ``time.sleep`` or a socket
read too, which ``_thread.interrupt_main`` would not.

A function that ignores the interrupt has ``cancel_grace`` seconds; then the engine
process ends itself with ``SIGKILL``, so one stuck job cannot hold a core forever. Its
nanny tells the controller, which fails the task; the job's end is already stored. An
engine run under a supervisor (``ipcluster``, systemd, or moi's own local cluster) is
then started again.

Nothing is read in a loop: the thread waits on the subscription, and timers wait on
their own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from moi import keys, record
from moi.status import Status

log = logging.getLogger(__name__)

RECONNECT_WAIT = (0.5, 5.0)
"""Seconds between tries to listen again after Redis went away: first, most."""


def time_limit_message(seconds: float) -> str:
    return f"time limit of {seconds:g} s exceeded"


@dataclass
class Watch:
    """The job this engine process runs, and whether (and why) it was stopped."""

    job_id: str
    thread_id: int
    grace: float
    """Seconds the function has to stop once interrupted."""
    end_late: Callable[[Status], None]
    """Stores the job's end when the function would not stop (its engine is then ended)."""
    stopped: Status | None = None
    """Set before the function is interrupted: ``Cancelled``, or ``Failed`` (time limit)."""
    timers: list[threading.Timer] = field(default_factory=list)


class Stopper:
    """Interrupts the job this engine process runs when it is cancelled or out of time."""

    def __init__(self, kill: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._watch: Watch | None = None
        self._listeners: dict[int, threading.Thread] = {}  # by id of the Redis client
        self._kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))

    def watch(
        self,
        client: redis.Redis,
        job_id: str,
        time_limit: float | None,
        grace: float,
        end_late: Callable[[Status], None],
    ) -> Watch:
        """Start watching the job that is about to run on this thread; pair with :meth:`done`."""
        self._listen(client)
        watch = Watch(job_id, threading.get_ident(), grace, end_late)
        if time_limit:
            timer = threading.Timer(time_limit, self._stop, (watch, Status.FAILED))
            timer.daemon = True
            watch.timers.append(timer)
        with self._lock:
            self._watch = watch
        for timer in watch.timers:
            timer.start()
        return watch

    def done(self, watch: Watch) -> None:
        """The function has returned or raised: nothing interrupts this thread for it now.

        An interrupt sent just before lands in here at the latest (the lock is what it
        waits on), so the caller's ``try`` around the job still catches it.
        """
        with self._lock:
            if self._watch is watch:
                self._watch = None
        for timer in watch.timers:
            timer.cancel()

    def _stop(self, watch: Watch, why: Status) -> None:
        """Interrupt the function of ``watch``, if it still runs; then it has its grace."""
        with self._lock:
            if self._watch is not watch or watch.stopped is not None:
                return
            watch.stopped = why
            log.info("moi interrupts job %s (%s)", watch.job_id, why.value)
            signal.pthread_kill(watch.thread_id, signal.SIGINT)
            timer = threading.Timer(watch.grace, self._give_up, (watch,))
            timer.daemon = True
            watch.timers.append(timer)
        timer.start()

    def _give_up(self, watch: Watch) -> None:
        with self._lock:
            if self._watch is not watch:
                return
        log.warning("moi ends this engine: job %s did not stop when interrupted", watch.job_id)
        try:
            watch.end_late(watch.stopped)
        except Exception:  # the engine ends all the same; the reaper ends the job then
            log.exception("moi could not store the end of job %s", watch.job_id)
        self._kill()

    # -- hearing cancels ----------------------------------------------------------------

    def _listen(self, client: redis.Redis) -> None:
        if id(client) in self._listeners:
            return
        with self._lock:
            if id(client) not in self._listeners:
                thread = threading.Thread(
                    target=self._hear, args=(client,), name="moi-cancels", daemon=True
                )
                self._listeners[id(client)] = thread
                thread.start()

    def _hear(self, client: redis.Redis) -> None:
        wait = RECONNECT_WAIT[0]
        while True:
            try:
                with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(keys.CANCELS)
                    pubsub.get_message(timeout=5)  # the confirmation: from now on, heard
                    self._check_current(client)  # a cancel sent before that is in Redis
                    wait = RECONNECT_WAIT[0]
                    for message in pubsub.listen():
                        if message["type"] == "message":
                            self._cancelled(cancelled_job(message["data"]))
            except Exception as error:  # Redis went away: listen again, then check again
                log.warning("moi engine cannot hear cancels (%s); trying again", error)
                time.sleep(wait)
                wait = min(wait * 2, RECONNECT_WAIT[1])

    def _cancelled(self, job_id: str | None) -> None:
        watch = self._watch
        if watch is not None and watch.job_id == job_id:
            self._stop(watch, Status.CANCELLED)

    def _check_current(self, client: redis.Redis) -> None:
        watch = self._watch
        if watch is None:
            return
        info = record.decode(client.get(keys.job_key(watch.job_id)))
        if info is not None and info.get("status") == Status.CANCELLED.value:
            self._cancelled(watch.job_id)


def cancelled_job(data: str | bytes) -> str | None:
    """The job ID of a ``moi:cancels`` message, or None for anything else."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message.get("cancel") if isinstance(message, dict) else None
