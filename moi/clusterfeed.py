"""The cluster's state for the pages that show it: the websocket's ``moi:cluster``.

A socket sends ``{"moi:cluster": true}`` to watch, and gets the state at once, then on
each change: the dispatcher's report (:mod:`moi.clusterreport`), published on the
channel ``moi:cluster``, relayed by the hub's one subscription (counted: one channel
however many sockets watch), with the socket's own group's jobs waiting added. Nothing
polls: a report comes when the dispatcher's counts change, and every few seconds
anyway; when none has come for the report key's lifetime the dispatcher is gone, and
the watchers hear so. A socket gets at most one message each :data:`MIN_GAP` seconds,
the latest state.

What a page gets (``{"moi:cluster": state}``)::

    {"engines": 2, "busy": 1, "waiting": 40, "mine": 3,
     "per_minute": [60 counts of jobs ended, the current minute last],
     "controller": "reachable" | "lost" | "unknown", "dispatching": true}

``waiting``, ``engines``, ``busy`` and ``per_minute`` are null while no dispatcher
reports (``dispatching`` false). The dispatcher's name, fence and errors stay on the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio as aioredis

from moi import keys, metrics, record
from moi.messages import CLUSTER, action

log = logging.getLogger(__name__)

MIN_GAP = 0.5
"""Seconds between two messages to one socket, at least: two a second at most."""
SILENT_AFTER = 9.0
"""Seconds without a report after which the dispatcher is taken for gone (the report
key's lifetime: the dispatcher publishes every few seconds while at work)."""


class Client(Protocol):
    """What watching needs of a websocket (the hub's clients have it)."""

    group: str

    def send(self, data: bytes) -> object: ...


class Watcher:
    """One watching socket: when it was last sent the state, and the send it waits for."""

    def __init__(self) -> None:
        self.sent_at = float("-inf")
        self.due: asyncio.TimerHandle | None = None


def page_state(report: dict[str, Any] | None, mine: int) -> dict[str, Any]:
    """What a page is told, from the dispatcher's report (None: no dispatcher at work)."""
    if report is None:
        return {
            "engines": None,
            "busy": None,
            "waiting": None,
            "mine": mine,
            "per_minute": None,
            "controller": "unknown",
            "dispatching": False,
        }
    return {
        "engines": report.get("engines"),
        "busy": report.get("busy"),
        "waiting": report.get("waiting"),
        "mine": mine,
        "per_minute": report.get("per_minute"),
        "controller": "lost" if report.get("controller") else "reachable",
        "dispatching": True,
    }


class ClusterFeed:
    """Every socket's watch of the cluster, for one hub.

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
        self._spawn = spawn
        self.watchers: dict[Client, Watcher] = {}
        self.report: dict[str, Any] | None = None
        self.mine: dict[str, int] = {}  # each watching group's jobs waiting
        self._reports = 0  # reports taken so far, so an older read never replaces a newer
        self._refreshing: asyncio.Task | None = None
        self._refresh_again = False
        self._silence: asyncio.TimerHandle | None = None

    # -- the websocket's actions ---------------------------------------------------------

    async def watch(self, client: Client) -> None:
        """Send ``client`` the cluster's state now, and on each change until it stops."""
        if client in self.watchers:
            self._send(client)
            return
        await self._follow([keys.CLUSTER_CHANNEL])  # before the read: no report missed
        self.watchers[client] = Watcher()
        try:
            taken = self._reports
            redis = self._redis()
            raw, mine = await asyncio.gather(
                redis.get(keys.CLUSTER), redis.zcard(keys.queue_key(client.group))
            )
        except BaseException:
            self.unwatch(client)
            raise
        if client not in self.watchers:
            return  # it stopped, or went, while the state was read
        if self._reports == taken:  # no report came meanwhile: this one is the latest
            self._take(record.decode(raw))
        self.mine[client.group] = mine
        self._send(client)

    def unwatch(self, client: Client) -> None:
        """Stop sending ``client`` the cluster's state (nothing, if it did not watch)."""
        watcher = self.watchers.pop(client, None)
        if watcher is None:
            return
        if watcher.due is not None:
            watcher.due.cancel()
        if not any(other.group == client.group for other in self.watchers):
            self.mine.pop(client.group, None)
        self._spawn(self._let_go())

    def clear(self) -> None:
        """Forget every watcher: the hub's connection is gone, subscription and all."""
        for watcher in self.watchers.values():
            if watcher.due is not None:
                watcher.due.cancel()
        self.watchers.clear()
        self.mine.clear()
        self.report = None
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    # -- messages from Redis -------------------------------------------------------------

    def published(self, data: str) -> None:
        """A report on ``moi:cluster``; runs in the subscription's reader."""
        report = record.decode(data)
        if report is None:
            log.warning("ignoring bad message on %s: %.200r", keys.CLUSTER_CHANNEL, data)
            return
        self._take(report)
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = self._spawn(self._refresh())
        else:
            self._refresh_again = True

    # -- inside --------------------------------------------------------------------------

    def _take(self, report: dict[str, Any] | None) -> None:
        """The latest report; without another within :data:`SILENT_AFTER`, none."""
        self._reports += 1
        self.report = report
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        if report is not None and self.watchers:
            self._silence = asyncio.get_running_loop().call_later(SILENT_AFTER, self._silent)

    def _silent(self) -> None:
        self._silence = None
        self.report = None
        self._reports += 1
        for client in list(self.watchers):
            self._offer(client)

    async def _refresh(self) -> None:
        """Read each watching group's jobs waiting (one round trip), then tell them all."""
        while True:
            self._refresh_again = False
            groups = sorted({client.group for client in self.watchers})
            if groups:
                try:
                    async with self._redis().pipeline(transaction=False) as pipe:
                        for group in groups:
                            pipe.zcard(keys.queue_key(group))
                        self.mine.update(zip(groups, await pipe.execute(), strict=True))
                except (OSError, aioredis.RedisError) as error:  # the last counts will do
                    log.warning("moi could not count the groups' waiting jobs: %s", error)
            for client in list(self.watchers):
                self._offer(client)
            if not self._refresh_again:
                return

    def _offer(self, client: Client) -> None:
        """Send the state now, or once :data:`MIN_GAP` has passed since the last send."""
        watcher = self.watchers.get(client)
        if watcher is None or watcher.due is not None:
            return  # it will send the latest state when due
        wait = watcher.sent_at + MIN_GAP - time.monotonic()
        if wait <= 0:
            self._send(client)
        else:
            watcher.due = asyncio.get_running_loop().call_later(wait, self._send, client)

    def _send(self, client: Client) -> None:
        watcher = self.watchers.get(client)
        if watcher is None:
            return
        if watcher.due is not None:
            watcher.due.cancel()
            watcher.due = None
        watcher.sent_at = time.monotonic()
        state = page_state(self.report, self.mine.get(client.group, 0))
        metrics.MESSAGES.inc()
        with contextlib.suppress(Exception):  # a broken socket is its handler's to close
            client.send(action(CLUSTER, state))

    async def _let_go(self) -> None:
        with contextlib.suppress(Exception):  # a lost connection has no channel left
            await self._unfollow([keys.CLUSTER_CHANNEL])
