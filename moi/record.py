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

import base64
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

# KEYS: job key, job channel, leases, queued, calls. ARGV: new info JSON, notice JSON, ttl
# seconds (0 = none), "1" if the job must already be stored, and the lease: "" to leave
# it, "end" to drop it (a final write; the job's stored call goes too), or N to hold it
# for N s from now on Redis's clock (the start; the job is then no longer queued), the
# job's ID, and the attempt that writes. Returns 1 when written, 0 when the stored job
# had already ended or is on a later attempt (or, with ARGV[4], is not stored).
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
    if ok and type(info) == 'table' then
        if FINAL[info.status] or (tonumber(info.attempt) or 1) > tonumber(ARGV[7]) then
            return 0
        end
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
    redis.call('HDEL', KEYS[5], job_id)
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

# KEYS: queued, the group's set, calls, then each job's key. ARGV: ttl seconds (0 =
# none), the group's channel, its add notice, then each job's ID, info JSON and stored
# call ("" for none), in the keys' order.
_CREATE_SCRIPT = (
    groupset.LUA_ADD
    + """
local ttl = tonumber(ARGV[1])
local ids = {}
local calls = false
for i = 4, #ARGV, 3 do
    local job_key = KEYS[3 + (i - 1) / 3]
    if ttl > 0 then
        redis.call('SET', job_key, ARGV[i + 1], 'EX', ttl)
    else
        redis.call('SET', job_key, ARGV[i + 1])
    end
    redis.call('HSET', KEYS[1], ARGV[i], '')
    if ARGV[i + 2] ~= '' then
        redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
        calls = true
    end
    ids[#ids + 1] = ARGV[i]
end
if ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
    if calls then
        redis.call('EXPIRE', KEYS[3], ttl)
    end
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


_JOB_SETS = (keys.LEASES, keys.QUEUED, keys.CALLS)


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


def create_call(
    infos: list[dict[str, Any]], ttl: int, calls: dict[str, bytes] | None = None
) -> tuple[list[str], list]:
    """The keys and arguments of the script that stores new jobs of one group as
    ``Queued`` (each in ``moi:queued``), adds them to their group and announces them
    there in one ``add``; and, for the jobs in ``calls``, stores their packed call in
    ``moi:calls`` (:func:`stored_call`)."""
    [group] = {info["group"] for info in infos}
    ids = [info["id"] for info in infos]
    calls = calls or {}
    script_keys = [keys.QUEUED, keys.group_jobs_key(group), keys.CALLS, *map(keys.job_key, ids)]
    args: list = [ttl, keys.group_channel(group), groupset.add_notice(ids)]
    for info in infos:
        call = calls.get(info["id"])
        args += [info["id"], encode(info), stored_call(call) if call is not None else ""]
    return script_keys, args


def stored_call(packed: bytes) -> str:
    """A job's packed call as ``moi:calls`` holds it: base64, so that any client, one that
    decodes replies as text included, can read it back (:func:`loaded_call`)."""
    return base64.b64encode(packed).decode("ascii")


def loaded_call(stored: str | bytes) -> bytes:
    return base64.b64decode(stored)


def sent_args(tasks: dict[str, str]) -> list[str]:
    """The arguments of the script that records which task carries each sent job."""
    return [value for pair in tasks.items() for value in pair]


def queue_end(
    pipe: groupset.Pipeline,
    job_id: str,
    raw: str | bytes | None,
    status: Status,
    message: str,
    attempt: int | None = None,
) -> bool:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` ends ``status`` with ``message``.

    The one body of every end written from outside the job's engine (a failure its
    engine could not report, a cancel, a time limit); it keeps the record's TTL and
    everything an engine wrote. A cancel is also announced on ``moi:cancels``, where the
    engine running the job hears it and interrupts the function (:mod:`moi.stopper`).

    :param attempt: end the job only while it is on this attempt (an end that a lost
        attempt's task brings must not end the next attempt).
    :returns: False, queuing nothing, if the job is not stored, has ended already, or
        is not on ``attempt``.
    """
    info = _open_job(raw, attempt)
    if info is None:
        return False
    info.update(status=status.value, result=message, date_end=now())
    _queue_rewrite(pipe, job_id, info, queued=False)
    if status is Status.CANCELLED:
        pipe.publish(keys.CANCELS, json.dumps({"cancel": job_id}))
    return True


def queue_retry(
    pipe: groupset.Pipeline, job_id: str, raw: str | bytes | None, attempt: int | None = None
) -> dict | None:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` waits ``Queued`` again, on
    its next attempt, since its engine died or went silent.

    :returns: the job's new info, or None (queuing nothing) if it has ended, has used
        all its retries, or is not on ``attempt`` (another process sent it again first).
    """
    info = _open_job(raw, attempt)
    if info is None:
        return None
    attempt = int(info.get("attempt") or 1)
    if attempt > int(info.get("retries") or 0):
        return None
    info.update(status=Status.QUEUED.value, attempt=attempt + 1, date_start=None)
    info.pop("progress", None)
    _queue_rewrite(pipe, job_id, info, queued=True)
    return info


def _open_job(raw: str | bytes | None, attempt: int | None = None) -> dict[str, Any] | None:
    """The stored job ``raw`` if it is one that has not ended yet (on ``attempt``, if given)."""
    info = decode(raw)
    if info is None or is_final(info.get("status")):
        return None
    if attempt is not None and int(info.get("attempt") or 1) != attempt:
        return None
    return info


def _queue_rewrite(pipe: groupset.Pipeline, job_id: str, info: dict, *, queued: bool) -> None:
    """Queue the transaction that stores ``info`` (keeping the record's TTL), drops the
    job's lease, puts it in ``moi:queued`` (waiting again) or takes it out with its stored
    call (an end), and announces the new status."""
    pipe.multi()
    pipe.set(keys.job_key(job_id), encode(info), keepttl=True)
    pipe.zrem(keys.LEASES, job_id)
    if queued:
        pipe.hset(keys.QUEUED, job_id, "")
    else:
        pipe.hdel(keys.QUEUED, job_id)
        pipe.hdel(keys.CALLS, job_id)
    pipe.publish(keys.job_channel(job_id), NOTICE_STATUS)


class Writer:
    """Runs the update script on one Redis client; keep one per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_UPDATE_SCRIPT)
        self._create = client.register_script(_CREATE_SCRIPT)
        self._sent = client.register_script(_SENT_SCRIPT)

    def create(
        self, infos: list[dict[str, Any]], ttl: int, calls: dict[str, bytes] | None = None
    ) -> None:
        """Store new jobs of one group, add them to it, and announce them: one atomic step.

        :param ttl: seconds the records and the group's set live (0: for ever).
        :param calls: the packed call of each job (by ID) that may be sent again, kept
            until it ends so that any process can send it again (:mod:`moi.reaper`).
        """
        script_keys, args = create_call(infos, ttl, calls)
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
        """Store ``info`` and publish its notice, unless the stored job has already ended
        or is on a later attempt than ``info`` (the engine of an earlier one was given up
        for lost, and woke).

        An engine recreates a record that expired while its job ran (the final state is
        never lost); ``must_exist`` refuses to create one instead. ``lease`` is the
        seconds of the lease a starting job takes, or "end" for a final write.

        :returns: whether it was written.
        """
        notice = NOTICE_STATUS if status_changed else NOTICE_OTHER
        job_id = info["id"]
        attempt = int(info.get("attempt") or 1)
        written = self._script(
            keys=[keys.job_key(job_id), keys.job_channel(job_id), *_JOB_SETS],
            args=[encode(info), notice, ttl, "1" if must_exist else "0", lease, job_id, attempt],
        )
        return bool(written)

    def sent(self, tasks: dict[str, str]) -> None:
        """Record the ipyparallel task that carries each job (by job ID) just sent."""
        self._sent(keys=[keys.QUEUED], args=sent_args(tasks))

    def end(self, job_id: str, status: Status, message: str, attempt: int | None = None) -> bool:
        """End a job ``status`` (``Failed``, ``Cancelled``) with ``message``, unless it has
        already ended (or, with ``attempt``, is on another attempt).

        Used from outside the job's engine: when the engine could not report the end
        itself, or to stop the job. An optimistic transaction (WATCH, then MULTI/EXEC,
        retried if the job changed in between), so a progress or date an engine writes
        meanwhile is kept, not lost, and a job never ends twice. The record keeps its TTL.

        :returns: whether it was written.
        """
        key = keys.job_key(job_id)

        def end(pipe: redis.client.Pipeline) -> bool:
            return queue_end(pipe, job_id, pipe.get(key), status, message, attempt)

        return self.client.transaction(end, key, value_from_callable=True)

    def fail(self, job_id: str, message: str, attempt: int | None = None) -> bool:
        """:meth:`end` the job ``Failed``."""
        return self.end(job_id, Status.FAILED, message, attempt)


class AsyncWriter:
    """The writes of :class:`Writer` that code on an event loop makes."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._create = client.register_script(_CREATE_SCRIPT)
        self._sent = client.register_script(_SENT_SCRIPT)

    async def create(
        self, infos: list[dict[str, Any]], ttl: int, calls: dict[str, bytes] | None = None
    ) -> None:
        """See :meth:`Writer.create`."""
        script_keys, args = create_call(infos, ttl, calls)
        await self._create(keys=script_keys, args=args)

    async def sent(self, tasks: dict[str, str]) -> None:
        """See :meth:`Writer.sent`."""
        await self._sent(keys=[keys.QUEUED], args=sent_args(tasks))

    async def end(
        self, job_id: str, status: Status, message: str, attempt: int | None = None
    ) -> bool:
        """See :meth:`Writer.end`."""
        key = keys.job_key(job_id)

        async def end(pipe: aioredis.client.Pipeline) -> bool:
            return queue_end(pipe, job_id, await pipe.get(key), status, message, attempt)

        return await self.client.transaction(end, key, value_from_callable=True)

    async def fail(self, job_id: str, message: str, attempt: int | None = None) -> bool:
        """See :meth:`Writer.fail`."""
        return await self.end(job_id, Status.FAILED, message, attempt)

    async def cancel(self, job_id: str, by: str | None) -> bool:
        """:meth:`end` the job ``Cancelled``, saying who cancelled it and when."""
        return await self.end(job_id, Status.CANCELLED, cancel_message(by))

    async def retry(self, job_id: str, attempt: int | None = None) -> dict | None:
        """Put a job whose engine died or went silent back in the queue for its next
        attempt.

        :param attempt: the attempt that was lost; None for whichever the job is on.
        :returns: its new info, or None if it has ended, has no retry left, or is not on
            ``attempt``.
        """
        key = keys.job_key(job_id)

        async def requeue(pipe: aioredis.client.Pipeline) -> dict | None:
            return queue_retry(pipe, job_id, await pipe.get(key), attempt)

        return await self.client.transaction(requeue, key, value_from_callable=True)
