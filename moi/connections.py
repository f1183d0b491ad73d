"""Redis clients made the one way moi needs them: a closed connection is made again.

A Redis restart closes every connection; the first command on one fails with "Connection
closed by server". Each client here retries a command that failed that way on a fresh
connection (with short, jittered waits), so a restart costs a job nothing. A Redis that
stays away is another matter: :mod:`moi.retry` decides how long a write waits for it.
Every retried command is safe to run twice: moi's writes are scripts fenced by status and
attempt.

An asyncio client's pool blocks when all its connections are busy: a burst of commands
waits its turn (up to a bound) rather than failing with "Too many connections".

A Redis on a host that is cut off answers nothing, not even a reset: a command waits at
most :data:`SOCKET_TIMEOUT` for its reply and a connection attempt
:data:`CONNECT_TIMEOUT`, and the caller hears of it (a page's 503 within about
:data:`SOCKET_TIMEOUT`) instead of hanging for the minutes TCP takes to give up. Every
client is made here, from a ``redis://``, ``rediss://``, ``unix://`` or
``redis+sentinel://`` URL (:mod:`moi.sentinel`): behind Sentinel each new connection goes
to the primary of the moment.
"""

from __future__ import annotations

import socket
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from moi import sentinel

RETRIES = 3
RETRY_ON = (redis.ConnectionError, redis.TimeoutError)
"""What a command is retried on, on a new connection: a connection closed or refused (a
restart), a primary demoted by a failover (redis-py's Sentinel connections turn READONLY
into a ConnectionError), a reply that never came (behind Sentinel the new connection goes
to the new primary). Not a connection attempt that timed out (:func:`_retryable`)."""
MAX_CONNECTIONS = 100
"""Connections an asyncio client's pool opens at most (redis-py's own default)."""
WAIT = 5.0
"""Seconds a command waits for a free connection of a full pool before it fails."""
HEALTH_CHECK = 2.0
"""Seconds a pooled connection may idle before it is checked (a PING) as it is taken: one
left open to a primary that was cut off is then replaced before a command, or a
subscription whose confirmation would never come, is sent on it."""
SOCKET_TIMEOUT = 3.0
"""Seconds a command waits for its reply before its connection counts as lost (moi sends
no blocking commands; a pub/sub connection's wait for messages is not bounded by it)."""
CONNECT_TIMEOUT = 1.0
"""Seconds a connection attempt may take."""
KEEPALIVE = {
    option: value
    for option, value in (
        (getattr(socket, "TCP_KEEPIDLE", None), 5),
        (getattr(socket, "TCP_KEEPINTVL", None), 2),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
        (getattr(socket, "TCP_USER_TIMEOUT", None), 10_000),  # ms; also for unacked sends
    )
    if option is not None
}
"""TCP keepalive for a connection that idles (a pub/sub one waiting for messages): a
peer cut off is noticed about 10 s after it last answered."""


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def _retryable(error: Exception) -> bool:
    """Whether a failed command is worth another connection: not when connecting timed
    out (a host that answers nothing would make each attempt as slow: the caller hears
    of it at once, a page's 503 within about :data:`SOCKET_TIMEOUT`)."""
    return not (isinstance(error, redis.TimeoutError) and "connecting" in str(error))


def _retry() -> Retry:
    return Retry(_backoff(), RETRIES, supported_errors=RETRY_ON, is_retryable=_retryable)


def _async_retry() -> AsyncRetry:
    return AsyncRetry(_backoff(), RETRIES, supported_errors=RETRY_ON, is_retryable=_retryable)


def _liveness(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the timeouts and keepalive above as defaults."""
    defaults: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
    }
    if not url.lower().startswith("unix:"):  # TCP only
        defaults.update(socket_keepalive=True, socket_keepalive_options=KEEPALIVE)
    return {**defaults, **options}


def single(url: str, **options: Any) -> redis.Redis:
    """A blocking client on one connection (no pool's poll per command); threads take
    turns on it."""
    options = _liveness(url, {"retry": _retry(), "retry_on_error": list(RETRY_ON), **options})
    pool = (
        sentinel.sync_pool(url, **options)
        if sentinel.is_sentinel(url)
        else redis.ConnectionPool.from_url(url, **options)
    )
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    client.auto_close_connection_pool = True  # its close closes the pool, as from_url's
    return client


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
    options = _liveness(
        url,
        {
            "max_connections": max_connections,
            "timeout": wait,
            "retry": _async_retry(),
            "retry_on_error": list(RETRY_ON),
            "health_check_interval": HEALTH_CHECK,
            **options,
        },
    )
    pool = (
        sentinel.async_pool(url, blocking=True, **options)
        if sentinel.is_sentinel(url)
        else aioredis.BlockingConnectionPool.from_url(url, **options)
    )
    return aioredis.Redis.from_pool(pool)


def subscriber(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for one pub/sub connection that never reconnects by itself:
    notices sent while it was down would be lost unseen, so its owner is told instead.
    Keepalive notices a peer that went silent (:data:`KEEPALIVE`)."""
    options = _liveness(url, {"retry": AsyncRetry(NoBackoff(), 0), **options})
    pool = (
        sentinel.async_pool(url, **options)
        if sentinel.is_sentinel(url)
        else aioredis.ConnectionPool.from_url(url, **options)
    )
    return aioredis.Redis.from_pool(pool)
