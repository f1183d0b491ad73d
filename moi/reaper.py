"""The reaper: ends the jobs no engine will ever finish, whoever submitted them.

Each round it ends ``Failed``, with a reason that says what happened:

- every running job whose lease lapsed (:mod:`moi.lease`): its engine was killed,
  frozen, or cut off from Redis. A job with a retry left is sent again instead, from
  the call its submitter kept in ``moi:calls``: the submitter may be gone too. Its lost
  engine, should it wake, can no longer write to it (each write names its attempt);
- every queued job whose task the controller does not know: the controller restarted,
  and the task was lost with it (or the sender died before the task left it);
- every queued job that was never sent, ``write_retry`` seconds on: the process that
  submitted it stopped between storing it and sending it.

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
from datetime import datetime

import redis.asyncio as aioredis

from moi import controller, events, keys, metrics, record, runner
from moi.config import Settings
from moi.dispatch import Dispatcher, is_engine_death, task_failure_message
from moi.exceptions import ClusterError
from moi.retry import TRANSIENT
from moi.status import Status

log = logging.getLogger(__name__)

BATCH = 500
"""Jobs looked at per kind and round; the next round takes the rest."""

CLUSTER_TIMEOUT = 10.0
"""Seconds the controller has to answer which tasks it knows."""

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


LOST_TASK = (
    "The cluster's controller does not know this job's task: it was lost (the controller "
    "restarted, or the process that sent it stopped before the task left it), so the job "
    "would never run."
)
NEVER_SENT = (
    "The job was stored but never sent to the cluster (the process that submitted it "
    "stopped in between), so it would never run."
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
        self._cluster: Dispatcher | None = None
        self._tasks: set[asyncio.Task] = set()  # dealing with tasks it sent that failed
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
        """Let the lock go (another process takes over at once) and the cluster connection."""
        with contextlib.suppress(*TRANSIENT):
            await self._let_go(keys=[keys.REAPER_LOCK], args=[self._token])
        if self._cluster is not None:
            await self._cluster.close()
            self._cluster = None

    async def reap(self) -> list[str]:
        """One round; the IDs of the jobs it ended."""
        ended = await self.reap_lapsed()
        ended += await self.reap_queued()
        if ended:
            metrics.ENDED.labels(Status.FAILED.value).inc(len(ended))
        return ended

    async def reap_lapsed(self) -> list[str]:
        """End the running jobs whose lease lapsed, or send them again if they may be."""
        if not await self._leases_trusted():
            return []
        seconds, _ = await self.redis.time()
        lapsed = await self.redis.zrangebyscore(keys.LEASES, "-inf", seconds, start=0, num=BATCH)
        message = lapsed_message(self.settings.lease)
        ended, again = [], []
        for job_id in lapsed:
            current = record.decode(await self.redis.get(keys.job_key(job_id)))
            if current is None or current.get("status") == Status.QUEUED.value:
                continue  # expired, or already sent again: only the lease is left
            attempt = int(current.get("attempt") or 1)  # the attempt that lost its engine
            if await self._send_again(job_id, message, attempt):
                again.append(job_id)
            elif await self.writer.fail(job_id, message, attempt):
                ended.append(job_id)
        gone = set(lapsed) - set(ended) - set(again)  # ended meanwhile, expired, sent again
        if gone:
            await self.redis.zrem(keys.LEASES, *gone)
        if ended:
            log.warning("moi ended %d jobs whose engine stopped renewing its lease", len(ended))
        return ended

    async def _send_again(self, job_id: str, message: str, attempt: int | None = None) -> bool:
        """Put a job whose engine was lost (on ``attempt``, if given) back in the queue and
        send it again, if it has a retry left and its call is kept; whether it did (or
        ended it trying)."""
        stored = await self.redis.hget(keys.CALLS, job_id)
        if stored is None:
            return False
        info = await self.writer.retry(job_id, attempt)
        if info is None:  # ended meanwhile, or no retry left
            return False
        events.retried(info)
        packed = runner.repack(record.loaded_call(stored), info)
        try:
            why = await controller.reachable(self.settings)
            if why is not None:
                raise ClusterError(why)
            cluster = self._dispatcher()
            async with asyncio.timeout(CLUSTER_TIMEOUT):
                [future] = await cluster.send([packed])
        except Exception as error:  # the cluster is away: the job cannot wait for it
            if isinstance(error, TimeoutError):
                self._drop_cluster()
            reason = f"{message} It could not be sent again: {error!r}"
            if await self.writer.fail(job_id, reason, info["attempt"]):
                events.failed(job_id, info["group"], reason)
            return True
        await self.writer.sent({job_id: future.msg_ids[0]})
        future.add_done_callback(self._follow(info, cluster))
        return True

    def _follow(self, info: dict, cluster: Dispatcher):
        """What to do when a task this reaper sent comes back, on ipyparallel's I/O thread:
        count its end, or, if it failed outside the job's function, deal with that here,
        as its submitter would have (send it again if its engine died, else end it)."""
        loop = asyncio.get_running_loop()

        def done(future) -> None:
            error = future.exception()
            cluster.forget(future)
            if error is None:
                events.ended(info, future.result())
                return
            with contextlib.suppress(RuntimeError):  # the loop is closed: the lease decides
                loop.call_soon_threadsafe(self._spawn, info, error)

        return done

    def _spawn(self, info: dict, error: BaseException) -> None:
        task = asyncio.ensure_future(self._lost(info, error))
        self._tasks.add(task)  # held, or the loop might drop it before it ends
        task.add_done_callback(self._tasks.discard)

    async def _lost(self, info: dict, error: BaseException) -> None:
        job_id, attempt = info["id"], info["attempt"]
        message = task_failure_message(error)
        try:
            if is_engine_death(error) and await self._send_again(job_id, message, attempt):
                return
            if await self.writer.fail(job_id, message, attempt):
                events.failed(job_id, info["group"], message)
        except Exception:  # Redis is away: the job's lease or queue entry decides later
            log.exception("moi's reaper could not deal with the lost task of job %s", job_id)

    def _dispatcher(self) -> Dispatcher:
        if self._cluster is None:
            self._cluster = Dispatcher(self.settings)
        return self._cluster

    async def reap_queued(self) -> list[str]:
        """End the queued jobs that will never run: their task lost, or never sent."""
        entries = await self.redis.hgetall(keys.QUEUED)
        if not entries:
            return []
        job_ids = list(entries)[:BATCH]
        infos = [record.decode(raw) for raw in await self.redis.mget(job_ids)]
        stale, unsent, sent = [], [], {}
        now = time.time()
        for job_id, info in zip(job_ids, infos, strict=True):
            if info is None or info.get("status") != Status.QUEUED.value:
                stale.append(job_id)  # started (the engine dropped it first), ended, expired
                continue
            age = now - _timestamp(info.get("date_created"))
            task = entries[job_id]
            if not task and age > self.settings.write_retry + self.settings.lease:
                unsent.append(job_id)
            elif task and age > self.settings.lease:
                sent[task] = job_id
        if stale:
            await self.redis.hdel(keys.QUEUED, *stale)
        lost = [sent[task] for task in await self._unknown_tasks(list(sent))]
        ended = [job_id for job_id in lost if await self.writer.fail(job_id, LOST_TASK)]
        ended += [job_id for job_id in unsent if await self.writer.fail(job_id, NEVER_SENT)]
        if ended:
            log.warning("moi ended %d queued jobs the cluster would never run", len(ended))
        return ended

    async def _unknown_tasks(self, task_ids: list[str]) -> set[str]:
        """The tasks the controller does not know; none while it cannot be asked."""
        if not task_ids or await controller.reachable(self.settings) is not None:
            return set()
        try:
            async with asyncio.timeout(CLUSTER_TIMEOUT):
                return await self._dispatcher().unknown_tasks(task_ids)
        except Exception as error:
            # Down, or hung: a later round asks again, on a new connection.
            log.warning("moi's reaper cannot ask the cluster about queued jobs: %r", error)
            self._drop_cluster()
            return set()

    def _drop_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            task = asyncio.ensure_future(cluster.close())
            self._tasks.add(task)  # held, or the loop might drop it before it ends
            task.add_done_callback(self._tasks.discard)

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


def _timestamp(iso: object) -> float:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return 0.0
