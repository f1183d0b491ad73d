"""The moi client: the one object through which an application submits and reads jobs.

An application makes one :class:`Client` from its settings, starts it on its event loop,
and closes it on shutdown; every method that talks to Redis or to the cluster is a
coroutine, so a Tornado handler awaits it and the loop keeps serving everyone else.
Scripts, command lines and tests use :class:`moi.sync.SyncClient`, the same calls
without ``await``.

``submit`` stores the job as ``Queued`` and announces it in one atomic step, then hands
the call to the cluster (:mod:`moi.dispatch`). The engine reports every later change
itself (:mod:`moi.runner`); this client only steps in when the engine cannot: it watches
the task's future and ends the job ``Failed`` if the engine died or the task failed
outside the job's function.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from moi import connections, controller, events, groupset, keys, record, runner
from moi.config import Settings
from moi.dispatch import Dispatcher, SendError, TaskResult, is_engine_death, task_failure_message
from moi.exceptions import JobNotFound
from moi.messages import normalise_ids
from moi.reaper import Reaper
from moi.retry import durably_async
from moi.status import is_final
from moi.subscription import subscribe_confirmed

log = logging.getLogger(__name__)

NO_USER_GROUP = "no-user"
SENT_BATCH_DELAY = 0.05
"""Seconds the record of sent tasks waits for more, so that one write carries many."""

Prepared = tuple[dict[str, Any], bytes]


def check_text(what: str, value: object) -> None:
    """Refuse a value that is not a non-blank str, naming the argument."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")


