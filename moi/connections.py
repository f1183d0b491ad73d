"""Redis clients made the one way moi needs them: a closed connection is made again.

A Redis restart closes every connection; the first command on one fails with "Connection
closed by server". Each client here retries a command that failed that way on a fresh
connection (with short, jittered waits), so a restart costs a job nothing. A Redis that
stays away is another matter: :mod:`moi.retry` decides how long a write waits for it.
Every retried command is safe to run twice: moi's writes are scripts fenced by status and
attempt.

An asyncio client's pool blocks when all its connections are busy: a burst of commands
waits its turn (up to a bound) rather than failing with "Too many connections".
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

RETRIES = 3
RETRY_ON = [redis.ConnectionError, redis.TimeoutError]
MAX_CONNECTIONS = 100
"""Connections an asyncio client's pool opens at most (redis-py's own default)."""
WAIT = 5.0
"""Seconds a command waits for a free connection of a full pool before it fails."""


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def single(url: str, **options: Any) -> redis.Redis:
    """A blocking client on one connection (no pool's poll per command); threads take
    turns on it."""
    return redis.Redis.from_url(
        url,
        single_connection_client=True,
        retry=Retry(_backoff(), RETRIES),
        retry_on_error=RETRY_ON,
        **options,
    )


def pooled(
    url: str,
    *,
    max_connections: int = MAX_CONNECTIONS,
    wait: float | None = WAIT,
    **options: Any,
) -> aioredis.Redis:
    """An asyncio client with a pool of connections, for code on an event loop.

    A command that finds all ``max_connections`` busy waits up to ``wait`` seconds (None:
    for ever) for one to come back, then raises :class:`redis.ConnectionError` ("No
    connection available."): a burst is served later, not refused.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait,
        retry=AsyncRetry(_backoff(), RETRIES),
        retry_on_error=RETRY_ON,
        **options,
    )
    return aioredis.Redis.from_pool(pool)
