"""The reaper: ends the jobs no engine will ever finish, whoever submitted them.

Each round it deals with every job whose lease lapsed (:mod:`moi.lease`): its engine was
killed, frozen, or cut off from Redis. A job the engine had taken but not started goes
back to the front of its queue (no retry used); a running job with a retry left goes
back too, on its next attempt; any other ends ``Failed`` with a reason that says so. Its
lost engine, should it wake, can no longer write to it (each write names its attempt).
Jobs that wait are in Redis, not in the cluster, so a controller that restarts loses
none: there is nothing else to reap.

Every moi server runs a reaper (``[jobs] reap``), and ``moi reap`` runs one without a
server; only the holder of ``moi:reaper`` (a short-lived lock its holder renews) reaps,
so a round is never done twice at once. A lease that lapsed while Redis itself was away
is not the engine's fault: after Redis starts, or after this process lost it, the reaper
waits a whole lease length (enough for three renewals) before it reaps leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import redis.asyncio as aioredis

from moi import events, keys, metrics, record
from moi.config import Settings
from moi.retry import TRANSIENT
from moi.status import Status

log = logging.getLogger(__name__)

BATCH = 500
"""Jobs looked at per kind and round; the next round takes the rest."""

# KEYS: lock. ARGV: token, seconds. Takes the lock, or keeps it if this token holds it.
_HOLD_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1
end
return 0
"""

# KEYS: lock. ARGV: token. Lets the lock go, if this token holds it.
_LET_GO_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def lapsed_message(lease: int) -> str:
    return (
        f"The job's engine gave no sign of life for {lease} s (it was killed, frozen, or "
        "cut off from Redis), so moi ended the job."
    )


class Reaper:
    """One process's reaper; :meth:`run` it as a task, or call :meth:`reap` once."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.writer = record.AsyncWriter(redis)
        self.interval = max(settings.lease / 3, 0.5)
        self._token = uuid.uuid4().hex
        self._hold = redis.register_script(_HOLD_SCRIPT)
        self._let_go = redis.register_script(_LET_GO_SCRIPT)
        self._redis_since = time.monotonic()

    async def run(self) -> None:
        """Reap every ``lease / 3`` seconds while this process holds the lock; until cancelled."""
        reached = True
        while True:
            try:
                if await self.hold():
                    await self.reap()
                if not reached:
                    log.warning("moi's reaper reaches Redis again")
                reached = True
            except TRANSIENT as error:
                self._redis_since = time.monotonic()
                if reached:  # one line per outage, not one per round
                    log.warning("moi's reaper cannot reach Redis: %s", error)
                reached = False
            except Exception:
                log.exception("moi's reaper failed a round; it tries again")
            await asyncio.sleep(self.interval)

    async def hold(self) -> bool:
        """Take or keep the reaping lock; whether this process holds it now."""
        seconds = max(3, round(3 * self.interval))
        return bool(await self._hold(keys=[keys.REAPER_LOCK], args=[self._token, seconds]))

    async def close(self) -> None:
        """Let the lock go: another process takes over at once."""
        with contextlib.suppress(*TRANSIENT):
            await self._let_go(keys=[keys.REAPER_LOCK], args=[self._token])

    async def reap(self) -> list[str]:
        """One round; the IDs of the jobs it ended."""
        ended = await self.reap_lapsed()
        if ended:
            metrics.ENDED.labels(Status.FAILED.value).inc(len(ended))
        return ended

    async def reap_lapsed(self) -> list[str]:
        """Deal with the jobs whose lease lapsed: back to their queue, or ``Failed``; the
        IDs of those it ended."""
        if not await self._leases_trusted():
            return []
        seconds, _ = await self.redis.time()
        lapsed = await self.redis.zrangebyscore(keys.LEASES, "-inf", seconds, start=0, num=BATCH)
        message = lapsed_message(self.settings.lease)
        ended, dealt = [], set()
        for job_id in lapsed:
            current = record.decode(await self.redis.get(keys.job_key(job_id)))
            if current is None:
                continue  # expired: only the lease is left
            attempt = int(current.get("attempt") or 1)  # the attempt that lost its engine
            what = await self.writer.lost(job_id, attempt, message)
            if what is not None:
                dealt.add(job_id)
            if what == "failed":
                ended.append(job_id)
                events.failed(job_id, str(current.get("group", "")), message)
            elif what == "retried":
                events.retried({**current, "attempt": attempt + 1})
        gone = set(lapsed) - dealt  # ended meanwhile, or expired
        if gone:
            await self.redis.zrem(keys.LEASES, *gone)
        if ended:
            log.warning("moi ended %d jobs whose engine stopped renewing its lease", len(ended))
        return ended

    def trust_leases(self) -> None:
        """Reap leases without first watching Redis for a lease length (a one-off run)."""
        self._redis_since = float("-inf")

    async def _leases_trusted(self) -> bool:
        """Whether Redis and this process have been up a whole lease length.

        Before that, a lease may have lapsed only because Redis was away while its
        engine tried to renew it.
        """
        lease = self.settings.lease
        if time.monotonic() - self._redis_since < lease:
            return False
        info = await self.redis.info("server")
        return int(info.get("uptime_in_seconds", lease)) >= lease
