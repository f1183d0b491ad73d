"""Redis away: one log line when it goes and one when it is back, not one per request.

While Redis cannot be reached every page answers 503; a traceback per request would
bury the one thing an operator needs to read. The first failure starts a watcher that
pings Redis every second and logs its return.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis
import redis.asyncio as aioredis

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
"""What a request meets while Redis is away, restarting, or loading its data."""

RECHECK = 1.0
"""Seconds between pings while Redis is away."""


class Outage:
    """Whether Redis is away, as the requests found it."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.since: float | None = None
        self._watcher: asyncio.Task | None = None

    def failed(self, error: BaseException) -> None:
        """A request met ``error``: log it if it starts an outage."""
        if self.since is not None:
            return
        self.since = time.monotonic()
        log.warning("Redis cannot be reached (%s); pages answer 503 until it is back", error)
        self._watcher = asyncio.ensure_future(self._until_back())

    async def _until_back(self) -> None:
        while True:
            await asyncio.sleep(RECHECK)
            try:
                await self.client.ping()
            except REDIS_DOWN:
                continue
            log.warning("Redis answers again, after %.0f s", time.monotonic() - (self.since or 0))
            self.since = None
            self._watcher = None
            return

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
