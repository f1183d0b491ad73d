"""Talking to the ipyparallel cluster without blocking an event loop.

ipyparallel's ``Client`` is not thread-safe and its calls are synchronous (ZeroMQ sends,
and a connection handshake that can take seconds), so every call on it runs on one
thread that the :class:`Cluster` owns: an event loop only awaits the hand-over
(about 0.1 ms, measured with a no-op on the 2-core development machine). The tasks' futures are
``concurrent.futures.Future`` objects, completed on ipyparallel's own I/O thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeAlias, TypeVar

import ipyparallel as ipp

from moi.config import Settings
from moi.exceptions import ClusterError

T = TypeVar("T")

TaskResult: TypeAlias = Any  # ipyparallel ships no types
"""A sent task: ipyparallel's ``AsyncResult``, a ``concurrent.futures.Future`` that also
knows its ``msg_ids``."""

HISTORY_LIMIT = 10_000
"""Task IDs ipyparallel keeps per client and view; trimmed, since a server submits forever."""


CLOSE_TIMEOUT = 5.0
"""Seconds a close waits for the cluster's thread, which a hung call may hold."""

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class SendError(Exception):
    """``sent`` tasks went to the cluster before sending the next one failed with ``error``."""

    def __init__(self, sent: list[TaskResult], error: BaseException) -> None:
        super().__init__(repr(error))
        self.sent = sent
        self.error = error


