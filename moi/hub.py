"""The pub/sub hub: one Redis subscription per server process, shared by its websockets.

The hub follows a group's channel while at least one client of that group is connected,
and the channels of that group's unfinished jobs (an ended job never changes); so its
cost grows with the active groups and their running jobs, not with the open browser
tabs or the finished jobs. Each active group has a :class:`Feed`: its clients, and one
task that reads and sends the group's changes in order. A notice is read from Redis once
per group (one MGET for all the notices that arrived together) and the same bytes go to
every client of the group. Groups never wait for each other: a big group's snapshot
holds up that group alone.

Besides, the hub hears every group's ``add``/``remove`` actions, active or not (one
pattern subscription; job notices it also brings are dropped on arrival), and makes each
group's set agree, as PROTOCOL.md asks of a running server. :meth:`Hub.start` starts
that before the first client comes.

A job's output (``moi:follow``) goes only to the sockets that follow it: the hub hands
its output channels' messages to :class:`moi.follow.Follows`, which keeps its own order.
The cluster's state (``moi:cluster``) goes only to the sockets that watch it
(:class:`moi.clusterfeed.ClusterFeed`). Actions on many jobs go through them a chunk at
a time (:mod:`moi.bulk`).

Ordering: within a group, every read whose result goes to clients (a snapshot, a batch of
notices) is made by the group's task, one after the other, so a client never receives a
job state older than one it already has. A snapshot goes out a part at a time, newest
jobs first, and all of it before the group's next notices. Unfinished jobs' states are
read (again) only after Redis confirmed their subscriptions, so no change falls between
the read and the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Iterable
from typing import Protocol

import redis.asyncio as aioredis

from moi import bulk, connections, events, groupset, keys, metrics
from moi.clusterfeed import ClusterFeed
from moi.follow import Follows
from moi.keys import is_job_id
from moi.messages import (
    action,
    created,
    group_actions,
    ids_action,
    normalise_ids,
    stored_info,
    update_list_message,
    update_message,
)
from moi.retry import TRANSIENT
from moi.status import is_final
from moi.subscription import Subscription

log = logging.getLogger(__name__)

RESTART_DELAYS = (0.1, 0.25)
"""First and longest wait between attempts to reach Redis again after losing it: one
process's attempt costs Redis nothing, and pages wait for the hub (moi.js's probe)."""
ADMIT_RATE = 1000
"""Pages a second that :meth:`Hub.until_available` lets go when the hub is back."""
ADMIT_SPREAD_MAX = 2.0
"""Seconds over which it lets them go, at most."""
SNAPSHOT_LIST = 1000
"""Info objects per ``update`` message of a snapshot, at most: a 100,000-job list in 100
messages (it reached a client over the websocket in 0.95 s, from 3.6 s as one message a
job), each small enough for a browser to take within a frame or two."""
SNAPSHOT_LIST_BYTES = 1024 * 1024
"""Bytes of info objects per such message, at most (a larger info goes alone): clients
limit a message's size (Tornado's to 10 MiB by default)."""
SNAPSHOT_READ = 5000
"""Records per MGET of a snapshot, all of them under way together: Redis reads some while
the hub takes in others, and none holds the event loop more than a few ms. 100,000 jobs
read and dated in 250 ms from 265 as one MGET on a quiet 2-core machine, 270 from 380 on
a busy one."""
LIVE_LISTS_FROM = 100
"""Jobs changed together (read in one batch) from which their updates go as lists, as a
snapshot's do; fewer go one message each, as they always did."""