@dataclass(frozen=True)
class JobOptions:
    """How moi runs a job, apart from its call; see :meth:`Client.with_options`."""

    time_limit: float | None = None
    """Seconds the job may run (from its start) before moi stops it and ends it ``Failed``;
    None takes ``[jobs] time_limit``, 0 means no limit."""
    retries: int = 0
    """How often the job is sent again if its engine dies under it; never if its own
    function raised."""

    def __post_init__(self) -> None:
        limit = self.time_limit
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 <= limit < 1e9
        ):
            raise ValueError(f"time_limit must be a number of seconds, 0 or more, not {limit!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise TypeError(f"retries must be an int, not {type(self.retries).__name__}")
        if not 0 <= self.retries <= 100:
            raise ValueError(f"retries must be from 0 to 100, not {self.retries}")


def check_target(group: object, handler: object) -> None:
    """Refuse a bad group or handler (None is a handler: no result page)."""
    check_text("group", group)
    if handler is not None:
        check_text("handler", handler)


class Client:
    """Jobs in Redis and on the cluster, for code on an event loop.

    Nothing connects until :meth:`start` or the first call. Use it from one event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = connections.pooled(settings.redis_url, decode_responses=True)
        self.writer = record.AsyncWriter(self.redis)
        self.dispatcher = Dispatcher(settings)
        self._state = threading.Lock()
        """Guards what the caller's thread, ipyparallel's I/O thread and the loop share:
        ``outstanding``, ``_resend`` and ``_unrecorded``."""
        self.outstanding: set[str] = set()
        """IDs of the jobs this client sent to the cluster that have not come back yet."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._drained = asyncio.Event()
        """Set (on the loop only) when ``outstanding`` was seen empty; :meth:`drain` clears it."""
        self.reaper: Reaper | None = None
        self._reaping: asyncio.Task | None = None
        self._watching: asyncio.Task | None = None
        self._unrecorded: dict[str, str] = {}  # sent jobs' tasks, not yet in moi:queued
        self._resend: dict[str, bytes] = {}  # outstanding jobs with retries: their call

    async def start(self, *, reap: bool | None = None) -> None:
        """Check that Redis answers and connect to the cluster, so a wrong config fails now.

        :param reap: whether this process takes its turn running the reaper
            (:mod:`moi.reaper`); by default as ``[jobs] reap`` says. A server should; a
            short script need not.
        """
        self._loop = asyncio.get_running_loop()
        await self.redis.ping()
        await self.dispatcher.connect()
        if (self.settings.reap if reap is None else reap) and self._reaping is None:
            self.reaper = Reaper(self.redis, self.settings)
            self._reaping = asyncio.ensure_future(self.reaper.run())
        if self._watching is None:
            self._watching = asyncio.ensure_future(self._watch_controller())

    async def _watch_controller(self) -> None:
        """Notice a lost controller within seconds, and its return (:mod:`moi.controller`)."""
        dispatcher = self.dispatcher
        while True:
            await asyncio.sleep(controller.PROBE_INTERVAL)
            try:
                why = await controller.reachable(self.settings)
            except Exception as error:  # a connection file of another shape: say so, go on
                log.warning("moi cannot probe the ipyparallel controller: %r", error)
                continue
            if why is not None and dispatcher.lost_because is None:
                log.warning(
                    "moi lost the ipyparallel controller (%s); submissions fail until it is back",
                    why,
                )
                await dispatcher.lost(why)
                # Their tasks went with the connection: the reaper ends those the cluster lost.
                with self._state:
                    self.outstanding.clear()
                    self._resend.clear()
                self._drained.set()
            elif why is None and dispatcher.lost_because is not None:
                log.warning("moi reaches the ipyparallel controller again")
                dispatcher.found()

    async def engines(self) -> int:
        """How many engines are registered with the controller; 0 means jobs wait, queued.

        :raises ClusterError: while the controller counts as lost.
        """
        return await self.dispatcher.engines()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every job this client sent has come back from the cluster.

        :raises TimeoutError: if some have not after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self._busy():
                self._drained.clear()
                if self._busy():  # the I/O thread sets it once it sees none outstanding
                    await self._drained.wait()
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Finish the failure writes in hand, then close the cluster and Redis connections."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
            self._watching = None
        if self._reaping is not None:
            self._reaping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaping
            self._reaping = None
            if self.reaper is not None:
                await self.reaper.close()
        await self.flush()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()
        await self.redis.aclose()

    # -- submitting ------------------------------------------------------------------------

    def with_options(self, *, time_limit: float | None = None, retries: int = 0) -> Submitter:
        """This client's ``submit`` and ``submit_many``, with options for the jobs they make::

            await client.with_options(time_limit=60, retries=1).submit(group, name, ...)

        The options are not keywords of ``submit``, which passes every keyword on to the
        job's function: a function may well have its own ``time_limit``.

        :raises TypeError, ValueError: for a bad option, at once (see :class:`JobOptions`).
        """
        return Submitter(self, JobOptions(time_limit, retries))

    async def submit(
        self, group: str, name: str, handler: str | None, func, /, *args, **kwargs
    ) -> str:
        """Run ``func(*args, status_update=..., **kwargs)`` on the cluster as a job of ``group``.

        The first four parameters are positional-only, so the function's own keywords may
        use any name (even ``name`` or ``group``).

        :param handler: URL of the page that shows the result (the job's page is
            ``<handler>/<id>``), or None.
        :returns: the new job's ID.
        :raises TypeError, ValueError: for bad arguments, before anything is stored.
        """
        return await self.with_options().submit(group, name, handler, func, *args, **kwargs)

    async def submit_many(
        self, group: str, handler: str | None, calls: Iterable[tuple], /
    ) -> list[str]:
        """Submit several jobs of ``group`` at once: one Redis script call and one ``add``.

        Each call is ``(name, func, *args)``, as :meth:`submit` takes them (wrap ``func`` in
        :func:`functools.partial` for keyword arguments).

        :returns: the new jobs' IDs, in the order of ``calls``.
        :raises TypeError, ValueError: for any bad call, before anything is stored.
        """
        return await self.with_options().submit_many(group, handler, calls)

    def _prepare_calls(
        self,
        group: str,
        handler: str | None,
        calls: Iterable[tuple],
        options: JobOptions | None = None,
    ) -> list[Prepared]:
        """Each call of :meth:`submit_many` prepared; raises for any bad one."""
        check_target(group, handler)
        prepared = []
        for number, call in enumerate(calls):
            if not isinstance(call, tuple) or len(call) < 2:
                raise TypeError(f"call {number} must be a tuple (name, func, *args), not {call!r}")
            name, func, *args = call
            prepared.append(self._prepare(group, handler, name, func, tuple(args), {}, options))
        return prepared

    def _prepare(self, group, handler, name, func, args, kwargs, options=None) -> Prepared:
        """The info object of a new job and its packed call; raises for anything bad."""
        check_text("name", name)
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        if "status_update" in kwargs:
            raise TypeError("status_update is moi's keyword: the job's function receives it")
        options = options or JobOptions()
        limit = self.settings.time_limit if options.time_limit is None else options.time_limit
        info = record.new_info(
            group, name, handler, time_limit=limit or None, retries=options.retries
        )
        # Raises for an argument that cannot be pickled, before anything is stored.
        packed = runner.pack(self.settings, info, (func, args, kwargs))
        return info, packed

    async def _submit(self, prepared: list[Prepared]) -> list[str]:
        """Store the jobs as Queued and announce them (one atomic step), then send them."""
        self._loop = asyncio.get_running_loop()
        await self.dispatcher.connect()  # before storing jobs a missing cluster never gets
        await self.writer.create(
            [info for info, _ in prepared], self.settings.key_ttl, calls_to_keep(prepared)
        )
        try:
            futures = await self.dispatcher.send([packed for _, packed in prepared])
        except SendError as error:
            message = f"The job could not be sent to the cluster: {error.error!r}"
            self._watch(prepared[: len(error.sent)], error.sent)
            for info, _ in prepared[len(error.sent) :]:
                await self._fail_durably(info["id"], message)
            raise error.error from None
        self._watch(prepared, futures)
        events.submitted(prepared)
        return [info["id"] for info, _ in prepared]

    def note_sent(self, tasks: dict[str, str]) -> None:
        """Record which task carries each job, so the reaper can ask the cluster about it.

        Any thread. Written in the background, and coalesced: the write waits
        :data:`SENT_BATCH_DELAY` for more, so under load one round trip (and one wake of
        the loop) carries the tasks of many submits. The reaper asks about a task only
        once a lease length has passed, so the wait costs it nothing.
        """
        with self._state:
            was_empty = not self._unrecorded
            self._unrecorded.update(tasks)
        if was_empty and tasks and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to record
                self._loop.call_soon_threadsafe(self._spawn, self._record_sent_soon())

    async def flush(self) -> None:
        """Store now what this client writes in the background (which task carries each
        sent job); a test or a script about to hand over to the reaper may want it done."""
        await self._record_sent()

    async def _record_sent_soon(self) -> None:
        await asyncio.sleep(SENT_BATCH_DELAY)
        await self._record_sent()

    async def _record_sent(self) -> None:
        with self._state:
            tasks, self._unrecorded = self._unrecorded, {}
        if tasks:
            await durably_async(
                lambda: self.writer.sent(tasks), self.settings.write_retry, "the jobs' tasks"
            )

    def _watch(self, prepared: list[Prepared], futures: list[TaskResult]) -> None:
        """Follow the sent tasks, to end a job ``Failed`` if its task fails, and record
        which task carries each job (:meth:`note_sent`); any thread."""
        with self._state:
            for (info, packed), _ in zip(prepared, futures, strict=True):
                self.outstanding.add(info["id"])
                if info.get("retries"):
                    self._resend[info["id"]] = packed
        for (info, _), future in zip(prepared, futures, strict=True):
            future.add_done_callback(functools.partial(self._task_done, info))
        self.note_sent(sent_tasks(prepared, futures))

    def _busy(self) -> bool:
        with self._state:
            return bool(self.outstanding)

    def _task_done(self, info: dict[str, Any], future: Future) -> None:
        """On ipyparallel's I/O thread. A task that came back well needs no event loop
        (waking it for each would cost every job a GIL hand-over): only a failure, or the
        last outstanding task, is passed over to the loop."""
        job_id = info["id"]
        error = future.exception()
        self.dispatcher.forget(future)
        with self._state:
            self.outstanding.discard(job_id)
            packed = self._resend.pop(job_id, None)
            drained = not self.outstanding
        if error is None:
            events.ended(info, future.result())
            if not drained:
                return
        loop = self._loop
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to tell
            if loop is not None:
                loop.call_soon_threadsafe(self._ended, info, error, packed, drained)

    def _ended(
        self,
        info: dict[str, Any],
        error: BaseException | None,
        packed: bytes | None,
        drained: bool,
    ) -> None:
        if error is not None:
            message = task_failure_message(error)
            if packed is not None and is_engine_death(error):
                self._spawn(self._retry(info, packed, message))
            else:
                # Only this attempt: if the reaper sent the job again, the next one goes on.
                attempt = info.get("attempt", 1)
                self._spawn(self._fail_durably(info["id"], message, info["group"], attempt))
        if drained:
            self._drained.set()

    async def _retry(self, info: dict[str, Any], packed: bytes, message: str) -> None:
        """Send a job whose engine died once more, if it has a retry left; else end it.

        Only if the job is still on the attempt that died: the reaper may have given that
        engine up first and sent the job again itself.
        """
        job_id, attempt = info["id"], info.get("attempt", 1)
        again = await durably_async(
            lambda: self.writer.retry(job_id, attempt),
            self.settings.write_retry,
            f"the retry of {job_id}",
        )
        if again is None:
            await self._fail_durably(job_id, message, info["group"], attempt)
            return
        events.retried(again)
        prepared = [(again, runner.repack(packed, again))]
        try:
            futures = await self.dispatcher.send([prepared[0][1]])
        except SendError as error:
            await self._fail_durably(
                job_id, f"{message} It could not be sent again: {error}", info["group"]
            )
            return
        self._watch(prepared, futures)

    async def _fail_durably(
        self, job_id: str, message: str, group: str = "", attempt: int | None = None
    ) -> bool:
        """End the job ``Failed`` (only while on ``attempt``, if given), retrying while
        Redis is away (``write_retry`` s)."""
        failed = await durably_async(
            lambda: self.writer.fail(job_id, message, attempt),
            self.settings.write_retry,
            f"the failure of job {job_id}",
        )
        if failed:
            events.failed(job_id, group, message)
        return failed

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    # -- reading -------------------------------------------------------------------------

    async def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's info object, or None if no such job is stored."""
        check_text("job_id", job_id)
        if not keys.is_job_id(job_id):
            return None
        return record.decode(await self.redis.get(keys.job_key(job_id)))

    async def get_many(self, job_ids: list[str]) -> list[dict[str, Any] | None]:
        """The info objects of ``job_ids``, in their order (None for one not stored): one
        MGET, whatever their number."""
        if not job_ids:
            return []
        ids = [job_id if keys.is_job_id(job_id) else None for job_id in job_ids]
        raws = await self.redis.mget([keys.job_key(i) for i in ids if i is not None])
        found = iter(raws)
        return [record.decode(next(found)) if i is not None else None for i in ids]

    async def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the job has ended; return its final info object.

        Listens on the job's channel (subscribing before it reads the record, so no change
        slips between the two), and reads the record again on each notice.

        :raises JobNotFound: if no such job is stored.
        :raises TimeoutError: if it has not ended after ``timeout`` seconds.
        """
        check_text("job_id", job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        async with self.redis.pubsub() as pubsub:
            await subscribe_confirmed(pubsub, keys.job_channel(job_id))
            while True:
                info = await self.get(job_id)
                if info is None:
                    raise JobNotFound(job_id)
                if is_final(info.get("status")):
                    return info
                message = None
                while message is None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"job {job_id} has not ended after {timeout} s")
                    message = await pubsub.get_message(
                        timeout=remaining, ignore_subscribe_messages=True
                    )

    async def jobs(self, group: str) -> list[dict[str, Any]]:
        """The info objects of the group's jobs, oldest first.

        One SMEMBERS and one MGET whatever the number of jobs. IDs whose record expired
        are left out, and taken out of the set.
        """
        ids = sorted(await self.redis.smembers(keys.group_jobs_key(group)))
        found = await self.get_many(ids)
        infos = [info for info in found if info is not None]
        expired = [job_id for job_id, info in zip(ids, found, strict=True) if info is None]
        if expired:
            async with self.redis.pipeline(transaction=True) as pipe:
                groupset.remove(pipe, group, expired, announce=False)
                await pipe.execute()
        infos.sort(key=lambda info: info.get("date_created") or "")
        return infos

    # -- changing ------------------------------------------------------------------------

    async def add(self, group: str, ids: str | Iterable[str]) -> None:
        """Put existing jobs into the group as well, and announce it.

        The set is changed here, in the same transaction as the notice, so it holds whether
        or not a moi server is listening to the group at that moment.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            groupset.add(pipe, group, normalise_ids(ids), self.settings.key_ttl)
            await pipe.execute()

    async def remove(self, group: str, ids: str | Iterable[str]) -> None:
        """Take jobs out of the group and announce it; their records stay until they expire."""
        async with self.redis.pipeline(transaction=True) as pipe:
            groupset.remove(pipe, group, normalise_ids(ids))
            await pipe.execute()

    async def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """Stop a job and end it ``Cancelled``, unless it has ended already.

        A queued job never runs: its task is aborted, and an engine that gets it all the
        same does not call the function. A running job's function is interrupted on its
        engine (:mod:`moi.stopper`); one that will not stop has ``[jobs] cancel_grace``
        seconds before its engine process is ended. ``Cancelled`` is stored first, in
        one transaction with the final-status rule, so the job can end no other way.

        :param by: who asked, for the job's ``result`` ("Cancelled by alice at ...").
        :returns: True if this call cancelled it, False if it had ended already.
        :raises JobNotFound: if no such job is stored.
        """
        check_text("job_id", job_id)
        if not keys.is_job_id(job_id):
            raise JobNotFound(job_id)
        task = await self.redis.hget(keys.QUEUED, job_id)
        if not await self.writer.cancel(job_id, by):
            if not await self.redis.exists(keys.job_key(job_id)):
                raise JobNotFound(job_id)
            return False
        events.cancelled(job_id, by)
        if task:
            self._spawn(self.dispatcher.abort([task]))
        return True

    async def fail(self, job_id: str, reason: str) -> bool:
        """End a job ``Failed`` with ``reason`` as its result, unless it has ended already.

        For jobs no engine will ever finish, e.g. those of a cluster that was stopped.

        :returns: whether the job was changed (False for an unknown or ended job).
        """
        check_text("job_id", job_id)
        if not keys.is_job_id(job_id):
            return False
        return await self.writer.fail(job_id, reason)


