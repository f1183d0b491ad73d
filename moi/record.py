"""A job's info object in Redis, and the writes that change it.

Every change of a job is stored together with its notice on the job's channel, as one
atomic step, so a subscriber never reads a state older than the notice it got. Creating
jobs and changing one are Lua scripts, which Redis runs as atomically as a MULTI/EXEC: a
change must refuse to overwrite a final status, a check and a write that MULTI alone
cannot make one step; a create is one command where MULTI/EXEC takes eight, which in
redis-py cost about a third more CPU per submit (measured). Ends written from
outside the engine are optimistic WATCH/MULTI/EXEC transactions (:func:`queue_end`).
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

# KEYS: job key, job channel, leases, queued. ARGV: new info JSON, notice JSON, ttl seconds
# (0 = none), "1" if the job must already be stored, and the lease: "" to leave it,
# "end" to drop it (a final write), or N to hold it for N s from now on Redis's clock (the
# start; the job is then no longer queued), and the job's ID. Returns 1 when written, 0
# when the stored job had already ended (or, with ARGV[4], is not stored).
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
local job_id = ARGV[6]
if ARGV[5] == 'end' then
    redis.call('ZREM', KEYS[3], job_id)
    redis.call('HDEL', KEYS[4], job_id)
elseif ARGV[5] ~= '' then
    local clock = redis.call('TIME')
    redis.call('ZADD', KEYS[3], tonumber(clock[1]) + tonumber(ARGV[5]), job_id)
    redis.call('HDEL', KEYS[4], job_id)
    if tonumber(ARGV[3]) > 0 then
        redis.call('EXPIRE', KEYS[3], ARGV[3])
    end
end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: queued, the group's set, then each job's key. ARGV: ttl seconds (0 = none), the
# group's channel, its add notice, then each job's ID and info JSON, in the keys' order.
_CREATE_SCRIPT = (
    groupset.LUA_ADD
    + """