class Client(Protocol):
    """What the hub needs of a connected websocket."""

    group: str

    def send(self, data: bytes) -> object:
        """Queue a UTF-8 JSON message; must not block, may drop a broken client."""

    def send_all(self, messages: list[bytes]) -> None:
        """Queue a snapshot: like :meth:`send` for each, but never dropped for its size."""

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Feed:
    """One active group: its clients, and the task that sends them its changes in order."""

    def __init__(self, hub: Hub, group: str) -> None:
        self.hub = hub
        self.group = group
        self.clients: set[Client] = set()
        self.retiring = False
        self._actions: list[str] = []  # the group channel's messages, in order
        self._dirty: dict[str, None] = {}  # jobs whose notices came, in order
        self._snapshots: dict[Client, asyncio.Future | None] = {}  # a future for a joiner
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    # -- called by the hub, never blocking ------------------------------------------------

    def action(self, data: str) -> None:
        self._actions.append(data)
        self._poke()

    def changed(self, job_id: str) -> None:
        self._dirty[job_id] = None
        self._poke()

    def snapshot(self, client: Client, joined: asyncio.Future | None = None) -> None:
        """Send ``client`` the whole list (again); repeated asks before it goes out are one."""
        if joined is not None or client not in self._snapshots:
            self._snapshots[client] = joined
            self._poke()

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        joined = self._snapshots.pop(client, None)
        if joined is not None and not joined.done():
            joined.cancel()
        self._poke()

    def _poke(self) -> None:
        self.idle.clear()
        self._wake.set()

    # -- the group's task ----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self.hub._follow([keys.group_channel(self.group)])
            while self.clients or self._snapshots:
                await self._wake.wait()
                self._wake.clear()
                await self._work()
                if not self._wake.is_set():
                    self.idle.set()
        except asyncio.CancelledError:
            self._fail_joiners(ConnectionError("the moi hub closed"))
            raise
        except Exception as error:
            # Its changes never reached the clients: have them reconnect and resync. Redis
            # going away is an outage, logged as one; anything else is a fault of ours.
            log.log(
                logging.WARNING if isinstance(error, TRANSIENT) else logging.ERROR,
                "moi hub failed to serve group %r: %s; its clients resync",
                self.group,
                error,
            )
            self._fail_joiners(error)
            for client in list(self.clients):
                with contextlib.suppress(Exception):
                    client.close(1011, "job updates failed; reconnecting")
            self.clients.clear()
        finally:
            self.retiring = True
            self.idle.clear()  # busy until the group is let go
            await self.hub._retire(self)
            self.idle.set()

    async def _work(self) -> None:
        actions, self._actions = self._actions, []
        dirty, self._dirty = self._dirty, {}
        snapshots, self._snapshots = self._snapshots, {}
        for data in actions:
            await self._group_action(data, dirty)
        if dirty:
            await self._send_updates(list(dirty))
        if snapshots:
            await self._send_snapshots(snapshots)

    async def _send_snapshots(self, snapshots: dict[Client, asyncio.Future | None]) -> None:
        """Send the group's list to every client that asked since the last one: read once,
        sent a part at a time as it is read (:meth:`Hub._snapshot`).

        After an outage every tab of a group comes back within seconds; one read for all
        those waiting keeps the group's recovery from growing with its tabs.
        """
        try:
            async with contextlib.aclosing(self.hub._snapshot(self.group)) as parts:
                async for messages in parts:
                    # Each part as soon as it is read: the first rows need not wait for
                    # the last. A joiner that fails half-way is closed, and resyncs.
                    for client, joined in snapshots.items():
                        if joined is None or not joined.done():  # else it left meanwhile
                            metrics.MESSAGES.inc(len(messages))
                            client.send_all(messages)
        except asyncio.CancelledError:
            for joined in snapshots.values():
                if joined is not None:
                    _reject(joined, ConnectionError("the moi hub closed"))
            raise
        except Exception as error:
            for joined in snapshots.values():
                if joined is not None:
                    _reject(joined, error)
            if all(joined is not None for joined in snapshots.values()):
                return  # the joiners' failure is theirs: the group's clients go on
            raise
        for client, joined in snapshots.items():
            if joined is not None and not joined.done():
                self.clients.add(client)
                joined.set_result(None)

    def _fail_joiners(self, error: BaseException) -> None:
        for joined in self._snapshots.values():
            if joined is not None:
                _reject(joined, error)
        self._snapshots.clear()

    async def _group_action(self, data: str, dirty: dict[str, None]) -> None:
        try:
            added, removed = group_actions(data)
        except ValueError as error:
            log.warning(
                "ignoring bad message on %s: %.200r (%s)",
                keys.group_channel(self.group),
                data,
                error,
            )
            return
        # Stored before clients hear of it, so a snapshot taken next agrees.
        await self.hub._store(self.group, added, removed)
        if added:
            await self.hub._track(self.group, added)
            self.broadcast(action("add", added))
            dirty.update(dict.fromkeys(added))
        if removed:
            await self.hub._untrack(self.group, removed)
            self.broadcast(action("remove", removed))
            for job_id in removed:
                dirty.pop(job_id, None)

    async def _send_updates(self, ids: list[str]) -> None:
        raws = await self.hub.redis.mget([keys.job_key(i) for i in ids])
        done, changed = [], []
        for job_id, raw in zip(ids, raws, strict=True):
            info = stored_info(job_id, raw)
            if info is None or self.group not in self.hub.job_groups.get(job_id, ()):
                continue
            changed.append(raw)
            if is_final(info.get("status")):
                done.append(job_id)
        if len(changed) < LIVE_LISTS_FROM:
            for raw in changed:
                self.broadcast(update_message(raw))
        else:  # a cancel of thousands, say: a few messages, as a snapshot's
            for message in update_lists(changed):
                self.broadcast(message)
        await self.hub._untrack(self.group, done)

    def broadcast(self, data: bytes) -> None:
        metrics.MESSAGES.inc(len(self.clients))
        for client in list(self.clients):
            client.send(data)


