"""The dispatcher: keeps every engine of the cluster asking moi's queue for work.

Jobs wait in Redis (:mod:`moi.queue`); engines take them one by one with
:func:`moi.runner.serve`, a task the dispatcher keeps on each engine while jobs wait. So
ipyparallel carries one task per engine and second of work, never a job: its controller
may restart without losing any, and jobs are chosen fairly the moment an engine is free.

One dispatcher is at work per deployment: the holder of ``moi:dispatcher``, a lock with a
short TTL whose value is a fencing token (``moi:fence`` counts them). Any process with
``[jobs] dispatch = yes`` (and ``moi dispatch``) stands by and takes the lock over within
a few seconds of its holder's death; the old holder's tasks then stop taking jobs (the
claim script refuses their fence). Only the holder connects to the controller, so a
hundred web processes are not a hundred ZeroMQ clients of it.

The holder also watches the controller (:mod:`moi.controller`), deals with the jobs of
an engine that died under one of its tasks at once (``moi:serving`` says which), and
reports the cluster's state in ``moi:cluster`` for every process to read, and publishes
it on the channel of that name for the pages that show it (:mod:`moi.clusterreport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import time
import uuid
from concurrent.futures import Future
from typing import Any

import redis.asyncio as aioredis

from moi import clusterreport, controller, events, keys, queue, record, runner
from moi.cluster import Cluster, SendError, TaskResult, is_engine_death, task_failure_message
from moi.config import Settings
from moi.retry import TRANSIENT

log = logging.getLogger(__name__)

HOLD_EVERY = 1.0
"""Seconds between the holder's renewals of the lock (and a standby's tries to take it)."""

LOCK_SECONDS = 3
"""Seconds the lock lives unless renewed: a dead holder is replaced within about this."""

CLUSTER_TIMEOUT = 10.0
"""Seconds the controller has to take the tasks or say how many engines it has."""

# KEYS: lock, fence counter. ARGV: this process's fence ("" for none), seconds. Keeps
# the lock for its holder, or takes it when free: again with the same fence if no other
# dispatcher held it since (a lock that lapsed while Redis was away, or was flushed),
# else with a new one. Returns the fence held, or false.
_HOLD_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == '' then
    holder = false  -- let go: free to take
end
if holder and holder ~= ARGV[1] then
    return false
end
local fence = ARGV[1]
local given = tonumber(redis.call('GET', KEYS[2]) or '0')
if not holder and (fence == '' or given > tonumber(fence)) then
    fence = tostring(redis.call('INCR', KEYS[2]))
elseif not holder then
    redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], fence, 'EX', ARGV[2])
return fence
"""

# KEYS: lock. ARGV: fence, seconds. Lets the lock go, if this fence holds it: an empty
# value, which any dispatcher may take at once but no task's fence matches, so the tasks
# of a dispatcher that stepped down stop taking jobs.
_LET_GO_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], '', 'EX', ARGV[2])
    return 1
