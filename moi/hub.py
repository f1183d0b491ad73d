"""The pub/sub hub: one Redis subscription per server process, shared by its websockets.

The hub subscribes to a group's channel while at least one client of that group is
connected, and to the channels of that group's unfinished jobs (an ended job never
changes); so its cost grows with the active groups and their running jobs, not with the
number of open browser tabs or of finished jobs. A notice is read from
Redis once (one MGET for all notices that arrived together) and the same text is sent to
every client of the group.

Besides, the hub hears every group's ``add``/``remove`` actions, active or not (one
pattern subscription; job notices it also brings are dropped on arrival), and makes each
group's set agree, as PROTOCOL.md asks of a running server. :meth:`Hub.start` starts
that before the first client comes.

Ordering: every read whose result goes to clients (a join's snapshot, a batch of
notices) happens under one lock, one after the other, so a client never receives a job
state older than one it already has. Snapshots are read only after Redis confirmed the
subscriptions they depend on, so no change falls between the read and the subscription.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import socket
from collections.abc import Iterable
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from moi import keys, record
from moi.group import normalise_ids
from moi.keys import is_job_id
from moi.status import is_final

log = logging.getLogger(__name__)

# KEYS: a group's set. ARGV: TTL seconds (0 = none), then job IDs. SADD and, only if that
# added one, EXPIRE: in one step, so the set is never seen (or left) without its TTL.
_ADD_SCRIPT = """
local added = redis.call('SADD', KEYS[1], unpack(ARGV, 2))
if added > 0 and tonumber(ARGV[1]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return added
"""
ADD_CHUNK = 1000
"""IDs per script call: Lua's unpack() has a limit of a few thousand values."""

CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for Redis to confirm a (un)subscription before resetting the hub."""
KEEPALIVE = {
    option: value
    for option, value in (
        (getattr(socket, "TCP_KEEPIDLE", None), 30),
        (getattr(socket, "TCP_KEEPINTVL", None), 10),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
    )
    if option is not None
}


class Client(Protocol):
    """What the hub needs of a connected websocket."""

    group: str

    def send(self, data: bytes) -> None:
        """Queue a UTF-8 JSON message; must not block, may drop a broken client."""

    def send_all(self, messages: list[bytes]) -> None:
        """Queue a snapshot: like :meth:`send` for each, but never dropped for its size."""

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


def action(name: str, value) -> bytes:
    """A one-action message, encoded once for all the clients it goes to."""
    return json.dumps({name: value}, separators=(",", ":")).encode()


def group_actions(data: str) -> tuple[list[str], list[str]]:
    """The job IDs a group message adds and removes (only job IDs: the hub stores them).

    :raises ValueError: for a message that is not a JSON object of ``add``/``remove``.
    """
    try:
        actions = json.loads(data)
    except RecursionError:  # nested deeper than the parser goes: not ours either
        raise ValueError("nested too deeply") from None
    if not isinstance(actions, dict):
        raise ValueError("not an object")
    try:
        added = [i for i in normalise_ids(actions.get("add", [])) if is_job_id(i)]
        removed = [i for i in normalise_ids(actions.get("remove", [])) if is_job_id(i)]
    except TypeError as error:
        raise ValueError(str(error)) from None
    return added, removed


def stored_info(job_id: str, raw: str | None) -> dict | None:
    """The info object stored for ``job_id``, if it is one: a JSON object with that ID.

    Anything else (a missing record, another kind of value) is never sent to browsers.
    """
    info = record.decode(raw)
    return info if info is not None and info.get("id") == job_id else None


def update_message(raw_info: str) -> bytes:
    """The ``update`` message for a stored info object, spliced in without re-encoding.

    Only for text :func:`stored_info` accepted: one valid JSON object cannot break out
    of the message it is spliced into.
    """
    return b'{"update":' + raw_info.encode() + b"}"


class Hub:
    """Fans Redis notices out to websocket clients, grouped by moi group."""

    def __init__(self, redis_url: str, key_ttl: int = 0) -> None:
        self.redis_url = redis_url
        self.key_ttl = key_ttl
        self.clients: dict[str, set[Client]] = {}
        self.job_groups: dict[str, set[str]] = {}  # job ID → active groups holding it
        self._redis: aioredis.Redis | None = None
        self._add_script = None
        self._listener: aioredis.Redis | None = None
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._processor: asyncio.Task | None = None
        self._inbox: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        self._confirmations: dict[tuple[str, str], collections.deque[asyncio.Future]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._always = False  # listen with no clients too (start() was called)
        self._restarter: asyncio.Task | None = None
        self.listening = asyncio.Event()
        """Set while the hub hears every group's actions (after start, or a first client)."""

    async def start(self) -> None:
        """Listen from now on, clients or not, so idle groups' sets follow their actions.

        Without it the hub starts with its first client. After a lost Redis connection
        a started hub starts again by itself, as soon as Redis answers.
        """
        self._always = True
        async with self._lock:
            if self._closing:
                raise ConnectionError("the moi hub is closing")
            await self._start()

    # -- clients -------------------------------------------------------------------------

    async def join(self, client: Client) -> None:
        """Start sending ``client`` its group's changes, after a snapshot of the group."""
        async with self._lock:
            if self._closing:
                raise ConnectionError("the moi hub is closing")
            await self._start()
            group = client.group
            new = group not in self.clients
            if new:
                self.clients[group] = set()
            try:
                if new:
                    await self._subscribe([keys.group_channel(group)])
                await self._send_snapshot(client)
            except BaseException:
                if not self.clients.get(group):  # leave no half-joined group behind
                    with contextlib.suppress(Exception):
                        await self._forget_group(group)
                    self.clients.pop(group, None)
                raise
            self.clients[group].add(client)

    async def resend(self, client: Client) -> None:
        """Send the client its group's whole list again, as on join.

        Tornado hands a socket its next message only once this returns, so one client
        holds up the others by one snapshot at a time at most (the lock is first come,
        first served).
        """
        async with self._lock:
            await self._send_snapshot(client)

    def leave(self, client: Client) -> None:
        """Stop sending to ``client`` now; forget its group soon if it was the last one."""
        clients = self.clients.get(client.group)
        if clients is None:
            return
        clients.discard(client)
        if not clients and self._pubsub is not None and not self._closing:
            self._spawn(self._forget_if_idle(client.group))

    async def _forget_if_idle(self, group: str) -> None:
        async with self._lock:
            if self._closing or self._pubsub is None:
                return
            if group in self.clients and not self.clients[group]:
                await self._forget_group(group)

    async def remove(self, group: str, ids: Iterable[str]) -> list[str]:
        """Take the group's jobs ``ids`` out of it, if they are all in it.

        :returns: the IDs that are not in the group; if any, nothing was changed.
        """
        ids = normalise_ids(ids)
        redis = await self._client()
        members = await redis.smismember(keys.group_jobs_key(group), ids) if ids else []
        strangers = [job_id for job_id, member in zip(ids, members, strict=True) if not member]
        if strangers or not ids:
            return strangers
        async with redis.pipeline(transaction=True) as pipe:
            pipe.srem(keys.group_jobs_key(group), *ids)
            pipe.publish(keys.group_channel(group), action("remove", ids))
            await pipe.execute()
        return []

    @property
    def subscriptions(self) -> int:
        """How many channels the hub listens on."""
        return len(self._pubsub.channels) if self._pubsub is not None else 0

    async def close(self) -> None:
        """Stop listening and close the Redis connections (a later join starts afresh)."""
        self._always = False
        await self._close()

    async def _close(self) -> None:
        self._closing = True
        self.listening.clear()
        if self._restarter is not None and self._restarter is not asyncio.current_task():
            self._restarter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._restarter
        self._restarter = None
        for waiting in self._confirmations.values():
            for future in waiting:  # no reader will resolve them any more
                if not future.done():
                    future.set_exception(ConnectionError("the moi hub closed"))
        self._confirmations.clear()
        current = asyncio.current_task()
        tasks = [
            task
            for task in (*self._tasks, self._processor, self._reader)
            if task is not None and task is not current
        ]
        for task in tasks:  # cancel all first: a cancelled read drops the connection
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._reader = self._processor = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            await self._listener.aclose()
            self._pubsub = self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = self._add_script = None
        self.clients.clear()
        self.job_groups.clear()
        self._closing = False

    # -- Redis ---------------------------------------------------------------------------

    async def _client(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        return self._redis

    async def _start(self) -> None:
        if self._pubsub is None:
            # No silent reconnects: notices sent while the connection was down would be
            # lost unseen. A lost connection is an error, and every client resyncs.
            self._listener = aioredis.Redis.from_url(
                self.redis_url,
                decode_responses=True,
                retry=Retry(NoBackoff(), 0),
                socket_keepalive=True,  # notice a connection that died without a word
                socket_keepalive_options=KEEPALIVE,
            )
            self._pubsub = self._listener.pubsub()
        if not self._pubsub.patterns:
            await self._confirmed("psubscribe", [keys.ALL_CHANNELS], self._pubsub.psubscribe)
            self.listening.set()

    async def _subscribe(self, channels: list[str]) -> None:
        """Subscribe, and return once Redis has confirmed it (replies come in order)."""
        if channels:
            await self._confirmed("subscribe", channels, self._pubsub.subscribe)

    async def _unsubscribe(self, channels: list[str]) -> None:
        if channels:
            await self._confirmed("unsubscribe", channels, self._pubsub.unsubscribe)

    async def _confirmed(self, kind: str, channels: list[str], command) -> None:
        """Send ``command`` and wait for Redis to confirm its last channel.

        A confirmation that never comes means the connection can't be trusted: the hub
        resets (its clients reconnect and resync) rather than wait forever.
        """
        key = (kind, channels[-1])
        future = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(key, collections.deque()).append(future)
        try:
            await command(*channels)
            if self._reader is None:  # the connection exists once the first command is sent
                self._reader = asyncio.create_task(self._read(), name="moi-hub-reader")
                self._processor = asyncio.create_task(self._process(), name="moi-hub-processor")
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that arrives as the future completes, and close() would hang.
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await future
        except BaseException as error:
            waiting = self._confirmations.get(key)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._confirmations[key]
            if isinstance(error, TimeoutError):
                log.error("Redis did not confirm %s of %s; resetting the moi hub", kind, key[1])
                self._spawn(self._reset())
            raise

    def _spawn(self, coroutine) -> None:
        """Run ``coroutine`` in the background, holding a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the work in hand: groups being forgotten, a batch being handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._lock:
            pass

    async def _read(self) -> None:
        """Move messages off the pub/sub connection; resolve subscription confirmations."""
        try:
            while True:
                message = await self._pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind, channel = message["type"], message["channel"]
                if kind == "message":
                    self._inbox.put_nowait((channel, message["data"], False))
                elif kind == "pmessage":
                    # Keep a group's action; a job's notice matters only if subscribed.
                    if not is_job_id(channel.removesuffix(keys.CHANNEL_SUFFIX)):
                        self._inbox.put_nowait((channel, message["data"], True))
                elif waiting := self._confirmations.get((kind, channel)):
                    waiting.popleft().set_result(None)
                    if not waiting:
                        del self._confirmations[kind, channel]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("moi hub lost its Redis subscription; closing its websockets")
            self._spawn(self._reset())

    async def _reset(self) -> None:
        """After a lost connection: drop every client (they reconnect and resync)."""
        clients = [client for group in self.clients.values() for client in group]
        await self._close()
        for client in clients:
            with contextlib.suppress(Exception):
                client.close(1012, "moi hub restarting")
        if self._always and self._restarter is None:
            self._restarter = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        """Start again once Redis answers, waiting longer after each refusal (up to 30 s)."""
        delay = 0.5
        while True:
            try:
                async with self._lock:
                    await self._start()
                break
            except (OSError, aioredis.RedisError) as error:
                log.warning("moi hub cannot reach Redis (%s); retrying in %g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
        self._restarter = None

    async def _process(self) -> None:
        """Handle messages in batches: group actions first-come, job reads coalesced."""
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                async with self._lock:
                    await self._handle(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Its changes never reached the clients: have them reconnect and resync.
                log.exception("moi hub failed to handle %d messages; resetting", len(batch))
                self._spawn(self._reset())
                return

    async def _handle(self, batch: list[tuple[str, str, bool]]) -> None:
        dirty: dict[str, None] = {}
        for channel, data, by_pattern in batch:
            # Both kinds of channel are "<name>:pubsub": a group's, or a job's by its ID.
            name = channel.removesuffix(keys.CHANNEL_SUFFIX)
            if by_pattern:
                await self._agree(name, data)
            elif name in self.clients:
                await self._group_action(name, data, dirty)
            elif name in self.job_groups:
                dirty[name] = None
        if dirty:
            await self._broadcast_updates(list(dirty))

    async def _agree(self, group: str, data: str) -> None:
        """Make any group's set agree with an action heard on its channel.

        An active group's action also arrives on its own subscription, where
        :meth:`_group_action` does the same (both are idempotent) and tells its clients.
        """
        try:
            added, removed = group_actions(data)
        except ValueError:
            return  # another program's channel, or a bad message (logged if active)
        await self._store(group, added, removed)

    async def _store(self, group: str, added: list[str], removed: list[str]) -> None:
        """SADD/SREM; the set's TTL is set only if this added a job that was not in it.

        ``submit`` has stored its own jobs (with its own ``key_ttl``) before it announces
        them, so a server's TTL never overrides the submitter's.
        """
        redis = await self._client()
        group_set = keys.group_jobs_key(group)
        if self._add_script is None:
            self._add_script = redis.register_script(_ADD_SCRIPT)
        for start in range(0, len(added), ADD_CHUNK):
            chunk = added[start : start + ADD_CHUNK]
            await self._add_script(keys=[group_set], args=[self.key_ttl, *chunk])
        if removed:
            await redis.srem(group_set, *removed)

    async def _group_action(self, group: str, data: str, dirty: dict[str, None]) -> None:
        try:
            added, removed = group_actions(data)
        except ValueError as error:
            log.warning(
                "ignoring bad message on %s: %r (%s)", keys.group_channel(group), data, error
            )
            return
        # Stored before clients hear of it, so a snapshot taken next agrees.
        await self._store(group, added, removed)
        if added:
            await self._track(group, added)
            self._broadcast(group, action("add", added))
            dirty.update(dict.fromkeys(added))
        if removed:
            await self._untrack([group], removed)
            self._broadcast(group, action("remove", removed))
            for job_id in removed:
                if job_id not in self.job_groups:  # another group may still want it
                    dirty.pop(job_id, None)

    async def _track(self, group: str, ids: Iterable[str]) -> None:
        """Subscribe to the channels of the group's jobs that no active group had yet."""
        new = []
        for job_id in ids:
            groups = self.job_groups.setdefault(job_id, set())
            if not groups:
                new.append(keys.job_channel(job_id))
            groups.add(group)
        await self._subscribe(new)

    async def _untrack(self, groups: Iterable[str] | None, ids: Iterable[str]) -> None:
        """Stop following jobs for ``groups`` (None: for every group)."""
        gone = []
        for job_id in ids:
            held = self.job_groups.get(job_id)
            if held is None:
                continue
            if groups is None:
                held.clear()
            else:
                held.difference_update(groups)
            if not held:
                del self.job_groups[job_id]
                gone.append(keys.job_channel(job_id))
        await self._unsubscribe(gone)

    async def _forget_group(self, group: str) -> None:
        del self.clients[group]
        await self._unsubscribe([keys.group_channel(group)])
        held = [job_id for job_id, groups in self.job_groups.items() if group in groups]
        await self._untrack([group], held)

    async def _send_snapshot(self, client: Client) -> None:
        """Send the group's list; follow only its unfinished jobs (ended jobs never change).

        Ended jobs are read once. Unfinished ones are read again after their channels are
        subscribed, so a change between the first read and the subscription is not lost.
        """
        group = client.group
        redis = await self._client()
        ids = sorted(i for i in await redis.smembers(keys.group_jobs_key(group)) if is_job_id(i))
        raws = dict(zip(ids, await redis.mget([keys.job_key(i) for i in ids]), strict=True))
        expired = [job_id for job_id, raw in raws.items() if raw is None]
        if expired:
            await redis.srem(keys.group_jobs_key(group), *expired)
        infos = {job_id: stored_info(job_id, raw) for job_id, raw in raws.items()}
        running = [i for i, info in infos.items() if info and not is_final(info.get("status"))]
        if running:
            # Jobs the group already follows stay followed until their final notice, which
            # may be waiting in the inbox for the group's other clients.
            followed = {i for i in running if group in self.job_groups.get(i, ())}
            await self._track(group, running)
            again = await redis.mget([keys.job_key(i) for i in running])
            raws.update(zip(running, again, strict=True))
            infos.update((i, stored_info(i, raws[i])) for i in running)
            ended = [
                i
                for i in running
                if i not in followed and (not infos[i] or is_final(infos[i].get("status")))
            ]
            await self._untrack([group], ended)
        # Newest first, as lists show them by default, so a browser mostly appends rows.
        present = sorted(
            (job_id for job_id, info in infos.items() if info is not None),
            key=lambda job_id: str(infos[job_id].get("date_created") or ""),
            reverse=True,
        )
        client.send_all([action("add", present), *(update_message(raws[i]) for i in present)])

    async def _broadcast_updates(self, ids: list[str]) -> None:
        raws = await (await self._client()).mget([keys.job_key(i) for i in ids])
        done = []
        for job_id, raw in zip(ids, raws, strict=True):
            info = stored_info(job_id, raw)
            if info is None:
                continue
            message = update_message(raw)
            for group in self.job_groups.get(job_id, ()):
                self._broadcast(group, message)
            if is_final(info.get("status")):
                done.append(job_id)
        await self._untrack(None, done)

    def _broadcast(self, group: str, data: bytes) -> None:
        for client in list(self.clients.get(group, ())):
            client.send(data)
