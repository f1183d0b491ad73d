"""A running job's lease: the engine's sign of life, which the reaper reads.

A job that starts takes a lease in ``moi:leases`` (in the same script that stores it
``Running``); while it runs, one thread per engine process pushes the lease's end
forward every third of its length. That is one ``ZADD XX`` per engine process for all
its jobs: no rewrite of an info object and no notice to anyone. If the engine is killed,
frozen or cut off from Redis, the lease lapses and :mod:`moi.reaper` ends the job.
Times are Redis's own clock (``TIME`` inside the script), so engines on hosts whose
clocks disagree still agree on when a lease lapses.
"""

from __future__ import annotations

import logging
import threading

import redis
from redis.commands.core import Script

from moi import keys
from moi.retry import TRANSIENT

log = logging.getLogger(__name__)

# KEYS: leases. ARGV: seconds, job ID, ... XX: a job that ended (or was reaped) stays out.
_RENEW_SCRIPT = """
local clock = redis.call('TIME')
local until_ = tonumber(clock[1]) + tonumber(ARGV[1])
for i = 2, #ARGV do
    redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i])
end
return 1
"""


class Renewer:
    """Renews the leases of the jobs this process runs, on a daemon thread of its own."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Script, int]] = {}
        self._scripts: dict[int, Script] = {}
        self._lock = threading.Lock()
        self._interval = float("inf")
        self._shorter = threading.Event()  # a shorter lease came: wait less from now on
        self._thread: threading.Thread | None = None

    def hold(self, client: redis.Redis, job_id: str, seconds: int) -> None:
        """Keep renewing ``job_id``'s lease of ``seconds`` until :meth:`release`.

        The thread is not woken for it: the lease was just taken whole, and the thread's
        next round (within a third of a lease) renews it. Waking it per job would cost
        every short job a thread switch (unless its lease is shorter than any before).
        """
        with self._lock:
            script = self._scripts.get(id(client))
            if script is None:
                script = self._scripts[id(client)] = client.register_script(_RENEW_SCRIPT)
            self._held[job_id] = (script, seconds)
            if seconds / 3 < self._interval:
                self._interval = seconds / 3
                self._shorter.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="moi-lease", daemon=True)
                self._thread.start()

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def _run(self) -> None:
        while True:
            if self._shorter.wait(self._interval):
                self._shorter.clear()
            with self._lock:
                held = dict(self._held)
            if held:
                self._renew(held)

    @staticmethod
    def _renew(held: dict[str, tuple[Script, int]]) -> None:
        by_lease: dict[tuple[Script, int], list[str]] = {}
        for job_id, script_and_seconds in held.items():
            by_lease.setdefault(script_and_seconds, []).append(job_id)
        for (script, seconds), job_ids in by_lease.items():
            try:
                script(keys=[keys.LEASES], args=[seconds, *job_ids])
            except TRANSIENT as error:
                # The next round tries again; a lease lapses only after three misses.
                log.warning("moi could not renew the leases of %d jobs: %s", len(job_ids), error)
            except Exception:  # never let the thread die: every job here would be reaped
                log.exception("moi could not renew the leases of %d jobs", len(job_ids))
