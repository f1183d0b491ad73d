"""One Redis pub/sub connection whose subscriptions are confirmed before they count.

A subscriber that reads a job's state right after asking for its channel could miss a
change published in between, unless it waits for Redis to confirm the subscription:
:meth:`Subscription.follow` returns only then. Channels are counted, so several
followers share one subscription, and every (un)subscribe goes out in the order it was
decided. Messages go to ``on_message`` as they arrive; a lost connection (or a
confirmation, or the answer to a quiet connection's PING, that never comes) goes to
``on_lost`` once, and the subscription is dead: its owner makes a new one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from moi import connections

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for Redis to confirm a (un)subscription before giving up on it."""
HEARTBEAT = 1.0
"""Seconds a quiet connection waits before it asks Redis for a PING. A Redis on a host
that was cut off says nothing, not even goodbye: its answer missing for
:data:`moi.connections.SOCKET_TIMEOUT` more seconds means the connection is lost (about
5 s after the cut, where TCP's keepalive would take 10 s or more)."""

OnMessage = Callable[[str, str, bool], None]
"""``on_message(channel, data, by_pattern)``."""


async def subscribe_confirmed(pubsub: aioredis.client.PubSub, *channels: str) -> None:
    """Subscribe ``pubsub`` to ``channels`` and wait until Redis confirms each: only then
    is a message published after a read made next sure to arrive.

    :raises ConnectionError: if Redis does not confirm within :data:`CONFIRM_TIMEOUT`.
    """
    await pubsub.subscribe(*channels)
    for _ in channels:
        confirmed = await pubsub.get_message(timeout=CONFIRM_TIMEOUT)
        if confirmed is None or confirmed["type"] != "subscribe":
            raise ConnectionError(f"Redis did not confirm the subscription: {confirmed!r}")


class SubscriptionLost(ConnectionError):
    """The pub/sub connection failed or closed; make a new subscription."""


class Subscription:
    """A pub/sub connection with counted, confirmed channel subscriptions."""

    def __init__(self, redis_url: str, on_message: OnMessage, on_lost: Callable[[], None]):
        # No silent reconnects: notices sent while the connection was down would be lost
        # unseen. A lost connection is an error, and the owner's clients resync. Behind
        # Sentinel the new subscription is made on the primary of the moment.
        self._redis = connections.subscriber(redis_url, decode_responses=True)
        self._pubsub = self._redis.pubsub()
        self._on_message = on_message
        self._on_lost = on_lost
        self._counts: collections.Counter[str] = collections.Counter()
        # channel → the confirmations of its subscribes in flight, oldest first
        self._pending: dict[str, collections.deque[asyncio.Future]] = {}
        self._waiting: dict[tuple[str, str], collections.deque[asyncio.Future]] = {}
        self._send_lock = asyncio.Lock()  # commands go out in the order they were decided
        self._reader: asyncio.Task | None = None
        self._dead = False

    @property
    def channels(self) -> int:
        """How many channels are subscribed (or being subscribed)."""
        return len(self._counts)

    async def listen_to_all(self, pattern: str) -> None:
        """Subscribe to a pattern, once, and return when Redis has confirmed it."""
        await self._send("psubscribe", [pattern], self._pubsub.psubscribe)

    async def follow(self, channels: Iterable[str]) -> None:
        """Count a follower of each channel; return once each is confirmed subscribed."""
        new: list[str] = []
        known: list[str] = []
        for channel in channels:
            self._counts[channel] += 1
            (new if self._counts[channel] == 1 else known).append(channel)
        pending = [self._pending[c][-1] for c in known if self._pending.get(c)]
        if new:
            loop = asyncio.get_running_loop()
            for channel in new:
                self._pending.setdefault(channel, collections.deque()).append(loop.create_future())
            await self._send("subscribe", new, self._pubsub.subscribe)
        if pending:
            await asyncio.gather(*(asyncio.shield(future) for future in pending))

    async def unfollow(self, channels: Iterable[str]) -> None:
        """Count a follower less; unsubscribe from the channels no one follows any more."""
        gone = []
        for channel in channels:
            if self._counts[channel] <= 1:
                self._counts.pop(channel, None)
                gone.append(channel)
            else:
                self._counts[channel] -= 1
        if gone:
            await self._send("unsubscribe", gone, self._pubsub.unsubscribe)

    async def _send(self, kind: str, channels: list[str], command) -> None:
        """Send ``command`` for ``channels`` and wait until Redis confirmed the last one.

        A confirmation that never comes means the connection can't be trusted: the
        subscription is given up (``on_lost``) rather than waited on forever.
        """
        if self._dead:
            raise SubscriptionLost("the pub/sub connection is closed")
        key = (kind, channels[-1])
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, collections.deque()).append(future)
        try:
            async with self._send_lock:
                await command(*channels)
            if self._reader is None:  # the connection exists once the first command is sent
                self._reader = asyncio.create_task(self._read(), name="moi-pubsub-reader")
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that arrives as the future completes, and close() would hang.
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await future
        except BaseException as error:
            waiting = self._waiting.get(key)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiting[key]
            if isinstance(error, TimeoutError):
                log.error("Redis did not confirm %s of %s; giving up the connection", *key)
                self._lose()
            raise

    async def _read(self) -> None:
        """Move messages off the connection; resolve confirmations as they come; ask for a
        PING when it is quiet (:data:`HEARTBEAT`), and give up on it if none comes."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        asked: float | None = None  # when the PING unanswered so far was sent
        try:
            # Not only a cancel ends the loop: redis-py's read with a timeout can swallow a
            # cancel that comes as its timeout expires (seen under load), and close() would
            # then wait for ever on a reader that goes on reading a healthy connection.
            while not self._dead:
                message = await self._pubsub.get_message(timeout=HEARTBEAT)
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError
                if message is None:
                    if asked is None:
                        asked = loop.time()
                        async with self._send_lock:
                            await self._pubsub.ping()
                    elif loop.time() - asked > connections.SOCKET_TIMEOUT:
                        raise ConnectionError("Redis did not answer a PING")
                    continue
                asked = None  # anything heard is a sign of life
                kind, channel = message["type"], message["channel"]
                if kind == "pong":
                    continue
                if kind in ("message", "pmessage"):
                    self._on_message(channel, message["data"], kind == "pmessage")
                    continue
                if kind == "subscribe" and (pending := self._pending.get(channel)):
                    confirmed = pending.popleft()
                    if not pending:
                        del self._pending[channel]
                    if not confirmed.done():
                        confirmed.set_result(None)
                if waiting := self._waiting.get((kind, channel)):
                    waiting.popleft().set_result(None)
                    if not waiting:
                        del self._waiting[kind, channel]
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("moi lost its Redis subscription: %s", error or type(error).__name__)
            self._lose()

    def _lose(self) -> None:
        if not self._dead:
            self._dead = True
            self._fail_waiters()
            self._on_lost()

    def _fail_waiters(self) -> None:
        queues = [*self._pending.values(), *self._waiting.values()]
        for future in [future for queue in queues for future in queue]:
            if not future.done():
                future.set_exception(SubscriptionLost("the pub/sub connection closed"))
                future.exception()  # retrieved: no "never retrieved" warning for shields
        self._pending.clear()
        self._waiting.clear()

    async def close(self) -> None:
        """Stop reading and close the connection."""
        self._dead = True
        self._fail_waiters()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            # It ends within a HEARTBEAT even if the cancel is lost (it reads _dead); a read
            # stuck on a dead connection ends when the connection is closed below.
            await asyncio.wait({self._reader}, timeout=2 * HEARTBEAT)
        self._reader = None
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._redis.aclose()
