"""The dispatcher's report on the cluster (``moi:cluster``): what it counts besides its own
state, and when it is published.

The report is made once a second by the dispatcher at work (:mod:`moi.dispatch`), so the
counts cost nothing per job: engines busy are the running jobs' leases (``moi:leases``,
one engine runs one job at a time), jobs waiting the sum of the queues of the groups
with jobs waiting (``moi:ready``), and the jobs per minute a small hash of the last
hour's minutes (``moi:minutes``), counted as engines' tasks come back with their jobs'
ends. The report is stored (for a reader that comes now) and published on the channel
``moi:cluster`` when it changed, and every :data:`HEARTBEAT` seconds even if not, so a
watcher can tell a dispatcher that stopped from a cluster that is quiet
(:mod:`moi.clusterfeed`).
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from moi import keys

MINUTES_SHOWN = 60
"""Minutes of jobs per minute in a report: the last hour, the current minute last."""
HEARTBEAT = 3.0
"""Seconds after which an unchanged report is published again."""


def minute(now: float | None = None) -> int:
    """The minute ``now`` falls in, as ``moi:minutes`` counts them (Unix time // 60)."""
    return int((time.time() if now is None else now) // 60)


async def count_ended(redis: aioredis.Redis, ended: int, now: float | None = None) -> None:
    """Count ``ended`` jobs in the current minute; the hash goes an hour after the last."""
    if ended <= 0:
        return
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(keys.MINUTES, str(minute(now)), ended)
        pipe.expire(keys.MINUTES, (MINUTES_SHOWN + 1) * 60)
        await pipe.execute()


async def per_minute(redis: aioredis.Redis, now: float | None = None) -> list[int]:
    """Jobs ended in each of the last :data:`MINUTES_SHOWN` minutes, oldest first; older
    minutes are dropped from the hash as it is read."""
    current = minute(now)
    counts = [0] * MINUTES_SHOWN
    stale = []
    for field, value in (await redis.hgetall(keys.MINUTES)).items():
        try:
            age = current - int(field)
            count = int(value)
        except ValueError:
            age, count = -1, 0
        if 0 <= age < MINUTES_SHOWN:
            counts[MINUTES_SHOWN - 1 - age] = count
        else:
            stale.append(field)
    if stale:
        await redis.hdel(keys.MINUTES, *stale)
    return counts


async def counts(redis: aioredis.Redis) -> tuple[int, int]:
    """Jobs running (each holds an engine) and jobs waiting in every group's queue."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.LEASES)
        pipe.zrange(keys.READY, 0, -1)
        running, groups = await pipe.execute()
    if not groups:
        return running, 0
    async with redis.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.zcard(keys.queue_key(group.decode() if isinstance(group, bytes) else group))
        return running, sum(await pipe.execute())


class Publisher:
    """Stores each report, and publishes it when it changed or :data:`HEARTBEAT` passed."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._at = 0.0

    async def store(self, redis: aioredis.Redis, report: str, ttl: int) -> None:
        """Store ``report`` for ``ttl`` seconds, and publish it if it is due, in one go."""
        due = report != self._last or time.monotonic() - self._at >= HEARTBEAT
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.CLUSTER, report, ex=ttl)
            if due:
                pipe.publish(keys.CLUSTER_CHANNEL, report)
            await pipe.execute()
        if due:
            self._last, self._at = report, time.monotonic()
