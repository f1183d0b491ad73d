"""Actions on many of a group's jobs at once: one browser message may name 100,000.

Each action goes through the IDs :data:`CHUNK` at a time, one Redis round trip (or one
transaction) a chunk, so neither Redis nor the event loop is held for long: other
groups' work runs between two chunks. A chunk is checked, removed or cancelled whole;
the action as a whole is not one transaction (a remove announces each chunk, so a
browser takes 100,000 jobs off in 100 ``remove`` messages).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from moi import groupset, keys, record
from moi.keys import is_job_id
from moi.status import Status

CHUNK = 1000
"""IDs per round trip: 100,000 cancels in about 100 transactions."""
ATTEMPTS = 3
"""Tries of a chunk's cancel while its jobs change under it (progress written by their
engines), before it is split in two: a busy chunk still gets through, a job at a time
at worst."""


def chunks(ids: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def strangers(redis: aioredis.Redis, group: str, ids: list[str]) -> list[str]:
    """The IDs among ``ids`` that are not in the group's set (nor is anything that is
    not a job ID: that never reaches Redis)."""
    found: set[str] = set()
    asked = [job_id for job_id in ids if is_job_id(job_id)]
    for chunk in chunks(asked):
        members = await redis.smismember(keys.group_jobs_key(group), chunk)
        found.update(job_id for job_id, member in zip(chunk, members, strict=True) if member)
    return [job_id for job_id in ids if job_id not in found]


async def remove(redis: aioredis.Redis, group: str, ids: list[str]) -> None:
    """Take ``ids`` out of the group's set, announcing each chunk (``remove``)."""
    for chunk in chunks(ids):
        async with redis.pipeline(transaction=True) as pipe:
            groupset.remove(pipe, group, chunk)
            await pipe.execute()


async def cancel(redis: aioredis.Redis, ids: list[str], by: str | None) -> list[str]:
    """End the jobs ``ids`` ``Cancelled`` (:func:`moi.record.queue_end`, the one body of
    an end written from outside an engine), unless they have ended already.

    :returns: the IDs that had ended (or were not stored): left as they were.
    """
    message = record.cancel_message(by)
    ended: list[str] = []
    for chunk in chunks(ids):
        ended += await _cancel_chunk(redis, chunk, message)
    return ended


async def _cancel_chunk(redis: aioredis.Redis, ids: list[str], message: str) -> list[str]:
    """One optimistic transaction for the chunk (WATCH every job, read them all, end
    those open); split in two if its jobs keep changing under it."""
    attempt = 0
    while len(ids) == 1 or attempt < ATTEMPTS:
        attempt += 1
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(*ids)
                raws = await pipe.mget(ids)
                ends = _OneTransaction(pipe)
                ended = [
                    job_id
                    for job_id, raw in zip(ids, raws, strict=True)
                    if not record.queue_end(ends, job_id, raw, Status.CANCELLED, message)
                ]
                await pipe.execute()
                return ended
            except WatchError:
                continue
    half = len(ids) // 2
    return await _cancel_chunk(redis, ids[:half], message) + await _cancel_chunk(
        redis, ids[half:], message
    )


class _OneTransaction:
    """A WATCHing pipeline on which :func:`moi.record.queue_end` may queue several jobs'
    ends: each end opens the transaction (``multi``), which a pipeline allows once."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    def multi(self) -> None:
        if not self._pipe.explicit_transaction:
            self._pipe.multi()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)