class Submitter:
    """A client's ``submit`` and ``submit_many`` with options (:meth:`Client.with_options`)."""

    def __init__(self, client: Client, options: JobOptions) -> None:
        self.client = client
        self.options = options

    async def submit(
        self, group: str, name: str, handler: str | None, func, /, *args, **kwargs
    ) -> str:
        """See :meth:`Client.submit`."""
        check_target(group, handler)
        prepared = self.client._prepare(group, handler, name, func, args, kwargs, self.options)
        [job_id] = await self.client._submit([prepared])
        return job_id

    async def submit_many(
        self, group: str, handler: str | None, calls: Iterable[tuple], /
    ) -> list[str]:
        """See :meth:`Client.submit_many`."""
        prepared = self.client._prepare_calls(group, handler, calls, self.options)
        return await self.client._submit(prepared) if prepared else []


def calls_to_keep(prepared: list[Prepared]) -> dict[str, bytes]:
    """The packed call of each job that may be sent again, by job ID, for ``moi:calls``."""
    return {info["id"]: packed for info, packed in prepared if info.get("retries")}


def sent_tasks(prepared: list[Prepared], futures: list[TaskResult]) -> dict[str, str]:
    """Each sent job's ID, to the ID of the ipyparallel task that carries it."""
    return {
        info["id"]: future.msg_ids[0]
        for (info, _), future in zip(prepared[: len(futures)], futures, strict=True)
    }


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("moi could not store a job's failure", exc_info=task.exception())
