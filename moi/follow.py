"""Following jobs' output over the websocket: stored lines first, then live ones.

A socket that follows a job gets its lines in order of ``n``, each once, with no gap
that storage could fill. For that, the job's output channel is subscribed (and Redis has
confirmed it) before its stored lines are read: every line stored after that read is
published after the subscription, so it arrives. Live batches that arrive while the
stored lines are being read are held, and sent after them without the lines the read
already gave. A live batch that skips ahead of the next line expected (a message
missed) has the lines between read from storage first.

Each followed job has one channel subscription however many sockets follow it, let go
when the last of them goes. The live lines that reach one socket in one turn of the event
loop go out in one ``moi:output`` message per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio as aioredis

from moi import keys, metrics
from moi.messages import ClientError, output_message, published_lines, stored_info
from moi.output import AsyncOutput, Page

log = logging.getLogger(__name__)

MAX_FOLLOWS = 20
"""Jobs one socket may follow at once: a page shows a few; each costs a subscription."""


class Client(Protocol):
    """What following needs of a websocket (the hub's clients have it)."""

    group: str

    def send(self, data: bytes) -> object: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Channel:
    """One followed job's output channel: its followers, and its confirmed subscription."""

    def __init__(self, job_id: str, ready: asyncio.Task) -> None:
        self.name = keys.output_channel(job_id)
        self.followers: set[Follow] = set()
        self.ready = ready
        """True once Redis confirmed the subscription; False if it could not be made."""


class Follow:
    """One socket following one job: where it is, and the lines held while it reads."""

    def __init__(self, follows: Follows, client: Client, job_id: str, channel: Channel) -> None:
        self.follows = follows
        self.client = client
        self.job_id = job_id
        self.channel = channel
        self.next = 0  # the next line the client expects
        self.held: list[list[Any]] = []  # live lines that came while reading storage
        self.live: list[list[Any]] = []  # live lines to send at the end of this turn
        self.task: asyncio.Task | None = None  # reading storage, while not None

    def start(self, since: int) -> None:
        """Send the stored lines from ``since``, then the live ones (again, if following)."""
        self.stop()
        self.next = since
        self.task = self.follows.spawn(self._catch_up())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.held.clear()
        self.live.clear()

    def take(self, lines: list[list[Any]]) -> None:
        """Live lines (in order, each once): send the ones that come next, this turn.

        A line further on than the next expected means some were missed: storage has
        them, and is read before these go out.
        """
        if self.task is not None:
            self.held.extend(lines)
            return
        run = []
        for index, line in enumerate(lines):
            if line[0] < self.next:
                continue
            if line[0] > self.next:
                self.held = lines[index:]
                self.task = self.follows.spawn(self._catch_up())
                break
            run.append(line)
            self.next += 1
        if run:
            self.live.extend(run)
            self.follows.batch(self)

    def flush(self) -> None:
        """Send the live lines gathered this turn, as one message."""
        if self.live:
            lines, self.live = self.live, []
            self.follows.send(self.client, output_message(self.job_id, lines))

    async def _catch_up(self) -> None:
        try:
            if not await asyncio.shield(self.channel.ready):
                raise ConnectionError("could not subscribe to the job's output")
            await self._send_stored()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("moi could not send job %s's output: %s", self.job_id, error)
            self.follows.failed(self.client)
            return
        held, self.held = self.held, []
        self.task = None
        # Published after the subscription, so nothing between them and the stored lines
        # went missing: sent as they are, only the lines already sent left out.
        ordered = sorted({line[0]: line for line in held}.values(), key=lambda line: line[0])
        for line in ordered:
            if line[0] >= self.next:
                self.live.append(line)
                self.next = line[0] + 1
        self.flush()

    async def _send_stored(self) -> None:
        """Send the stored lines from :attr:`next` on, a page a message."""
        self.flush()  # live lines already taken go first
        while True:
            since = self.next
            page = await self.follows.read(self.job_id, since)
            dropped = page.dropped
            if dropped is not None and not since < dropped["to"] <= page.next:
                dropped = None  # these lines do not jump over it
            lines = [line for line in page.lines if line[0] >= since]
            if lines or dropped is not None:
                self.follows.send(self.client, output_message(self.job_id, lines, dropped))
            self.next = max(since, page.next)
            if self.next >= page.total or self.next == since:
                return


class Follows:
    """Every socket's followed jobs, for one hub.

    :param redis: the hub's connection pool (made again after the hub closed).
    :param follow: subscribe to channels; returns once Redis confirmed them.
    :param unfollow: let channels go.
    :param spawn: run a coroutine as a task the hub waits for when it settles, and cancels
        when it closes.
    """

    def __init__(
        self,
        redis: Callable[[], aioredis.Redis],
        follow: Callable[[list[str]], Awaitable[None]],
        unfollow: Callable[[list[str]], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task],
    ) -> None:
        self._redis = redis
        self._follow = follow
        self._unfollow = unfollow
        self.spawn = spawn
        self.channels: dict[str, Channel] = {}  # job ID → its channel, while followed
        self.clients: dict[Client, dict[str, Follow]] = {}  # each client's follows by job
        self._output: AsyncOutput | None = None
        self._batched: dict[Follow, None] = {}
        self._flushing: asyncio.Handle | None = None

    # -- the websocket's actions ---------------------------------------------------------

    async def follow(self, client: Client, job_id: str, since: int) -> None:
        """Send ``client`` the job's output from line ``since`` on (again, if it follows it).

        :raises ClientError: for a job that is not of the client's group (or is unknown:
            the same words, so no one learns that another's job exists), or one follow too
            many.
        """
        info = stored_info(job_id, await self._redis().get(keys.job_key(job_id)))
        if info is None or info.get("group") != client.group:
            raise ClientError(f"no job {job_id} of yours to follow")
        follows = self.clients.setdefault(client, {})
        follow = follows.get(job_id)
        if follow is None:
            if len(follows) >= MAX_FOLLOWS:
                raise ClientError(
                    f"you follow {MAX_FOLLOWS} jobs' output already; unfollow one first"
                )
            channel = self.channels.get(job_id)
            if channel is None:
                name = keys.output_channel(job_id)
                channel = self.channels[job_id] = Channel(job_id, self.spawn(self._ready(name)))
            follow = follows[job_id] = Follow(self, client, job_id, channel)
            channel.followers.add(follow)
        follow.start(since)

    def unfollow(self, client: Client, job_id: str) -> None:
        """Stop sending the job's output to ``client`` (nothing, if it did not follow it)."""
        follows = self.clients.get(client, {})
        follow = follows.pop(job_id, None)
        if not follows:
            self.clients.pop(client, None)
        if follow is not None:
            self._forget(follow)

    def leave(self, client: Client) -> None:
        """Forget every follow of a client that went."""
        for follow in self.clients.pop(client, {}).values():
            self._forget(follow)

    def clear(self) -> None:
        """Forget everything, subscriptions too: the hub's connection is gone with them."""
        for follows in self.clients.values():
            for follow in follows.values():
                follow.stop()
        self.clients.clear()
        self.channels.clear()
        self._batched.clear()
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        self._output = None

    # -- messages from Redis -------------------------------------------------------------

    def published(self, channel: str, data: str) -> None:
        """A batch on a job's output channel; runs in the subscription's reader."""
        followed = self.channels.get(channel.removeprefix(keys.OUTPUT_PREFIX))
        if followed is None:
            return
        try:
            lines = published_lines(data)
        except ValueError as error:
            log.warning("ignoring bad message on %s: %.200r (%s)", channel, data, error)
            return
        for follow in list(followed.followers):
            follow.take(lines)

    # -- for the follows -----------------------------------------------------------------

    async def read(self, job_id: str, since: int) -> Page:
        """A page of the job's stored output."""
        redis = self._redis()
        if self._output is None or self._output.client is not redis:
            self._output = AsyncOutput(redis)
        return await self._output.read(job_id, since)

    def send(self, client: Client, data: bytes) -> None:
        metrics.MESSAGES.inc()
        client.send(data)

    def batch(self, follow: Follow) -> None:
        """Send ``follow``'s live lines once this turn of the loop is over."""
        self._batched[follow] = None
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_soon(self._flush)

    def failed(self, client: Client) -> None:
        """Its output could not be read: the client reconnects and follows again."""
        self.leave(client)
        with contextlib.suppress(Exception):
            client.close(1011, "job output is unavailable; try again later")

    def _flush(self) -> None:
        self._flushing = None
        batched, self._batched = self._batched, {}
        for follow in batched:
            follow.flush()

    def _forget(self, follow: Follow) -> None:
        follow.stop()
        self._batched.pop(follow, None)
        channel = follow.channel
        channel.followers.discard(follow)
        if not channel.followers and self.channels.get(follow.job_id) is channel:
            del self.channels[follow.job_id]
            self.spawn(self._let_go(channel))

    async def _ready(self, name: str) -> bool:
        try:
            await self._follow([name])
        except Exception as error:
            log.warning("moi could not subscribe to %s: %s", name, error)
            return False
        return True

    async def _let_go(self, channel: Channel) -> None:
        """Unsubscribe once the subscription is made (it is counted only then)."""
        if await asyncio.shield(channel.ready):
            with contextlib.suppress(Exception):  # a lost connection has no channel left
                await self._unfollow([channel.name])