end
return 0
"""


class Dispatcher:
    """One process's dispatcher: stands by, or dispatches while it holds the lock.

    :meth:`run` it as a task on the process's event loop, :meth:`close` it on shutdown.
    """

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.writer = record.AsyncWriter(redis)
        self.fence: str | None = None
        """This process's fencing token while it holds the lock, else None."""
        self.cluster: Cluster | None = None
        self.engines = 0
        self.controller_lost: str | None = None
        self.task_error: str | None = None
        """Why the last task failed outside the jobs (engines that cannot reach Redis,
        say), or None: reported, and the next tasks wait for the next round."""
        self._hold = redis.register_script(_HOLD_SCRIPT)
        self._let_go = redis.register_script(_LET_GO_SCRIPT)
        self._out: dict[str, Future] = {}  # this dispatcher's tasks on the cluster, by ID
        self._maybe_waiting = True  # jobs may wait that no task was sent for yet
        self._wakes = 0  # wake-ups so far, to tell which came after a task was sent
        self._sent_at: dict[str, int] = {}  # each task's _wakes when it was sent
        self._finished: list[
            str
        ] = []  # ipyparallel IDs of tasks back, for the controller to forget
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._next_hold = 0.0
        self._next_probe = 0.0
        self._reports = clusterreport.Publisher()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = False
        """Set by :meth:`stop`: :meth:`run` returns after its round (a cancel alone can be
        lost in a timeout that expires at the same moment, on Python 3.11)."""

    @property
    def active(self) -> bool:
        return self.fence is not None

    async def run(self) -> None:
        """Take turns for the lock, and dispatch while holding it; until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        reached = True
        try:
            while not self.stopping:
                try:
                    await self._round()
                    if not reached:
                        log.warning("moi's dispatcher reaches Redis again")
                    reached = True
                except TRANSIENT as error:
                    if reached:  # one line per outage, not one per round
                        log.warning("moi's dispatcher cannot reach Redis: %s", error)
                    reached = False
                    self._maybe_waiting = True
                except Exception:
                    log.exception("moi's dispatcher failed a round; it tries again")
                await wait_event(self._wake, max(0.0, self._next_hold - time.monotonic()))
                self._wake.clear()
        finally:
            self._stop_listening()

    async def stop(self, task: asyncio.Task) -> None:
        """Stop ``task``, the one running :meth:`run`, and wait for it (a bounded while)."""
        self.stopping = True
        self._wake.set()
        task.cancel()
        await asyncio.wait([task], timeout=CLUSTER_TIMEOUT)

    def wake(self) -> None:
        """Look for waiting jobs now (the loop's thread only)."""
        self._wakes += 1
        self._maybe_waiting = True
        self._wake.set()

    async def close(self) -> None:
        """Let the lock go, so another process takes over at once, and the cluster."""
        self._stop_listening()
        if self.fence is not None:
            with contextlib.suppress(*TRANSIENT):
                await self._let_go(keys=[keys.DISPATCHER_LOCK], args=[self.fence, LOCK_SECONDS])
            self.fence = None
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
        for task in list(self._background):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(CLUSTER_TIMEOUT):
                    await task

    async def _round(self) -> None:
        now = time.monotonic()
        if now >= self._next_hold:
            self._next_hold = now + HOLD_EVERY
            await self._take_or_keep_lock()
            if self.active:
                await self._watch_cluster()
        if self.active:
            await self._fill()

    async def _take_or_keep_lock(self) -> None:
        fence = await self._hold(
            keys=[keys.DISPATCHER_LOCK, keys.FENCE], args=[self.fence or "", LOCK_SECONDS]
        )
        fence = fence.decode() if isinstance(fence, bytes) else fence
        if fence and fence != self.fence:
            if self.fence is not None:
                log.warning("moi's dispatcher lost its lock for a moment; it dispatches again")
            self.fence = fence
            log.info("moi's dispatcher in %s is at work (fence %s)", self.name, fence)
            self._forget_tasks()  # tasks sent under an old fence stop taking jobs
            self._maybe_waiting = True
            self._start_listening()
        elif not fence and self.fence is not None:
            log.warning("moi's dispatcher in %s lost its lock: another took over", self.name)
            self.fence = None
            self._forget_tasks()
            self._stop_listening()
            if self.cluster is not None:
                await self.cluster.close()
                self.cluster = None

    async def _watch_cluster(self) -> None:
        """Probe the controller, count its engines, and report both in ``moi:cluster``."""
        if self.cluster is None:
            self.cluster = Cluster(self.settings)
        cluster = self.cluster
        if time.monotonic() >= self._next_probe:
            self._next_probe = time.monotonic() + controller.PROBE_INTERVAL
            why = await controller.reachable(self.settings)
            if why is not None and cluster.lost_because is None:
                log.warning("moi lost the ipyparallel controller (%s); jobs wait for it", why)
                await cluster.lost(why)
                self._forget_tasks()  # gone with it; the engines may still finish their jobs
            elif why is None and cluster.lost_because is not None:
                log.warning("moi reaches the ipyparallel controller again")
                cluster.found()
                self._maybe_waiting = True
            self.controller_lost = why
        if cluster.lost_because is None:
            try:
                async with asyncio.timeout(CLUSTER_TIMEOUT):
                    self.engines = await cluster.engines()
            except Exception as error:
                log.warning("moi's dispatcher cannot reach the cluster: %r", error)
                self.engines = 0
        if self._finished and cluster.lost_because is None:
            finished, self._finished = self._finished, []
            try:
                async with asyncio.timeout(CLUSTER_TIMEOUT):
                    await cluster.purge(finished)
            except Exception as error:  # its memory grows a little more: not worth more
                log.warning("moi's dispatcher could not purge the controller's results: %r", error)
        if len(self._out) < self.engines and await self.redis.exists(keys.READY):
            self._maybe_waiting = True  # a wake missed (Redis was away), or a task failed
        engines = self.engines if cluster.lost_because is None else 0
        running, waiting = await clusterreport.counts(self.redis)
        report = {
            "engines": engines,
            "busy": min(running, engines),
            "waiting": waiting,
            "per_minute": await clusterreport.per_minute(self.redis),
            "controller": cluster.lost_because,
            "error": self.task_error,
            "tasks": len(self._out),
            "dispatcher": self.name,
            "fence": self.fence,
        }
        await self._reports.store(self.redis, json.dumps(report), 3 * LOCK_SECONDS)

    async def _fill(self) -> None:
        """Send a task to each engine without one, if jobs may be waiting."""
        cluster = self.cluster
        if cluster is None or cluster.lost_because is not None or self.fence is None:
            return
        wanted = self.engines - len(self._out)
        if wanted <= 0 or not self._maybe_waiting:
            return
        self._maybe_waiting = False
        ids = [uuid.uuid4().hex for _ in range(wanted)]
        settings = self.settings
        calls = [
            (settings.engine_url, self.fence, task, settings.max_running_per_group, settings.lease)
            for task in ids
        ]
        try:
            async with asyncio.timeout(CLUSTER_TIMEOUT):
                futures = await cluster.send(runner.serve, calls)
        except SendError as error:
            futures = error.sent
            log.warning("moi's dispatcher could not send its tasks: %r", error.error)
            self._maybe_waiting = True
        for task, future in zip(ids, futures, strict=False):
            self._out[task] = future
            self._sent_at[task] = self._wakes
            future.add_done_callback(functools.partial(self._task_back, task))

    def _forget_tasks(self) -> None:
        """Count none of the tasks out: they went with the controller, or an old fence."""
        self._out.clear()
        self._sent_at.clear()

    def _task_back(self, task: str, future: TaskResult) -> None:
        """On ipyparallel's I/O thread: hand the task's end over to the loop."""
        loop = self._loop
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to tell
            if loop is not None:
                loop.call_soon_threadsafe(self._returned, task, future)

    def _returned(self, task: str, future: TaskResult) -> None:
        if self._out.get(task) is future:
            del self._out[task]
        sent_at = self._sent_at.pop(task, self._wakes)
        if self.cluster is not None:
            self.cluster.forget(future)
            self._finished.extend(future.msg_ids)
        error = future.exception()
        if error is not None:
            self._spawn(self._engine_lost(task, error))
            return
        answer = future.result()
        self.task_error = None
        outcomes = answer.get("outcomes", ())
        for outcome in outcomes:
            events.ended(outcome, outcome)
        ended = sum(1 for done in outcomes if isinstance(done, dict) and done.get("status"))
        if ended:
            self._spawn(self._count_ended(ended))
        stopped = answer.get("stopped")
        # Jobs may wait: it ran out of time, or it found none before a wake-up that came
        # while it was out (that wake-up sent no task for the engine it held).
        if stopped == "budget" or (stopped == "empty" and self._wakes > sent_at):
            self._maybe_waiting = True
        elif stopped == "fenced":  # the lock is not ours as the task saw it: look again now
            self._next_hold = 0.0
            self._maybe_waiting = True
        self._spawn(self._forget_serving(task))
        self._wake.set()

    async def _engine_lost(self, task: str, error: BaseException) -> None:
        """A task failed outside the jobs' functions (its engine died, mostly): deal with
        the jobs it had taken, as the reaper would a lease later."""
        message = task_failure_message(error)
        died = is_engine_death(error)
        if not died:  # it would fail again at once: the next round sends again
            self.task_error = (message.strip().splitlines() or [repr(error)])[-1]
            log.warning("moi's dispatcher task failed: %s", self.task_error)
        try:
            for job_id, attempt in queue.serving_jobs(await self.redis.hget(keys.SERVING, task)):
                if died:
                    what = await self.writer.lost(job_id, attempt, message)
                elif await self.writer.fail(job_id, message, attempt):
                    what = "failed"
                else:
                    what = None
                if what == "failed":
                    events.failed(job_id, "", message)
                elif what == "retried" and (info := record.decode(await self.redis.get(job_id))):
                    events.retried(info)
            await self._forget_serving(task)
        finally:
            if died:
                self.wake()

    async def _count_ended(self, ended: int) -> None:
        with contextlib.suppress(*TRANSIENT):  # a minute's count is not worth a retry
            await clusterreport.count_ended(self.redis, ended)

    async def _forget_serving(self, task: str) -> None:
        with contextlib.suppress(*TRANSIENT):
            await self.redis.hdel(keys.SERVING, task)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- hearing of new jobs --------------------------------------------------------------

    def _start_listening(self) -> None:
        if self._listening is None:
            self._listening = asyncio.ensure_future(self._listen())

    def _stop_listening(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            self._background.add(self._listening)  # awaited by close(), so its pubsub closes
            self._listening.add_done_callback(self._background.discard)
            self._listening = None

    async def _listen(self) -> None:
        """Wake on ``moi:wake`` (jobs start to wait), while this process dispatches."""
        wait = 0.5
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.WAKE)
                    self.wake()  # a submit before the subscription is not missed
                    wait = 0.5
                    async for _ in pubsub.listen():
                        self.wake()
            except TRANSIENT:
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` seconds pass.

    Not ``asyncio.timeout`` around ``event.wait()``: on Python 3.11 a cancel that comes as
    the timeout expires is taken for the timeout's own, and lost, so a task that loops on
    it may never stop.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=timeout)
    finally:
        waiter.cancel()


async def cluster_report(redis: aioredis.Redis) -> dict[str, Any] | None:
    """The dispatcher's last report on the cluster, or None if no dispatcher is at work."""
    return record.decode(await redis.get(keys.CLUSTER))
