"""A job's info object in Redis, and the writes that change it.

Every change of a job is stored together with its notice on the job's channel, as one
atomic transaction, so a subscriber never reads a state older than the notice it got.
Creating a job is a MULTI/EXEC. Later changes use a Lua script, which Redis runs just as
atomically, because it must also refuse to overwrite a final status: that check and the
write have to be one step, which MULTI alone cannot express.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis

from moi import groupset, keys
from moi.status import FINAL_STATUSES, Status, is_final

NOTICE_STATUS = json.dumps({"update": "status"})
NOTICE_OTHER = json.dumps({"update": None})

# KEYS: job key, job channel. ARGV: new info JSON, notice JSON, ttl seconds (0 = none),
# "1" if the job must already be stored. Returns 1 when written, 0 when the stored job
# had already ended (or, with ARGV[4], is not stored).
_UPDATE_SCRIPT = (
    "local FINAL = {"
    + ", ".join(f"[{status!r}] = true" for status in sorted(FINAL_STATUSES))
    + "}"
    + """
local current = redis.call('GET', KEYS[1])
if not current and ARGV[4] == '1' then
    return 0
end
if current then
    local ok, info = pcall(cjson.decode, current)
    if ok and type(info) == 'table' and FINAL[info.status] then
        return 0
    end
    redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
elseif tonumber(ARGV[3]) > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
else
    redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""
)


def now() -> str:
    """The current time as ISO 8601 UTC, the form of every date in an info object.

    To the microsecond, so jobs submitted together still sort in the order they were made.
    """
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_info(group: str, name: str, handler: str | None) -> dict[str, Any]:
    """The info object of a job that was just submitted."""
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "handler": handler,
        "group": group,
        "status": Status.QUEUED.value,
        "result": None,
        "date_created": now(),
        "date_start": None,
        "date_end": None,
    }


def encode(info: dict[str, Any]) -> str:
    return json.dumps(info, separators=(",", ":"))


def decode(raw: str | bytes | None) -> dict[str, Any] | None:
    """The info object stored as ``raw``, or None for a missing or unreadable record."""
    if raw is None:
        return None
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def create(pipe: groupset.Pipeline, info: dict[str, Any], ttl: int) -> None:
    """Queue on a MULTI pipeline: store the job, add it to its group, announce it."""
    create_many(pipe, [info], ttl)


def create_many(pipe: groupset.Pipeline, infos: list[dict[str, Any]], ttl: int) -> None:
    """Like :func:`create` for jobs of one group, announced together in one ``add``."""
    [group] = {info["group"] for info in infos}
    for info in infos:
        pipe.set(keys.job_key(info["id"]), encode(info), ex=ttl or None)
    groupset.add(pipe, group, [info["id"] for info in infos], ttl)


def queue_failed(
    pipe: groupset.Pipeline, job_id: str, raw: str | bytes | None, message: str
) -> bool:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` ends ``Failed`` with ``message``.

    The one body of :meth:`Writer.fail` and :meth:`AsyncWriter.fail`; it keeps the record's
    TTL and everything an engine wrote.

    :returns: False, queuing nothing, if the job is not stored or has ended already.
    """
    info = decode(raw)
    if info is None or is_final(info.get("status")):
        return False
    info.update(status=Status.FAILED.value, result=message, date_end=now())
    pipe.multi()
    pipe.set(keys.job_key(job_id), encode(info), keepttl=True)
    pipe.publish(keys.job_channel(job_id), NOTICE_STATUS)
    return True


class Writer:
    """Runs the update script on one Redis client; keep one per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_UPDATE_SCRIPT)

    def update(
        self,
        info: dict[str, Any],
        ttl: int,
        *,
        status_changed: bool = True,
        must_exist: bool = False,
    ) -> bool:
        """Store ``info`` and publish its notice, unless the stored job has already ended.

        An engine recreates a record that expired while its job ran (the final state is
        never lost); ``must_exist`` refuses to create one instead.

        :returns: whether it was written.
        """
        notice = NOTICE_STATUS if status_changed else NOTICE_OTHER
        job_id = info["id"]
        written = self._script(
            keys=[keys.job_key(job_id), keys.job_channel(job_id)],
            args=[encode(info), notice, ttl, "1" if must_exist else "0"],
        )
        return bool(written)

    def fail(self, job_id: str, message: str) -> bool:
        """End a job ``Failed`` with ``message``, unless it has already ended.

        Used by the submitting process when the engine could not report the end itself.
        An optimistic transaction (WATCH, then MULTI/EXEC, retried if the job changed in
        between), so a progress or date an engine writes meanwhile is kept, not lost.
        The record keeps its TTL.

        :returns: whether it was written.
        """
        key = keys.job_key(job_id)

        def end(pipe: redis.client.Pipeline) -> bool:
            return queue_failed(pipe, job_id, pipe.get(key), message)

        return self.client.transaction(end, key, value_from_callable=True)


class AsyncWriter:
    """:meth:`Writer.fail` for code on an event loop: the same transaction, awaited."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def fail(self, job_id: str, message: str) -> bool:
        """See :meth:`Writer.fail`."""
        key = keys.job_key(job_id)

        async def end(pipe: aioredis.client.Pipeline) -> bool:
            return queue_failed(pipe, job_id, await pipe.get(key), message)

        return await self.client.transaction(end, key, value_from_callable=True)
