"""moi's queue: where jobs wait, in Redis, and how the next one is chosen.

A job waits in its group's queue (``moi:queue:<group>``, a sorted set scored by the order
of submits: FIFO within a group) until an engine takes it. Groups take turns
(``moi:ready``, scored by the turn each was last served in): an engine always takes from
the group served longest ago, so one user's thousand jobs and another's one share the
engines job by job (round-robin, as a fair-share scheduler with equal shares). A group
already running ``[jobs] max_running_per_group`` jobs is passed over until one ends.

Engines pull (:func:`moi.runner.serve`): the dispatcher (:mod:`moi.dispatch`) only keeps
one task per engine asking for work, so the choice is made the moment an engine is free,
and ipyparallel's own queue never holds a job: a controller that restarts loses none.
Taking is one script, so no job is ever taken twice; a taken job holds a lease from that
moment, so a job whose engine dies before starting it goes back to its queue.

The key names are built inside the scripts (a group's queue cannot be declared before the
group is chosen), so moi needs one Redis server or a Sentinel-watched one, not a Cluster.
"""

from __future__ import annotations

from typing import Any

from moi import keys

# Puts job IDs at the back of their group's queue (or at its front, for jobs that ran
# before and lost their engine); a group that had no jobs waiting gets a turn, and its
# wake-up goes to the dispatcher and to idle engines.
LUA_QUEUE_ADD = f"""
local function queue_add(group, ids, front)
    local queue = '{keys.QUEUE_PREFIX}' .. group
    local last = redis.call('INCRBY', '{keys.SEQUENCE}', #ids)
    local first = last - #ids
    for i, id in ipairs(ids) do
        local score = first + i
        if front then
            score = score - 1e15
        end
        redis.call('ZADD', queue, score, id)
    end
    if not redis.call('ZSCORE', '{keys.READY}', group) then
        local turn = tonumber(redis.call('GET', '{keys.TURN}') or '0')
        -- Ahead of the group just served, behind those waiting longer: round-robin.
        redis.call('ZADD', '{keys.READY}', front and -1 or turn - 0.5, group)
        -- Only when the group starts to wait: while it waits, engines keep taking its jobs.
        redis.call('PUBLISH', '{keys.WAKE}', group)
    end
end
"""

FENCED, NOTHING, AGAIN = -1, 0, 1
"""What the claim script answers instead of jobs: the dispatcher that sent this task
no longer holds the lock (this task's engine should stop asking), nothing may be taken
now, or ask once more."""

# ARGV: fence, task ID, most jobs to take, max running per group (0: no limit), lease
# seconds. Answers FENCED, NOTHING, AGAIN, or each taken job's info JSON and stored call.
CLAIM_SCRIPT = f"""
-- Only while the dispatcher that sent this task holds the lock: not after it let go
-- (an empty value), nor while no one holds it (it died, or Redis lost its keys).
if redis.call('GET', '{keys.DISPATCHER_LOCK}') ~= ARGV[1] then
    return {FENCED}
end
local most = tonumber(ARGV[3])
local max_running = tonumber(ARGV[4])
local picked, others = nil, false
for _, group in ipairs(redis.call('ZRANGE', '{keys.READY}', 0, -1)) do
    if redis.call('EXISTS', '{keys.QUEUE_PREFIX}' .. group) == 0 then
        redis.call('ZREM', '{keys.READY}', group)
    elseif max_running > 0
        and redis.call('SCARD', '{keys.RUNNING_PREFIX}' .. group) >= max_running then
        -- passed over: as many of its jobs run as it may
    elseif picked then
        others = true
        break
    else
        picked = group
    end
end
if not picked then
    return {NOTHING}
end
local running = '{keys.RUNNING_PREFIX}' .. picked
-- Several at once only while no other group waits: a chunk never makes anyone wait.
local take = others and 1 or most
if max_running > 0 then
    take = math.min(take, max_running - redis.call('SCARD', running))
end
local queue = '{keys.QUEUE_PREFIX}' .. picked
local popped = redis.call('ZPOPMIN', queue, take)
if redis.call('EXISTS', queue) == 0 then
    redis.call('ZREM', '{keys.READY}', picked)
else
    redis.call('ZADD', '{keys.READY}', redis.call('INCR', '{keys.TURN}'), picked)
end
local clock = redis.call('TIME')
local until_ = tonumber(clock[1]) + tonumber(ARGV[5])
local taken, serving = {{}}, {{}}
for i = 1, #popped, 2 do
    local id = popped[i]
    local raw = redis.call('GET', id)
    local call = redis.call('HGET', '{keys.CALLS}', id)
    local ok, info = false, nil
    if raw then
        ok, info = pcall(cjson.decode, raw)
    end
    if ok and type(info) == 'table' and info.status == 'Queued' and call then
        redis.call('ZADD', '{keys.LEASES}', until_, id)
        redis.call('SADD', running, id)
        taken[#taken + 1] = raw
        taken[#taken + 1] = call
        serving[#serving + 1] = id .. ':' .. (tonumber(info.attempt) or 1)
    else
        redis.call('HDEL', '{keys.CALLS}', id)  -- it expired, or ended, while it waited
    end
end
if #serving == 0 then
    return {AGAIN}
end
redis.call('HSET', '{keys.SERVING}', ARGV[2], table.concat(serving, ' '))
return taken
"""


def serving_jobs(value: str | None) -> list[tuple[str, int]]:
    """The ``(job ID, attempt)`` pairs of a ``moi:serving`` value."""
    pairs = []
    for item in (value or "").split():
        job_id, _, attempt = item.rpartition(":")
        if job_id and attempt.isdigit():
            pairs.append((job_id, int(attempt)))
    return pairs


def requeue_score(seconds: float) -> float:
    """The score of a job put back in its queue: ahead of every job never run, in the
    order they were put back (the script's ``front``)."""
    return seconds - 1e15


async def waiting(redis: Any, group: str | None = None) -> int:
    """How many jobs wait in ``group``'s queue, or in every queue."""
    if group is not None:
        return int(await redis.zcard(keys.queue_key(group)))
    groups = await redis.zrange(keys.READY, 0, -1)
    if not groups:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for name in groups:
            pipe.zcard(keys.queue_key(name))
        return sum(await pipe.execute())


async def ahead(redis: Any, group: str, job_id: str) -> int | None:
    """How many of the group's jobs wait ahead of this one (None: it is not waiting)."""
    rank = await redis.zrank(keys.queue_key(group), job_id)
    return None if rank is None else int(rank)
