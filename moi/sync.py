"""moi for scripts, command lines and tests: the client's calls, without ``await``.

:class:`SyncClient` runs a :class:`moi.client.Client` on an event loop of its own, in a
thread it owns, so the calls share one implementation. ``submit``, ``submit_many`` and ``map``
are the exception: they store in the calling thread (the same script), since a hand-over
per job costs a script's throughput. The first submit starts the client (a script takes
its turn as the dispatcher, unless ``[jobs] dispatch = no``), so a script's jobs run
even where no server runs. Never use
it on an event loop: it blocks the calling thread (await the client there).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from moi import config, connections, events, keys, record
from moi.client import (
    Client,
    JobOptions,
    Prepared,
    check_room,
    check_target,
    creates,
    map_calls,
    needs_room_check,
)

T = TypeVar("T")


class SyncClient:
    """The blocking face of :class:`moi.client.Client`; close it when done."""

    def __init__(self, settings: config.Settings | None = None) -> None:
        self.settings = settings if settings is not None else config.load()
        self.client = Client(self.settings)
        self._writer: record.Writer | None = None  # for submits, made on the first
        self._started = False
        self._start_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="moi-sync-client", daemon=True
        )
        self._thread.start()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """Hand the dispatcher's lock over at once when a script ends without closing."""
        with contextlib.suppress(Exception):
            self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("this moi SyncClient is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def outstanding(self) -> set[str]:
        """IDs of the jobs submitted here that it has not seen end yet (a copy)."""
        with self.client._state:
            return set(self.client.outstanding)

    def start(self, *, reap: bool = False, dispatch: bool | None = None) -> None:
        """See :meth:`moi.client.Client.start`; a script does not reap unless asked."""
        with self._start_lock:
            self._call(self.client.start(reap=reap, dispatch=dispatch))
            self._started = True

    def _start_once(self) -> None:
        if not self._started:
            with self._start_lock:
                if not self._started:
                    self._call(self.client.start(reap=False))
                    self._started = True

    def stop_dispatching(self) -> None:
        """See :meth:`moi.client.Client.stop_dispatching`."""
        self._call(self.client.stop_dispatching())

    def submit(self, group: str, name: str, handler: str | None, func, /, *args, **kwargs) -> str:
        """See :meth:`moi.client.Client.submit`."""
        return self.with_options().submit(group, name, handler, func, *args, **kwargs)

    def submit_many(self, group: str, handler: str | None, calls: Iterable[tuple], /) -> list[str]:
        """See :meth:`moi.client.Client.submit_many`."""
        return self.with_options().submit_many(group, handler, calls)

    def with_options(self, *, time_limit: float | None = None, retries: int = 0) -> SyncSubmitter:
        """See :meth:`moi.client.Client.with_options`."""
        return SyncSubmitter(self, JobOptions(time_limit, retries))

    def map(self, group: str, name: str, handler: str | None, func, items, /) -> list[str]:
        """See :meth:`moi.client.Client.map`."""
        return self.with_options().map(group, name, handler, func, items)

    def _submit(self, prepared: list[Prepared]) -> list[str]:
        """:meth:`moi.client.Client._submit` in the calling thread, as a script expects.

        Each hand-over to the client's loop thread waits for the GIL (about 0.5 ms a job
        in ``make bench``), so the store happens here: the same script.
        """
        self._start_once()
        if self._writer is None:
            # One connection: submitting threads take turns.
            self._writer = record.Writer(connections.single(self.settings.redis_url))
        group, limit = prepared[0][0]["group"], self.settings.max_queued_per_group
        if needs_room_check(limit, prepared):
            check_room(self._writer.client.zcard(keys.queue_key(group)), prepared, limit)
        for infos, calls in creates(prepared):
            self._writer.create(infos, self.settings.key_ttl, calls, limit)
            with self.client._state:
                self.client.outstanding.update(calls)
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

    def cluster(self) -> dict[str, Any] | None:
        """See :meth:`moi.client.Client.cluster`."""
        return self._call(self.client.cluster())

    def waiting(self, group: str | None = None) -> int:
        """See :meth:`moi.client.Client.waiting`."""
        return self._call(self.client.waiting(group))

    def ahead(self, job_id: str) -> int | None:
        """See :meth:`moi.client.Client.ahead`."""
        return self._call(self.client.ahead(job_id))

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

    def map(
        self, group: str, name: str, handler: str | None, func, items: Iterable, /
    ) -> list[str]:
        """See :meth:`moi.client.Client.map`."""
        return self.submit_many(group, handler, map_calls(name, func, items))