local ttl = tonumber(ARGV[1])
local ids = {}
for i = 4, #ARGV, 2 do
    local job_key = KEYS[2 + (i - 2) / 2]
    if ttl > 0 then
        redis.call('SET', job_key, ARGV[i + 1], 'EX', ttl)
    else
        redis.call('SET', job_key, ARGV[i + 1])
    end
    redis.call('HSET', KEYS[1], ARGV[i], '')
    ids[#ids + 1] = ARGV[i]
end
if ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
end
group_add(KEYS[2], ids, ttl, ARGV[2], ARGV[3])
return #ids
"""
)

# KEYS: queued. ARGV: job ID, task ID, ... Records each sent job's task, unless the job has
# left the hash already (its engine started it first).
_SENT_SCRIPT = """
for i = 1, #ARGV, 2 do
    if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
end
return 1
"""


def now() -> str:
    """The current time as ISO 8601 UTC, the form of every date in an info object.

    To the microsecond, so jobs submitted together still sort in the order they were made.
    """
    return datetime.now(UTC).isoformat(timespec="microseconds")


def cancel_message(by: str | None) -> str:
    """The ``result`` of a cancelled job: who cancelled it, and when (PROTOCOL.md 1.1)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"Cancelled by {by} at {when}." if by else f"Cancelled at {when}."


def new_info(
    group: str,
    name: str,
    handler: str | None,
    *,
    time_limit: float | None = None,
    retries: int = 0,
) -> dict[str, Any]:
    """The info object of a job that was just submitted.

    Besides PROTOCOL.md's fields: ``time_limit`` (seconds it may run, or None),
    ``retries`` (how often it may be sent again if its engine dies) and ``attempt``
    (1 on the first run).
    """
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
        "time_limit": time_limit,
        "retries": retries,
        "attempt": 1,
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


def create_call(infos: list[dict[str, Any]], ttl: int) -> tuple[list[str], list]:
    """The keys and arguments of the script that stores new jobs of one group as
    ``Queued`` (each in ``moi:queued``), adds them to their group and announces them
    there in one ``add``."""
    [group] = {info["group"] for info in infos}
    ids = [info["id"] for info in infos]
    script_keys = [keys.QUEUED, keys.group_jobs_key(group), *map(keys.job_key, ids)]
    args: list = [ttl, keys.group_channel(group), groupset.add_notice(ids)]
    for info in infos:
        args += [info["id"], encode(info)]
    return script_keys, args


def sent_args(tasks: dict[str, str]) -> list[str]:
    """The arguments of the script that records which task carries each sent job."""
    return [value for pair in tasks.items() for value in pair]


def queue_end(
    pipe: groupset.Pipeline, job_id: str, raw: str | bytes | None, status: Status, message: str
) -> bool:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` ends ``status`` with ``message``.

    The one body of every end written from outside the job's engine (a failure its
    engine could not report, a cancel, a time limit); it keeps the record's TTL and
    everything an engine wrote. A cancel is also announced on ``moi:cancels``, where the
    engine running the job hears it and interrupts the function (:mod:`moi.stopper`).

    :returns: False, queuing nothing, if the job is not stored or has ended already.
    """
    info = _open_job(raw)
    if info is None:
        return False
    info.update(status=status.value, result=message, date_end=now())
    _queue_rewrite(pipe, job_id, info, queued=False)
    if status is Status.CANCELLED:
        pipe.publish(keys.CANCELS, json.dumps({"cancel": job_id}))
    return True


def queue_retry(pipe: groupset.Pipeline, job_id: str, raw: str | bytes | None) -> dict | None:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` waits ``Queued`` again, on
    its next attempt, since its engine died.

    :returns: the job's new info, or None (queuing nothing) if it has ended or has used
        all its retries.
    """
    info = _open_job(raw)
    if info is None:
        return None
    attempt = int(info.get("attempt") or 1)
    if attempt > int(info.get("retries") or 0):
        return None
    info.update(status=Status.QUEUED.value, attempt=attempt + 1, date_start=None)
    info.pop("progress", None)
    _queue_rewrite(pipe, job_id, info, queued=True)
    return info


def _open_job(raw: str | bytes | None) -> dict[str, Any] | None:
    """The stored job ``raw`` if it is one that has not ended yet."""
    info = decode(raw)
    return None if info is None or is_final(info.get("status")) else info


def _queue_rewrite(pipe: groupset.Pipeline, job_id: str, info: dict, *, queued: bool) -> None:
    """Queue the transaction that stores ``info`` (keeping the record's TTL), drops the
    job's lease, puts it in ``moi:queued`` (waiting again) or takes it out, and announces
    the new status."""
    pipe.multi()
    pipe.set(keys.job_key(job_id), encode(info), keepttl=True)
    pipe.zrem(keys.LEASES, job_id)
    if queued:
        pipe.hset(keys.QUEUED, job_id, "")
    else:
        pipe.hdel(keys.QUEUED, job_id)
    pipe.publish(keys.job_channel(job_id), NOTICE_STATUS)


class Writer:
    """Runs the update script on one Redis client; keep one per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_UPDATE_SCRIPT)
        self._create = client.register_script(_CREATE_SCRIPT)
        self._sent = client.register_script(_SENT_SCRIPT)

    def create(self, infos: list[dict[str, Any]], ttl: int) -> None:
        """Store new jobs of one group, add them to it, and announce them: one atomic step.

        :param ttl: seconds the records and the group's set live (0: for ever).
        """
        script_keys, args = create_call(infos, ttl)
        self._create(keys=script_keys, args=args)

    def update(
        self,
        info: dict[str, Any],
        ttl: int,
        *,
        status_changed: bool = True,
        must_exist: bool = False,
        lease: int | str = "",
    ) -> bool:
        """Store ``info`` and publish its notice, unless the stored job has already ended.

        An engine recreates a record that expired while its job ran (the final state is
        never lost); ``must_exist`` refuses to create one instead. ``lease`` is the
        seconds of the lease a starting job takes, or "end" for a final write.

        :returns: whether it was written.
        """
        notice = NOTICE_STATUS if status_changed else NOTICE_OTHER
        job_id = info["id"]
        written = self._script(
            keys=[keys.job_key(job_id), keys.job_channel(job_id), keys.LEASES, keys.QUEUED],
            args=[encode(info), notice, ttl, "1" if must_exist else "0", lease, job_id],
        )
        return bool(written)

    def sent(self, tasks: dict[str, str]) -> None:
        """Record the ipyparallel task that carries each job (by job ID) just sent."""
        self._sent(keys=[keys.QUEUED], args=sent_args(tasks))

    def end(self, job_id: str, status: Status, message: str) -> bool:
        """End a job ``status`` (``Failed``, ``Cancelled``) with ``message``, unless it has
        already ended.

        Used from outside the job's engine: when the engine could not report the end
        itself, or to stop the job. An optimistic transaction (WATCH, then MULTI/EXEC,
        retried if the job changed in between), so a progress or date an engine writes
        meanwhile is kept, not lost, and a job never ends twice. The record keeps its TTL.

        :returns: whether it was written.
        """
        key = keys.job_key(job_id)

        def end(pipe: redis.client.Pipeline) -> bool:
            return queue_end(pipe, job_id, pipe.get(key), status, message)

        return self.client.transaction(end, key, value_from_callable=True)

    def fail(self, job_id: str, message: str) -> bool:
        """:meth:`end` the job ``Failed``."""
        return self.end(job_id, Status.FAILED, message)


class AsyncWriter:
    """The writes of :class:`Writer` that code on an event loop makes."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._create = client.register_script(_CREATE_SCRIPT)
        self._sent = client.register_script(_SENT_SCRIPT)

    async def create(self, infos: list[dict[str, Any]], ttl: int) -> None:
        """See :meth:`Writer.create`."""
        script_keys, args = create_call(infos, ttl)
        await self._create(keys=script_keys, args=args)

    async def sent(self, tasks: dict[str, str]) -> None:
        """See :meth:`Writer.sent`."""
        await self._sent(keys=[keys.QUEUED], args=sent_args(tasks))

    async def end(self, job_id: str, status: Status, message: str) -> bool:
        """See :meth:`Writer.end`."""
        key = keys.job_key(job_id)

        async def end(pipe: aioredis.client.Pipeline) -> bool:
            return queue_end(pipe, job_id, await pipe.get(key), status, message)

        return await self.client.transaction(end, key, value_from_callable=True)

    async def fail(self, job_id: str, message: str) -> bool:
        """See :meth:`Writer.fail`."""
        return await self.end(job_id, Status.FAILED, message)

    async def cancel(self, job_id: str, by: str | None) -> bool:
        """:meth:`end` the job ``Cancelled``, saying who cancelled it and when."""
        return await self.end(job_id, Status.CANCELLED, cancel_message(by))

    async def retry(self, job_id: str) -> dict | None:
        """Put a job whose engine died back in the queue for its next attempt.

        :returns: its new info, or None if it has ended or has no retry left.
        """
        key = keys.job_key(job_id)

        async def requeue(pipe: aioredis.client.Pipeline) -> dict | None:
            return queue_retry(pipe, job_id, await pipe.get(key))

        return await self.client.transaction(requeue, key, value_from_callable=True)
