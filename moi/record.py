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
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis

from moi import groupset, keys, queue
from moi.exceptions import QueueFull
from moi.status import FINAL_STATUSES, Status, is_final

NOTICE_STATUS = json.dumps({"update": "status"})
NOTICE_OTHER = json.dumps({"update": None})

# KEYS: job key, job channel, leases, calls, the group's running set. ARGV: new info JSON,
# notice JSON, ttl seconds (0 = none), "1" if the job must already be stored, and the
# lease: "" to leave it, "end" to drop it (a final write; the job's stored call goes too,
# and it leaves its group's running set), or N to hold it for N s from now on Redis's
# clock (the start), the job's ID, and the attempt that writes. Returns 1 when written, 0
# when the stored job had already ended or is on a later attempt (or, with ARGV[4], is
# not stored).
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
    redis.call('SREM', KEYS[5], job_id)
elseif ARGV[5] ~= '' then
    local clock = redis.call('TIME')
    redis.call('ZADD', KEYS[3], tonumber(clock[1]) + tonumber(ARGV[5]), job_id)
    if tonumber(ARGV[3]) > 0 then
        redis.call('EXPIRE', KEYS[3], ARGV[3])
    end
end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: the group's set, calls, then each job's key. ARGV: ttl seconds (0 = none), the
# group's channel, its add notice, the group, the most jobs it may have waiting (0: no
# limit), then each job's ID, info JSON and stored call, in the keys' order. Returns the
# number of jobs stored, or -1 (storing nothing) if they would pass the limit.
_CREATE_SCRIPT = (
    groupset.LUA_ADD
    + queue.LUA_QUEUE_ADD
    + """
local ttl = tonumber(ARGV[1])
local group = ARGV[4]
local most = tonumber(ARGV[5])
if most > 0 and redis.call('ZCARD', '"""
    + keys.QUEUE_PREFIX
    + """' .. group) + (#ARGV - 5) / 3 > most then
    return -1
end
local ids = {}
for i = 6, #ARGV, 3 do
    local job_key = KEYS[3 + (i - 6) / 3]
    if ttl > 0 then
        redis.call('SET', job_key, ARGV[i + 1], 'EX', ttl)
    else
        redis.call('SET', job_key, ARGV[i + 1])
    end
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
    ids[#ids + 1] = ARGV[i]
end
if ttl > 0 then
    redis.call('EXPIRE', KEYS[2], ttl)
end
group_add(KEYS[1], ids, ttl, ARGV[2], ARGV[3])
queue_add(group, ids, false)
return #ids
"""
)

_JOB_SETS = (keys.LEASES, keys.CALLS)


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
    infos: list[dict[str, Any]], ttl: int, calls: dict[str, bytes], max_queued: int = 0
) -> tuple[list[str], list]:
    """The keys and arguments of the script that stores new jobs of one group as
    ``Queued`` with their packed calls (:func:`stored_call`), puts them at the back of
    their group's queue (:mod:`moi.queue`), adds them to their group and announces them
    there in one ``add``."""
    [group] = {info["group"] for info in infos}
    ids = [info["id"] for info in infos]
    script_keys = [keys.group_jobs_key(group), keys.CALLS, *map(keys.job_key, ids)]
    args: list = [ttl, keys.group_channel(group), groupset.add_notice(ids), group, max_queued]
    for info in infos:
        args += [info["id"], encode(info), stored_call(calls[info["id"]])]
    return script_keys, args


def check_created(stored: int, group: str, max_queued: int) -> None:
    if stored < 0:
        raise QueueFull(group, max_queued)


def stored_call(packed: bytes) -> str:
    """A job's packed call as ``moi:calls`` holds it: base64, so that any client, one that
    decodes replies as text included, can read it back (:func:`loaded_call`)."""
    return base64.b64encode(packed).decode("ascii")


def loaded_call(stored: str | bytes) -> bytes:
    return base64.b64decode(stored)