class DaemonExecutor(Executor):
    """One daemon thread that runs what is submitted, in order.

    Not a ``ThreadPoolExecutor``, whose threads the interpreter joins at exit: a call that
    hangs (ipyparallel's ``result_status`` has no timeout, and a controller that went away
    mid-answer leaves it waiting) would then keep a process from ever exiting.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("cannot schedule new calls after shutdown")
        future: Future = Future()
        self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._calls.put(None)
        if wait:
            self._thread.join()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            future, fn, args, kwargs = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:
                future.set_exception(error)


class Cluster:
    """The one thread that talks to the ipyparallel controller for moi's dispatcher."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._executor = DaemonExecutor("moi-ipyparallel")
        self._lock = threading.Lock()  # one thread at a time in ipyparallel's client
        self._client: ipp.Client | None = None
        self._view: ipp.LoadBalancedView | None = None
        self.lost_because: str | None = None
        """Why the controller counts as lost (see :mod:`moi.controller`), or None."""

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` on the cluster's thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def connect(self) -> None:
        """Connect to the controller now (a wrong config is then an error at start-up).

        :raises ClusterError: if it cannot, or while the controller counts as lost.
        """
        self.check_available()
        if self._view is None:
            await self.run(self._connected_view)

    def check_available(self) -> None:
        """Fail fast while the controller counts as lost: a send would wait forever."""
        if self.lost_because is not None:
            raise ClusterError(f"the ipyparallel controller is unavailable: {self.lost_because}")

    async def lost(self, reason: str) -> None:
        """The controller is gone: refuse sends, and drop the connection to it.

        A new connection is made once :meth:`found` says it is back, whether it is the
        same controller after a lost link or a new one (read from the connection file).
        """
        self.lost_because = reason
        await self.run(self._close)

    def found(self) -> None:
        """The controller answers again: the next send connects to it."""
        self.lost_because = None

    async def engines(self) -> int:
        """How many engines the controller has registered (none: jobs wait, queued)."""
        return await self.run(self._engines)

    async def queue_status(self) -> dict[str, Any]:
        """The controller's view of its engines' work (ipyparallel's ``queue_status``):
        ``{engine ID: {"queue": waiting, "tasks": running, "completed": n}, "unassigned": n}``.
        """
        return await self.run(self._queue_status)

    async def send(self, func: Callable, calls: list[tuple]) -> list[TaskResult]:
        """Send one task ``func(*args)`` per ``args`` in ``calls``; their futures, in order.

        :raises SendError: if sending failed part-way (or at once, with ``sent`` empty).
        """
        return await self.run(self._send, func, calls)

    async def purge(self, task_ids: list[str]) -> None:
        """Have the controller forget these finished tasks' results: it keeps every
        result in memory otherwise, and moi has stored what matters in Redis."""
        await self.run(self._purge, task_ids)

    def forget(self, future: Future) -> None:
        """Drop the client's copy of a finished task (the job's state lives in Redis).

        Called where the task ended (ipyparallel's I/O thread), under the lock: no
        hand-over per job.
        """
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(RuntimeError):  # still outstanding: leave it
                    self._client.purge_local_results(future)

    async def close(self) -> None:
        """Close the controller connection and stop the thread; a thread stuck in a call
        that never returns is left behind (a daemon, it does not hold the process)."""
        with contextlib.suppress(RuntimeError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.run(self._close)
        self._executor.shutdown(wait=False)

    # -- on the cluster's thread -----------------------------------------------------

    def _connected_view(self) -> ipp.LoadBalancedView:
        with self._lock:
            return self._connect_locked()

    def _connect_locked(self) -> ipp.LoadBalancedView:
        if self._view is None:
            self.check_available()  # lost meanwhile: no handshake with what is not there
            settings = self.settings
            where = settings.ipp_connection_file or f"profile {settings.ipp_profile or 'default'!r}"
            try:
                if settings.ipp_connection_file:
                    client = ipp.Client(settings.ipp_connection_file)
                elif settings.ipp_profile:
                    client = ipp.Client(profile=settings.ipp_profile)
                else:
                    client = ipp.Client()
            except Exception as error:
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ClusterError(
                    f"cannot connect to the ipyparallel controller ({where}): {reason}"
                ) from error
            self._client, self._view = client, client.load_balanced_view()
        return self._view

    def _send(self, func: Callable, calls: list[tuple]) -> list[TaskResult]:
        sent: list[TaskResult] = []
        with self._lock:
            try:
                view = self._connect_locked()
                for args in calls:
                    sent.append(view.apply_async(func, *args))
            except Exception as error:
                raise SendError(sent, error) from error
            for history in (view.history, view.client.history):
                if len(history) > HISTORY_LIMIT:
                    del history[: -HISTORY_LIMIT // 2]
        return sent

    def _purge(self, task_ids: list[str]) -> None:
        with self._lock:
            if self._client is not None:
                self._client.purge_hub_results(jobs=task_ids)

    def _queue_status(self) -> dict[str, Any]:
        with self._lock:
            return self._connect_locked().client.queue_status()

    def _engines(self) -> int:
        with self._lock:
            return len(self._connect_locked().client.ids)

    def _close(self) -> None:
        with self._lock:
            client, self._client, self._view = self._client, None, None
        if client is not None:
            # Outside the lock: closing joins ipyparallel's I/O thread, which may be
            # waiting for the lock in forget() at this moment.
            client.close()


DEATHS = ("EngineError", "JobProcessDied")
"""How ipyparallel names a task whose engine died, and moi one whose job process died."""


def is_engine_death(error: BaseException) -> bool:
    """Whether a task failed because its engine or its job process died (the job may then
    be sent again)."""
    return isinstance(error, ipp.RemoteError) and error.ename in DEATHS


def task_failure_message(error: BaseException) -> str:
    """Why a task failed outside the job's function, for the job's ``result``."""
    if isinstance(error, ipp.RemoteError) and error.ename == "EngineError":
        return f"The engine running this job died before it finished. ({error.evalue})"
    if isinstance(error, ipp.RemoteError) and error.ename == "JobProcessDied":
        return str(error.evalue)
    if isinstance(error, ipp.RemoteError):
        # The engine's traceback, without the terminal colours IPython may have added.
        return ANSI_ESCAPE.sub("", "\n".join(error.render_traceback())) or str(error)
    return f"The job's task failed: {error!r}"
