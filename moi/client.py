"""The moi client: the one object through which an application submits and reads jobs.

An application makes one :class:`Client` from its settings, starts it on its event loop,
and closes it on shutdown; every method that talks to Redis or to the cluster is a
coroutine, so a Tornado handler awaits it and the loop keeps serving everyone else.
Scripts, command lines and tests use :class:`moi.sync.SyncClient`, the same calls
without ``await``.

``submit`` stores the job as ``Queued`` with its call, puts it in its group's queue and
announces it, in one atomic step; it needs Redis only. An engine takes it from the
queue when the group's turn comes (:mod:`moi.queue`), and reports every later change
itself (:mod:`moi.runner`). A server's client also takes its turn as the dispatcher
(:mod:`moi.dispatch`) and the reaper (:mod:`moi.reaper`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from moi import connections, controller, events, groupset, keys, queue, record, runner
from moi.config import Settings
from moi.dispatch import Dispatcher, cluster_report
from moi.exceptions import ClusterError, JobNotFound, QueueFull
from moi.messages import normalise_ids
from moi.output import AsyncOutput
from moi.reaper import Reaper
from moi.status import is_final
from moi.subscription import subscribe_confirmed

log = logging.getLogger(__name__)

NO_USER_GROUP = "no-user"
CREATE_BATCH = 1000
"""Jobs stored per script call by ``map``: Redis serves others between two."""

CLOSE_TIMEOUT = 10.0
"""Seconds each step of closing a client may take."""

DRAIN_CHECK = 1.0
"""Seconds ``drain`` waits for a notice before it reads every job it waits for again (a
notice can pass between its read and its subscription)."""

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
    """Jobs in Redis, for code on an event loop.

    Nothing connects until :meth:`start` or the first call. Use it from one event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = connections.pooled(settings.redis_url, decode_responses=True)
        self.writer = record.AsyncWriter(self.redis)
        self.output = AsyncOutput(self.redis)
        """Reads jobs' printed output (:mod:`moi.output`)."""
        self._state = threading.Lock()
        """Guards ``outstanding``, which a sync client's callers fill from their threads."""
        self.outstanding: set[str] = set()
        """IDs of the jobs this client submitted that it has not seen end yet."""
        self.reaper: Reaper | None = None
        self._reaping: asyncio.Task | None = None
        self.dispatcher: Dispatcher | None = None
        self._dispatching: asyncio.Task | None = None

    async def start(self, *, reap: bool | None = None, dispatch: bool | None = None) -> None:
        """Check that Redis answers, and take this process's turns at the background work.

        :param reap: whether this process takes its turn running the reaper
            (:mod:`moi.reaper`); by default as ``[jobs] reap`` says.
        :param dispatch: whether it takes its turn as the dispatcher (:mod:`moi.dispatch`);
            by default as ``[jobs] dispatch`` says. A server should do both; jobs wait in
            Redis until some process dispatches.
        :raises ClusterError: to dispatch, with ``[ipyparallel] connection_file`` naming a
            file that does not exist (a controller that does not answer is an outage:
            jobs wait for it).
        """
        await self.redis.ping()
        dispatching = self.settings.dispatch if dispatch is None else dispatch
        named = self.settings.ipp_connection_file
        if dispatching and named and not await asyncio.to_thread(os.path.exists, named):
            # A wrong config, not an outage (a controller that does not answer): say so.
            raise ClusterError(
                f"cannot connect to the ipyparallel controller ({named}): "
                "the connection file does not exist"
            )
        if (self.settings.reap if reap is None else reap) and self._reaping is None:
            self.reaper = Reaper(self.redis, self.settings)
            self._reaping = asyncio.ensure_future(self.reaper.run())
        if dispatching and self.dispatcher is None:
            self.dispatcher = Dispatcher(self.redis, self.settings)
            self._dispatching = asyncio.ensure_future(self.dispatcher.run())
            why = await controller.reachable(self.settings)
            if why is not None:
                log.warning("moi cannot reach the ipyparallel controller (%s); jobs wait", why)

    async def cluster(self) -> dict[str, Any] | None:
        """What the dispatcher last said of the cluster: ``engines`` registered, why the
        ``controller`` is lost (or None), and more; None while no process dispatches."""
        return await cluster_report(self.redis)

    async def engines(self) -> int:
        """How many engines the cluster has, as its dispatcher reported; 0 means jobs wait."""
        report = await self.cluster()
        return int(report.get("engines") or 0) if report else 0

    async def waiting(self, group: str | None = None) -> int:
        """How many jobs wait in ``group``'s queue, or in all of them."""
        return await queue.waiting(self.redis, group)

    async def ahead(self, job_id: str) -> int | None:
        """How many jobs of its group wait ahead of this one; None if it is not waiting."""
        info = await self.get(job_id)
        if info is None:
            raise JobNotFound(job_id)
        return await queue.ahead(self.redis, str(info.get("group")), job_id)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every job this client submitted has ended.

        Reads them all, then waits on the channel of the newest one still unfinished (jobs
        of a group run in the order they were submitted, so by its end most others have
        ended too) and reads the rest again: a few reads for a map of thousands, not a
        notice per job.

        :raises TimeoutError: if some have not after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while newest := await self._newest_unfinished():
                async with self.redis.pubsub() as pubsub:  # one channel a round, a few rounds
                    await subscribe_confirmed(pubsub, keys.job_channel(newest))
                    if await self._newest_unfinished([newest]):  # still running: wait for it
                        # A record that vanished (expired, flushed) sends no notice: read again.
                        await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=DRAIN_CHECK
                        )

    async def _newest_unfinished(self, job_ids: list[str] | None = None) -> str | None:
        """Forget the ended among ``job_ids`` (default: all outstanding); the newest of
        the others, or None."""
        if job_ids is None:
            with self._state:
                job_ids = list(self.outstanding)
        newest: tuple[str, str] | None = None
        for start in range(0, len(job_ids), CREATE_BATCH):
            some = job_ids[start : start + CREATE_BATCH]
            ended = set()
            for job_id, info in zip(some, await self.get_many(some), strict=True):
                if info is None or is_final(info.get("status")):
                    ended.add(job_id)
                elif newest is None or (str(info.get("date_created")), job_id) > newest:
                    newest = (str(info.get("date_created")), job_id)
            with self._state:
                self.outstanding -= ended
        return None if newest is None else newest[1]

    async def stop_dispatching(self) -> None:
        """Stop taking turns as the dispatcher; a lock held is let go, so another process
        takes over at once. :meth:`start` takes turns again."""
        if self._dispatching is not None and self.dispatcher is not None:
            await self.dispatcher.stop(self._dispatching)
            self._dispatching = None
        if self.dispatcher is not None:
            await self.dispatcher.close()
            self.dispatcher = None

    async def aclose(self) -> None:
        """Hand the background work over to another process, and close the connections.

        Each step is bounded (:data:`CLOSE_TIMEOUT`): a connection stuck in a read must not
        keep a process from ending.
        """
        await self.stop_dispatching()
        if self._reaping is not None:
            self._reaping.cancel()
            await asyncio.wait([self._reaping], timeout=CLOSE_TIMEOUT)
            self._reaping = None
            if self.reaper is not None:
                await self.reaper.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.redis.aclose()
        except TimeoutError:
            log.warning("moi's Redis connections did not close within %s s", CLOSE_TIMEOUT)

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

    async def map(
        self, group: str, name: str, handler: str | None, func, items: Iterable, /
    ) -> list[str]:
        """One job of ``group`` per item: ``func(item, status_update=...)``, named
        ``name 1 of N`` and so on; each a full moi job (record, status, result, cancel).

        Stored in a few script calls; engines take short jobs of one group several at a
        time while no other group waits, so a map of many small jobs runs at the speed of
        Redis rather than one cluster task per job.

        :returns: the new jobs' IDs, in the order of ``items``.
        :raises QueueFull: if they would pass ``[jobs] max_queued_per_group``; nothing
            is stored then.
        """
        return await self.with_options().map(group, name, handler, func, items)

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
        """Store the jobs as Queued in their group's queue and announce them: one atomic
        step per :data:`CREATE_BATCH` jobs."""
        group, limit = prepared[0][0]["group"], self.settings.max_queued_per_group
        if needs_room_check(limit, prepared):
            check_room(await queue.waiting(self.redis, group), prepared, limit)
        for infos, calls in creates(prepared):
            await self.writer.create(infos, self.settings.key_ttl, calls, limit)
            with self._state:
                self.outstanding.update(calls)
        events.submitted(prepared)
        return [info["id"] for info, _ in prepared]

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

        A waiting job leaves its group's queue at once and never runs (an engine that
        took it a moment before finds it ended, and does not call the function). A
        running job's function is interrupted on its
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
        if not await self.writer.cancel(job_id, by):
            if not await self.redis.exists(keys.job_key(job_id)):
                raise JobNotFound(job_id)
            return False
        events.cancelled([job_id], by)
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

    async def map(
        self, group: str, name: str, handler: str | None, func, items: Iterable, /
    ) -> list[str]:
        """See :meth:`Client.map`."""
        return await self.submit_many(group, handler, map_calls(name, func, items))


def creates(prepared: list[Prepared]) -> list[tuple[list[dict[str, Any]], dict[str, bytes]]]:
    """The jobs as the create script takes them: infos and calls, :data:`CREATE_BATCH` at
    a time."""
    return [
        ([info for info, _ in batch], {info["id"]: packed for info, packed in batch})
        for batch in (
            prepared[start : start + CREATE_BATCH]
            for start in range(0, len(prepared), CREATE_BATCH)
        )
    ]


def needs_room_check(limit: int, prepared: list[Prepared]) -> bool:
    """Whether the queued limit must be checked before the first create: a submit of more
    than one script call is refused at once, not part-way through (each call checks it
    for its own jobs)."""
    return bool(limit) and len(prepared) > CREATE_BATCH


def check_room(waiting: int, prepared: list[Prepared], limit: int) -> None:
    if waiting + len(prepared) > limit:
        raise QueueFull(prepared[0][0]["group"], limit)


def map_calls(name: str, func, items: Iterable) -> list[tuple]:
    """The calls of ``map``: one job per item, named by its place, e.g. ``square 3 of 10``."""
    check_text("name", name)
    items = list(items)
    return [
        (f"{name} {number} of {len(items)}", func, item) for number, item in enumerate(items, 1)
    ]