def update_keys(info: dict[str, Any]) -> list[str]:
    """The keys of the update script for this job."""
    job_id = info["id"]
    running = keys.running_key(str(info.get("group", "")))
    return [keys.job_key(job_id), keys.job_channel(job_id), *_JOB_SETS, running]


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
    everything an engine wrote. A waiting job leaves its queue at once. A cancel is also
    announced on ``moi:cancels``, where the engine running the job hears it and
    interrupts the function (:mod:`moi.stopper`).

    :param attempt: end the job only while it is on this attempt (an end that a lost
        attempt's task brings must not end the next attempt).
    :returns: False, queuing nothing, if the job is not stored, has ended already, or
        is not on ``attempt``.
    """
    info = _open_job(raw, attempt)
    if info is None:
        return False
    info.update(status=status.value, result=message, date_end=now())
    _queue_rewrite(pipe, job_id, info, waiting=False)
    if status is Status.CANCELLED:
        pipe.publish(keys.CANCELS, json.dumps({"cancel": job_id}))
    return True


def queue_retry(
    pipe: groupset.Pipeline,
    job_id: str,
    raw: str | bytes | None,
    attempt: int | None = None,
    *,
    consume: bool = True,
) -> dict | None:
    """Queue on a WATCHing pipeline: the job stored as ``raw`` waits ``Queued`` again, at
    the front of its group's queue, on its next attempt, since its engine died or went
    silent. The attempt fences the lost engine: its late writes change nothing.

    :param consume: whether this uses one of the job's retries; not for a job its
        engine took but never started (counted in its ``requeues``).
    :returns: the job's new info, or None (queuing nothing) if it has ended, has used
        all its retries, or is not on ``attempt`` (another process put it back first).
    """
    info = _open_job(raw, attempt)
    if info is None:
        return None
    attempt = int(info.get("attempt") or 1)
    requeues = int(info.get("requeues") or 0)
    if consume and attempt - requeues > int(info.get("retries") or 0):
        return None
    if not consume:
        info["requeues"] = requeues + 1
    info.update(status=Status.QUEUED.value, attempt=attempt + 1, date_start=None)
    info.pop("progress", None)
    _queue_rewrite(pipe, job_id, info, waiting=True)
    return info


def _open_job(raw: str | bytes | None, attempt: int | None = None) -> dict[str, Any] | None:
    """The stored job ``raw`` if it is one that has not ended yet (on ``attempt``, if given)."""
    info = decode(raw)
    if info is None or is_final(info.get("status")):
        return None
    if attempt is not None and int(info.get("attempt") or 1) != attempt:
        return None
    return info


def _queue_rewrite(pipe: groupset.Pipeline, job_id: str, info: dict, *, waiting: bool) -> None:
    """Queue the transaction that stores ``info`` (keeping the record's TTL), drops the
    job's lease and its place among its group's running jobs, and either puts it back at
    the front of its group's queue (waiting again) or takes it out of the queue with its
    stored call (an end); then announces the new status."""
    group = str(info.get("group", ""))
    pipe.multi()
    pipe.set(keys.job_key(job_id), encode(info), keepttl=True)
    pipe.zrem(keys.LEASES, job_id)
    pipe.srem(keys.running_key(group), job_id)
    if waiting:
        pipe.zadd(keys.queue_key(group), {job_id: queue.requeue_score(time.time())})
        pipe.zadd(keys.READY, {group: -1}, nx=True)
        pipe.publish(keys.WAKE, group)
    else:
        pipe.zrem(keys.queue_key(group), job_id)
        pipe.hdel(keys.CALLS, job_id)
    pipe.publish(keys.job_channel(job_id), NOTICE_STATUS)


def lost_change(
    pipe: groupset.Pipeline, job_id: str, raw: str | bytes | None, attempt: int, message: str
) -> str | None:
    """Queue on a WATCHing pipeline what becomes of a job whose engine was lost on
    ``attempt``: back to its queue if the engine never started it (no retry used), again
    if it has a retry left, else ``Failed`` with ``message``.

    :returns: "requeued", "retried", "failed", or None if the job is no longer on that
        attempt or has ended (someone dealt with it first).
    """
    info = _open_job(raw, attempt)
    if info is None:
        return None
    if info.get("status") == Status.QUEUED.value:
        return "requeued" if queue_retry(pipe, job_id, raw, attempt, consume=False) else None
    if queue_retry(pipe, job_id, raw, attempt) is not None:
        return "retried"
    return "failed" if queue_end(pipe, job_id, raw, Status.FAILED, message, attempt) else None


class Writer:
    """Runs moi's scripts on one Redis client; keep one per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_UPDATE_SCRIPT)
        self._create = client.register_script(_CREATE_SCRIPT)
        self._claim = client.register_script(queue.CLAIM_SCRIPT)

    def create(
        self,
        infos: list[dict[str, Any]],
        ttl: int,
        calls: dict[str, bytes],
        max_queued: int = 0,
    ) -> None:
        """Store new jobs of one group with their calls, queue them, add them to the
        group, and announce them: one atomic step.

        :param ttl: seconds the records and the group's set live (0: for ever).
        :param calls: the packed call of each job, by ID; kept until the job ends, so
            that any engine can run it, and run it again (:mod:`moi.reaper`).
        :raises QueueFull: if the group would have more than ``max_queued`` (> 0) jobs
            waiting; then nothing is stored.
        """
        script_keys, args = create_call(infos, ttl, calls, max_queued)
        check_created(self._create(keys=script_keys, args=args), infos[0]["group"], max_queued)

    def claim(
        self, fence: str, task: str, most: int, max_running: int, lease: int
    ) -> int | list[tuple[dict[str, Any], bytes]]:
        """Take the next jobs to run (:data:`moi.queue.CLAIM_SCRIPT`): up to ``most``
        of one group, each with its packed call; or the script's answer when none."""
        answer = self._claim(args=[fence, task, most, max_running, lease])
        if isinstance(answer, int):
            return answer
        taken = []
        for raw, call in zip(answer[::2], answer[1::2], strict=True):
            info = decode(raw)
            if info is not None:
                taken.append((info, loaded_call(call)))
        return taken

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
        attempt = int(info.get("attempt") or 1)
        exist = "1" if must_exist else "0"
        written = self._script(
            keys=update_keys(info),
            args=[encode(info), notice, ttl, exist, lease, info["id"], attempt],
        )
        return bool(written)

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

    def lost(self, job_id: str, attempt: int, message: str) -> str | None:
        """Deal with a job whose engine was lost on ``attempt`` (:func:`lost_change`)."""
        key = keys.job_key(job_id)

        def change(pipe: redis.client.Pipeline) -> str | None:
            return lost_change(pipe, job_id, pipe.get(key), attempt, message)

        return self.client.transaction(change, key, value_from_callable=True)


class AsyncWriter:
    """The writes of :class:`Writer` that code on an event loop makes."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._create = client.register_script(_CREATE_SCRIPT)

    async def create(
        self,
        infos: list[dict[str, Any]],
        ttl: int,
        calls: dict[str, bytes],
        max_queued: int = 0,
    ) -> None:
        """See :meth:`Writer.create`."""
        script_keys, args = create_call(infos, ttl, calls, max_queued)
        stored = await self._create(keys=script_keys, args=args)
        check_created(stored, infos[0]["group"], max_queued)

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

    async def lost(self, job_id: str, attempt: int, message: str) -> str | None:
        """See :meth:`Writer.lost`."""
        key = keys.job_key(job_id)

        async def change(pipe: aioredis.client.Pipeline) -> str | None:
            return lost_change(pipe, job_id, await pipe.get(key), attempt, message)

        return await self.client.transaction(change, key, value_from_callable=True)
