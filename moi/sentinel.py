"""Redis behind Sentinel: one URL names the sentinels, the service and the database.

::

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/service[/db]

the spelling of the redis-sentinel-url package, Prefect and RedisVL, since redis-py has
no URL for Sentinel. A port left out is Sentinel's 26379; the password is the primary's
(and its replicas'): the sentinels are asked without one. Every client moi makes from
such a URL asks the sentinels where the primary is each time it connects, so after a
failover a lost connection is made again to the new primary; a connection still open to
a demoted primary gets ``READONLY`` on its next write, and redis-py turns that into a
:class:`redis.ConnectionError`, which moi's clients retry (:mod:`moi.connections`).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379
FORM = "redis+sentinel://[:password@]host[:port][,host[:port]...]/service[/db]"
SENTINEL_TIMEOUT = 1.0
"""Seconds a sentinel has to answer "where is the primary?" before the next is asked:
a sentinel on a host that is cut off must not hold up the others' answer."""


@dataclasses.dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The connection options the URL sets for the primary's connections."""
        return {"db": self.db, "username": self.username, "password": self.password}


def is_sentinel(url: str) -> bool:
    """Whether ``url`` names Redis behind Sentinel."""
    return url.lower().startswith(SCHEME + "://")


def parse(url: str) -> SentinelURL:
    """Read a ``redis+sentinel://`` URL.

    :raises ValueError: saying what is wrong, with the form expected.
    """
    if not is_sentinel(url):
        raise ValueError(f"a Sentinel URL starts with {SCHEME}://")
    rest = url[len(SCHEME) + 3 :]
    if "?" in rest or "#" in rest:
        raise ValueError(f"takes no ?options or #fragment; the form is {FORM}")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_address(part) for part in hosts.split(","))
    parts = path.split("/") if path else []
    if not parts or not parts[0]:
        raise ValueError(f"names no service (the sentinels' master name); the form is {FORM}")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"has a bad path {'/' + path!r}: expected /service or /service/db")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelURL(sentinels, unquote(parts[0]), db, username, password)


def _address(text: str) -> tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` too) as (host, port)."""
    if text.startswith("["):
        host, bracket, tail = text[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"has a bad sentinel address {text!r}")
        port = tail[1:]
    else:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"has an empty sentinel address; the form is {FORM}")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"has a bad port in sentinel address {text!r}")
    return host, int(port)


def _sentinel_options() -> dict[str, Any]:
    return {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}


class SyncConnection(redis.sentinel.SentinelManagedConnection):
    """A connection that asks the sentinels where the primary is every time it connects.

    redis-py's own reconnects a closed connection to the address it had when a command
    is sent on it (a retry, or a single-connection client): after a failover, the old
    primary's, for ever.
    """

    def send_packed_command(self, command, check_health=True):
        if not self._sock:
            self.connect()  # through the sentinels
        super().send_packed_command(command, check_health)


class AsyncConnection(aiosentinel.SentinelManagedConnection):
    """:class:`SyncConnection` for asyncio."""

    async def send_packed_command(self, command, check_health=True):
        if not self.is_connected:
            await self.connect()
        await super().send_packed_command(command, check_health)


class SyncPool(redis.sentinel.SentinelConnectionPool):
    """Connections to the primary of a service, found by asking the sentinels.

    Closing it (its client's close) closes its connections to the sentinels too: they
    belong to this pool alone.
    """

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # the client's close, not a change of primary
            for client in self.sentinel_manager.sentinels:
                client.close()


class AsyncPool(aiosentinel.SentinelConnectionPool):
    """:class:`SyncPool` for asyncio."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            for client in self.sentinel_manager.sentinels:
                await client.aclose()


class BlockingAsyncPool(AsyncPool, aioredis.BlockingConnectionPool):
    """:class:`AsyncPool` whose commands wait for a free connection when all are busy."""


def sync_pool(url: str, **options: Any) -> SyncPool:
    """A pool of connections to the primary named by the Sentinel ``url``."""
    parsed = parse(url)
    manager = redis.sentinel.Sentinel(parsed.sentinels, sentinel_kwargs=_sentinel_options())
    return SyncPool(
        parsed.service,
        manager,
        is_master=True,
        connection_class=SyncConnection,
        **parsed.options,
        **options,
    )


def async_pool(url: str, *, blocking: bool = False, **options: Any) -> AsyncPool:
    """:func:`sync_pool` for asyncio; ``blocking``: a :class:`BlockingAsyncPool`."""
    parsed = parse(url)
    manager = aiosentinel.Sentinel(parsed.sentinels, sentinel_kwargs=_sentinel_options())
    pool_class = BlockingAsyncPool if blocking else AsyncPool
    return pool_class(
        parsed.service,
        manager,
        is_master=True,
        connection_class=AsyncConnection,
        **parsed.options,
        **options,
    )
