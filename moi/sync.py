"""moi for scripts, command lines and tests: the client's calls, without ``await``.

:class:`SyncClient` runs a :class:`moi.client.Client` on an event loop of its own, in a
thread it owns, so the calls share one implementation. ``submit`` and ``submit_many``
are the exception: they store and send in the calling thread (the same script and
the same cluster call), since a hand-over per job costs a script's throughput. Never use
it on an event loop: it blocks the calling thread (await the client there).
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from moi import config, connections, events, record
from moi.client import Client, JobOptions, Prepared, calls_to_keep, check_target
from moi.dispatch import SendError

T = TypeVar("T")


class SyncClient:
    """The blocking face of :class:`moi.client.Client`; close it when done."""

    def __init__(self, settings: config.Settings | None = None) -> None:
        self.settings = settings if settings is not None else config.load()
        self.client = Client(self.settings)
        self._writer: record.Writer | None = None  # for submits, made on the first
        self._loop = asyncio.new_event_loop()
        self.client._loop = self._loop
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="moi-sync-client", daemon=True
        )
        self._thread.start()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """Store what is still written in the background (which task carries each job)
        before the interpreter goes: a script may submit and exit at once, and its jobs
        must not look never sent. The loop's thread is a daemon: alive until now."""
        if self._loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.client.flush(), self._loop)
        try:
            future.result(timeout=self.settings.write_retry + 5)
        except Exception as error:
            print(f"moi could not record the tasks of its last jobs: {error!r}", file=sys.stderr)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("this moi SyncClient is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def outstanding(self) -> set[str]:
        """IDs of the jobs sent to the cluster that have not come back yet (a copy)."""
        with self.client._state:
            return set(self.client.outstanding)

    def start(self, *, reap: bool = False) -> None:
        """See :meth:`moi.client.Client.start`; a script does not reap unless asked."""
        self._call(self.client.start(reap=reap))

    def submit(self, group: str, name: str, handler: str | None, func, /, *args, **kwargs) -> str:
        """See :meth:`moi.client.Client.submit`."""
        return self.with_options().submit(group, name, handler, func, *args, **kwargs)

    def submit_many(self, group: str, handler: str | None, calls: Iterable[tuple], /) -> list[str]:
        """See :meth:`moi.client.Client.submit_many`."""
        return self.with_options().submit_many(group, handler, calls)

    def with_options(self, *, time_limit: float | None = None, retries: int = 0) -> SyncSubmitter:
        """See :meth:`moi.client.Client.with_options`."""
        return SyncSubmitter(self, JobOptions(time_limit, retries))

    def _submit(self, prepared: list[Prepared]) -> list[str]:
        """:meth:`moi.client.Client._submit` in the calling thread, as a script expects.

        Each hand-over to the client's loop thread waits for the GIL (about 0.5 ms a job
        in ``make bench``), so the store and the send happen here: the same script
        and the same call, and the tasks are followed from ipyparallel's own thread.
        """
        dispatcher = self.client.dispatcher
        dispatcher.connect_now()  # before storing jobs a missing cluster never gets
        if self._writer is None:
            # One connection: submitting threads take turns.
            self._writer = record.Writer(connections.single(self.settings.redis_url))
        infos = [info for info, _ in prepared]
        self._writer.create(infos, self.settings.key_ttl, calls_to_keep(prepared))
        try:
            futures = dispatcher.send_now([packed for _, packed in prepared])
        except SendError as error:
            self.client._watch(prepared[: len(error.sent)], error.sent)
            message = f"The job could not be sent to the cluster: {error.error!r}"
            for info, _ in prepared[len(error.sent) :]:
                self._call(self.client._fail_durably(info["id"], message))
            raise error.error from None
        self.client._watch(prepared, futures)  # their tasks are recorded in batches, on the loop
        events.submitted(prepared)
        return [info["id"] for info, _ in prepared]

    def get(self, job_id: str) -> dict[str, Any] | None:
        """See :meth:`moi.client.Client.get`."""
        return self._call(self.client.get(job_id))

    def get_many(self, job_ids: list[str]) -> list[dict[str, Any] | None]:
        """See :meth:`moi.client.Client.get_many`."""
        return self._call(self.client.get_many(job_ids))

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """See :meth:`moi.client.Client.wait`."""
        return self._call(self.client.wait(job_id, timeout))

    def jobs(self, group: str) -> list[dict[str, Any]]:
        """See :meth:`moi.client.Client.jobs`."""
        return self._call(self.client.jobs(group))

    def add(self, group: str, ids: str | Iterable[str]) -> None:
        """See :meth:`moi.client.Client.add`."""
        self._call(self.client.add(group, ids))

    def remove(self, group: str, ids: str | Iterable[str]) -> None:
        """See :meth:`moi.client.Client.remove`."""
        self._call(self.client.remove(group, ids))

    def cancel(self, job_id: str, *, by: str | None = None) -> bool:
        """See :meth:`moi.client.Client.cancel`."""
        return self._call(self.client.cancel(job_id, by=by))

    def fail(self, job_id: str, reason: str) -> bool:
        """See :meth:`moi.client.Client.fail`."""
        return self._call(self.client.fail(job_id, reason))

    def flush(self) -> None:
        """See :meth:`moi.client.Client.flush`."""
        self._call(self.client.flush())

    def drain(self, timeout: float | None = None) -> None:
        """See :meth:`moi.client.Client.drain`."""
        self._call(self.client.drain(timeout))

    def close(self) -> None:
        """Close the client's connections and stop its thread; it can't be used afterwards."""
        if self._loop.is_closed():
            return
        atexit.unregister(self._at_exit)
        try:
            self._call(self.client.aclose())
            if self._writer is not None:
                self._writer.client.close()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SyncSubmitter:
    """:class:`moi.client.Submitter` without ``await``."""

    def __init__(self, sync: SyncClient, options: JobOptions) -> None:
        self.sync = sync
        self.options = options

    def submit(self, group: str, name: str, handler: str | None, func, /, *args, **kwargs) -> str:
        """See :meth:`moi.client.Client.submit`."""
        check_target(group, handler)
        client = self.sync.client
        [job_id] = self.sync._submit(
            [client._prepare(group, handler, name, func, args, kwargs, self.options)]
        )
        return job_id

    def submit_many(self, group: str, handler: str | None, calls: Iterable[tuple], /) -> list[str]:
        """See :meth:`moi.client.Client.submit_many`."""
        prepared = self.sync.client._prepare_calls(group, handler, calls, self.options)
        return self.sync._submit(prepared) if prepared else []