def update_lists(raws: list[str]) -> list[bytes]:
    """``update`` messages carrying the info objects ``raws``, in order, as few as
    :data:`SNAPSHOT_LIST` and :data:`SNAPSHOT_LIST_BYTES` allow."""
    messages: list[bytes] = []
    start, size = 0, 0
    for end, raw in enumerate(raws):
        if end > start and (end - start >= SNAPSHOT_LIST or size + len(raw) > SNAPSHOT_LIST_BYTES):
            messages.append(update_list_message(raws[start:end]))
            start, size = end, 0
        size += len(raw)
    if start < len(raws):
        messages.append(update_list_message(raws[start:]))
    return messages


def _reject(joined: asyncio.Future, error: BaseException) -> None:
    """Fail a join; the error counts as retrieved, in case the joiner is gone."""
    if not joined.done():
        joined.set_exception(error)
        joined.exception()


class Hub:
    """Fans Redis notices out to websocket clients, grouped by moi group."""

    def __init__(self, redis_url: str, key_ttl: int = 0) -> None:
        self.redis_url = redis_url
        self.key_ttl = key_ttl
        self.feeds: dict[str, Feed] = {}
        self.job_groups: dict[str, set[str]] = {}  # job ID → active groups following it
        self.listening = asyncio.Event()
        """Set while the hub hears every group's actions (after start, or a first client)."""
        self._redis: aioredis.Redis | None = None
        self._subscription: Subscription | None = None
        self._start_lock = asyncio.Lock()
        self._set_actions: list[tuple[str, str]] = []  # (group, message) heard by pattern
        self._keeper: asyncio.Task | None = None  # stores them, while there are any
        self._always = False  # listen with no clients too (start() was called)
        self._closing = False
        self._restarter: asyncio.Task | None = None
        self._back = asyncio.Event()  # set while available: what until_available waits on
        self._back.set()
        self._waiting = 0  # how many wait in until_available
        self._spread = 0.0  # seconds over which they are let go, when the hub is back
        self._tasks: set[asyncio.Task] = set()
        self.output = Follows(lambda: self.redis, self._follow, self._unfollow, self._spawn)
        """Every socket's followed job output (``moi:follow``)."""
        self.cluster = ClusterFeed(lambda: self.redis, self._follow, self._unfollow, self._spawn)
        """Every socket's watch of the cluster's state (``moi:cluster``)."""
        metrics.HUBS.hubs.add(self)

    @property
    def redis(self) -> aioredis.Redis:
        """The hub's connection pool for reads and set writes (not the pub/sub one); it
        waits for a free connection when every group's task reads at once."""
        if self._redis is None:
            self._redis = connections.pooled(self.redis_url, decode_responses=True)
        return self._redis

    @property
    def clients(self) -> dict[str, set[Client]]:
        """The connected clients of each active group."""
        return {group: feed.clients for group, feed in self.feeds.items() if feed.clients}

    @property
    def available(self) -> bool:
        """False while a started hub waits for Redis to come back (new sockets get 503)."""
        return self._restarter is None

    async def until_available(self, timeout: float) -> bool:
        """Whether the hub is :attr:`available`, waiting up to ``timeout`` s for it to be.

        For a probe that pages ask while the hub is away (:class:`moi.websocket.
        MoiProbeHandler`): each answer sends a page to open a socket, which reads its
        group's list. So those who waited are not all let go at once when the hub is
        back, but spread over ``waiting / ADMIT_RATE`` seconds (``ADMIT_SPREAD_MAX`` at
        most), in random order.
        """
        if self.available:
            return True
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout):
                await self._back.wait()
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1
        await asyncio.sleep(random.random() * self._spread)
        return self.available

    @property
    def subscriptions(self) -> int:
        """How many channels the hub listens on (groups' and jobs', not the pattern)."""
        return self._subscription.channels if self._subscription is not None else 0

    async def start(self) -> None:
        """Listen from now on, clients or not, so idle groups' sets follow their actions.

        Without it the hub starts with its first client. After a lost Redis connection
        a started hub starts again by itself, as soon as Redis answers.
        """
        self._always = True
        await self._start()

    async def _start(self) -> None:
        if self._closing:
            raise ConnectionError("the moi hub is closing")
        async with self._start_lock:
            if self._subscription is not None:
                return
            subscription = Subscription(self.redis_url, self._on_message, self._on_lost)
            try:
                await subscription.listen_to_all(keys.ALL_CHANNELS)
            except BaseException:
                await subscription.close()
                raise
            self._subscription = subscription
            self.listening.set()

    # -- clients -------------------------------------------------------------------------

    async def join(self, client: Client) -> None:
        """Start sending ``client`` its group's changes, after a snapshot of the group."""
        await self._start()
        group = client.group
        feed = self.feeds.get(group)
        while feed is not None and feed.retiring:  # the group is being let go: wait for it
            await asyncio.shield(feed.task)
            feed = self.feeds.get(group)
        if feed is None:
            feed = self.feeds[group] = Feed(self, group)
        joined = asyncio.get_running_loop().create_future()
        feed.snapshot(client, joined)
        try:
            await joined
        except asyncio.CancelledError:
            feed.leave(client)
            raise

    async def resend(self, client: Client) -> None:
        """Send the client its group's whole list again, as on join.

        Asks the group's task and returns: repeated asks before the list goes out are
        one, so a client sending ``get`` in a loop costs one snapshot at a time, and only
        to its own group.
        """
        feed = self.feeds.get(client.group)
        if feed is not None and client in feed.clients:
            feed.snapshot(client)

    def leave(self, client: Client) -> None:
        """Stop sending to ``client`` now; its group is let go if it was the last one."""
        self.output.leave(client)
        self.cluster.unwatch(client)
        feed = self.feeds.get(client.group)
        if feed is not None:
            feed.leave(client)

    async def remove(self, group: str, ids: Iterable[str]) -> list[str]:
        """Take the group's jobs ``ids`` out of it, if they are all in it (any number:
        :mod:`moi.bulk` goes through them a chunk at a time).

        :returns: the IDs that are not in the group; if any, nothing was changed.
        """
        ids = normalise_ids(ids)
        strangers = await bulk.strangers(self.redis, group, ids)
        if strangers or not ids:
            return strangers
        await bulk.remove(self.redis, group, ids)
        return []

    async def cancel(self, group: str, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Cancel the group's jobs ``ids`` (see :meth:`moi.client.Client.cancel`), if they
        are all in it. Redis alone does it: the engine running a job hears the cancel.

        :returns: the IDs that are not in the group (if any, nothing was changed), and
            those that had ended already (left as they were).
        """
        ids = normalise_ids(ids)
        strangers = await bulk.strangers(self.redis, group, ids)
        if strangers:
            return strangers, []
        ended = await bulk.cancel(self.redis, ids, group)
        left = set(ended)
        events.cancelled([job_id for job_id in ids if job_id not in left], group)
        return [], ended

    async def settled(self) -> None:
        """Wait for the work in hand: notices being sent, groups being let go."""
        while True:
            busy = [feed for feed in self.feeds.values() if not feed.idle.is_set()]
            if busy:
                await asyncio.gather(*(feed.idle.wait() for feed in busy))
                continue
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
                continue
            if self._keeper is not None and not self._keeper.done():
                await asyncio.wait([self._keeper])
                continue
            return

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
        self._back.set()
        current = asyncio.current_task()
        tasks = [feed.task for feed in self.feeds.values()]
        tasks += [task for task in (*self._tasks, self._keeper) if task is not None]
        tasks = [task for task in tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._keeper = None
        self._set_actions.clear()
        self.output.clear()
        self.cluster.clear()
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self.feeds.clear()
        self.job_groups.clear()
        self._closing = False

    # -- messages from Redis -------------------------------------------------------------

    def _on_message(self, channel: str, data: str, by_pattern: bool) -> None:
        """Route one pub/sub message; runs in the subscription's reader, never blocks."""
        metrics.NOTICES.inc()
        if not by_pattern and channel.startswith(keys.OUTPUT_PREFIX):  # a job's output
            self.output.published(channel, data)
            return
        if not by_pattern and channel == keys.CLUSTER_CHANNEL:
            self.cluster.published(data)
            return
        # Both other kinds of channel are "<name>:pubsub": a group's, or a job's by its ID.
        name = channel.removesuffix(keys.CHANNEL_SUFFIX)
        if by_pattern:
            if not is_job_id(name):  # a job's notice matters only where it is followed
                self._set_actions.append((name, data))
                if self._keeper is None or self._keeper.done():
                    self._keeper = asyncio.ensure_future(self._keep_sets())
        elif (feed := self.feeds.get(name)) is not None:
            feed.action(data)
        else:
            for group in self.job_groups.get(name, ()):
                if (feed := self.feeds.get(group)) is not None:
                    feed.changed(name)

    def _on_lost(self) -> None:
        self._spawn(self._reset())

    async def _keep_sets(self) -> None:
        """Make every group's set agree with the actions heard on its channel.

        An active group's action also reaches its :class:`Feed`, which stores it too
        before telling its clients (both writes are idempotent).
        """
        while self._set_actions:
            batch, self._set_actions = self._set_actions, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for group, data in batch:
                        try:
                            added, removed = group_actions(data)
                        except ValueError:
                            continue  # another program's channel, or a bad message
                        groupset.add(pipe, group, added, self.key_ttl, announce=False)
                        groupset.remove(pipe, group, removed, announce=False)
                    await pipe.execute()
            except (OSError, aioredis.RedisError) as error:
                log.warning("moi hub could not store %d group actions: %s", len(batch), error)

    async def _reset(self) -> None:
        """After a lost connection: drop every client (they reconnect and resync)."""
        clients = [client for feed in self.feeds.values() for client in feed.clients]
        await self._close()
        for client in clients:
            with contextlib.suppress(Exception):
                client.close(1012, "moi hub restarting")
        if self._always and self._restarter is None:
            self._back.clear()
            self._restarter = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        """Start again once Redis answers, waiting longer after each refusal."""
        delay, longest = RESTART_DELAYS
        level = logging.WARNING  # once per outage; each retry at debug level
        while True:
            try:
                await self._start()
                metrics.RECONNECTS.inc()
                break
            except (OSError, aioredis.RedisError) as error:
                log.log(
                    level, "moi hub cannot reach Redis (%s); retrying every %g s", error, longest
                )
                level = logging.DEBUG
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
        log.warning("moi hub reached Redis again; live lists reconnect")
        self._restarter = None
        self._spread = min(ADMIT_SPREAD_MAX, self._waiting / ADMIT_RATE)
        self._back.set()

    def _spawn(self, coroutine) -> asyncio.Task:
        """Run ``coroutine`` in the background, holding a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- subscriptions and snapshots, for the feeds --------------------------------------

    async def _follow(self, channels: list[str]) -> None:
        if self._subscription is None:
            raise ConnectionError("the moi hub is not connected to Redis")
        await self._subscription.follow(channels)

    async def _unfollow(self, channels: list[str]) -> None:
        if self._subscription is not None and channels:
            await self._subscription.unfollow(channels)

    async def _store(self, group: str, added: list[str], removed: list[str]) -> None:
        if added or removed:
            async with self.redis.pipeline(transaction=True) as pipe:
                groupset.add(pipe, group, added, self.key_ttl, announce=False)
                groupset.remove(pipe, group, removed, announce=False)
                await pipe.execute()

    async def _track(self, group: str, ids: Iterable[str]) -> None:
        """Follow the channels of the group's jobs that it did not follow yet."""
        new = []
        for job_id in ids:
            groups = self.job_groups.setdefault(job_id, set())
            if group not in groups:
                groups.add(group)
                new.append(keys.job_channel(job_id))
        await self._follow(new)

    async def _untrack(self, group: str, ids: Iterable[str]) -> None:
        """Stop following jobs for ``group``."""
        await self._unfollow(self._let_go(group, ids))

    def _let_go(self, group: str, ids: Iterable[str]) -> list[str]:
        """Forget that ``group`` follows ``ids``; the channels it followed them on."""
        gone = []
        for job_id in ids:
            held = self.job_groups.get(job_id)
            if held is None or group not in held:
                continue
            held.discard(group)
            gone.append(keys.job_channel(job_id))
            if not held:
                del self.job_groups[job_id]
        return gone

    async def _retire(self, feed: Feed) -> None:
        """Let an idle group go: its channel and its jobs' channels."""
        group = feed.group
        held = [job_id for job_id, groups in self.job_groups.items() if group in groups]
        gone = self._let_go(group, held)  # forgotten even if Redis cannot be told
        if not self._closing:  # a closing hub drops its connection, channels and all
            with contextlib.suppress(Exception):  # nor has a dead connection any to leave
                await self._unfollow([keys.group_channel(group), *gone])
        if self.feeds.get(group) is feed:
            del self.feeds[group]

    async def _snapshot(self, group: str) -> AsyncGenerator[list[bytes], None]:
        """The group's list, as messages, a few at a time: the ``add`` (every job, newest
        first) with the newest infos, then the others, newest first.

        The order comes from each stored text's date (:func:`created`), not from decoding
        it: each info is decoded (checked) only when its turn to be sent comes, so a
        100,000-job list's first rows go out when its records have been read, not once
        they have all been decoded too. Ended jobs are read once and never followed (they
        never change); unfinished ones are followed when their turn comes and read again
        after Redis confirmed, so no change falls between the read and the subscription.
        A job of the ``add`` whose record is gone by then, or proves not to be its info
        object, is taken off the list again with a ``remove``.
        """
        stored, dates = await self._read_list(group)
        expired = [job_id for job_id, raw in stored.items() if raw is None]
        # Newest first, as lists show them by default (ties in the IDs' order).
        present = sorted(dates, key=dates.__getitem__, reverse=True)
        messages = [ids_action("add", present)]
        for start in range(0, max(len(present), 1), SNAPSHOT_LIST):  # once for no job
            part = present[start : start + SNAPSHOT_LIST]
            messages += await self._snapshot_part(group, part, stored)
            yield messages
            messages = []
            if start == 0 and expired:
                async with self.redis.pipeline(transaction=True) as pipe:
                    groupset.remove(pipe, group, expired, announce=False)
                    await pipe.execute()
            await asyncio.sleep(0)  # the sockets write what they have; other groups go on

    async def _read_list(self, group: str) -> tuple[dict[str, str | None], dict[str, str]]:
        """The stored records of the group's jobs (None: gone), in the IDs' order, and the
        ``date_created`` of those that may be their info object (:func:`created`).

        Read :data:`SNAPSHOT_READ` at a time, the reads under way together: Redis reads
        some while the hub takes in others.
        """
        ids = sorted(
            i for i in await self.redis.smembers(keys.group_jobs_key(group)) if is_job_id(i)
        )

        async def read(part: list[str]) -> tuple[list[str | None], list[str | None]]:
            raws = await self.redis.mget([keys.job_key(i) for i in part])
            return raws, [created(i, raw) for i, raw in zip(part, raws, strict=True)]

        parts = [ids[at : at + SNAPSHOT_READ] for at in range(0, len(ids), SNAPSHOT_READ)]
        raws: list[str | None] = []
        dates: list[str | None] = []
        for part_raws, part_dates in await asyncio.gather(*map(read, parts)):
            raws += part_raws
            dates += part_dates
        stored = dict(zip(ids, raws, strict=True))
        return stored, {i: date for i, date in zip(ids, dates, strict=True) if date is not None}

    async def _snapshot_part(self, group: str, ids: list[str], stored: dict) -> list[bytes]:
        """The messages of the jobs ``ids`` of a snapshot, read as ``stored``, in order."""
        infos = {job_id: stored_info(job_id, stored[job_id]) for job_id in ids}
        running = [i for i, info in infos.items() if info and not is_final(info.get("status"))]
        if running:
            # Jobs the group already follows stay followed until their final notice, which
            # may be waiting for the group's other clients.
            followed = {i for i in running if group in self.job_groups.get(i, ())}
            await self._track(group, running)
            again = await self.redis.mget([keys.job_key(i) for i in running])
            stored.update(zip(running, again, strict=True))
            infos.update((i, stored_info(i, stored[i])) for i in running)
            ended = [
                i
                for i in running
                if i not in followed
                and ((info := infos[i]) is None or is_final(info.get("status")))
            ]
            await self._untrack(group, ended)
        messages = update_lists([stored[i] for i in ids if infos[i] is not None])
        gone = [i for i in ids if infos[i] is None]
        return [*messages, action("remove", gone)] if gone else messages
