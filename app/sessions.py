"""Server-side sessions: a signed-in browser holds a random session ID, Redis holds the rest.

A signed cookie alone cannot be taken back: signing out only asks the browser to forget
it. Here the cookie carries a session ID, and the session (its user, and the ID of the
account it was opened for) lives in Redis with a TTL, so:

- signing out deletes the session, for every tab that shares the cookie;
- "sign out everywhere" deletes every session of the user;
- a session of an account that was deleted, or deleted and made again by someone else
  under the same name, names an account ID that no longer matches: it is refused;
- each revocation is published on ``moi-app:signout``, so every app process closes the
  live-list websockets of those sessions at once (close code 4401: the page goes to
  the sign-in page rather than reconnecting);
- a session that goes without a sign-out (it expired, its key was deleted, Redis lost
  its data) closes its sockets the same way within :data:`RECHECK_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

import redis.asyncio as aioredis
from tornado.websocket import WebSocketHandler

from app.keys import SIGNOUT_CHANNEL, session_key, user_sessions_key
from moi.subscription import Subscription

log = logging.getLogger(__name__)

SIGNED_OUT = 4401
"""The websocket close code of a session that ended: moi.js stops reconnecting."""
RECHECK_EVERY = 5.0
"""Seconds between checks that the sessions of open live lists still exist."""
MGET_CHUNK = 1000


class Sessions:
    """The session store, on the application's asyncio Redis client."""

    def __init__(self, client: aioredis.Redis, days: int) -> None:
        self.client = client
        self.ttl = days * 24 * 3600

    async def open(self, user: str, account_id: str) -> str:
        """A new session of ``user``'s account ``account_id``; its ID, for the cookie."""
        session_id = secrets.token_urlsafe(32)
        record = json.dumps({"user": user, "account": account_id})
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(session_key(session_id), record, ex=self.ttl)
            pipe.sadd(user_sessions_key(user), session_id)
            pipe.expire(user_sessions_key(user), self.ttl)
            await pipe.execute()
        return session_id

    async def find(self, session_id: str) -> tuple[str, str] | None:
        """The user and account ID of a live session, or None."""
        raw = await self.client.get(session_key(session_id))
        try:
            session = json.loads(raw) if raw else None
            return (str(session["user"]), str(session["account"])) if session else None
        except (ValueError, KeyError, TypeError):
            return None

    async def missing(self, session_ids: list[str]) -> list[str]:
        """Those of ``session_ids`` that are no longer stored (one MGET per thousand)."""
        gone = []
        for start in range(0, len(session_ids), MGET_CHUNK):
            chunk = session_ids[start : start + MGET_CHUNK]
            found = await self.client.mget([session_key(i) for i in chunk])
            gone += [i for i, raw in zip(chunk, found, strict=True) if raw is None]
        return gone

    async def close(self, session_id: str) -> None:
        """Sign this session out (every tab that shares it)."""
        found = await self.find(session_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(session_key(session_id))
            if found:
                pipe.srem(user_sessions_key(found[0]), session_id)
            pipe.publish(SIGNOUT_CHANNEL, json.dumps([session_id]))
            await pipe.execute()

    async def close_all(self, user: str) -> int:
        """Sign every session of ``user`` out; how many there were."""
        session_ids = sorted(await self.client.smembers(user_sessions_key(user)))
        async with self.client.pipeline(transaction=True) as pipe:
            for session_id in session_ids:
                pipe.delete(session_key(session_id))
            pipe.delete(user_sessions_key(user))
            if session_ids:
                pipe.publish(SIGNOUT_CHANNEL, json.dumps(session_ids))
            await pipe.execute()
        return len(session_ids)


class Signouts:
    """Closes the live-list websockets of sessions signed out in any app process.

    Follows ``moi-app:signout`` on a confirmed subscription (:mod:`moi.subscription`).
    If that is lost, a revocation may be missed, so every live socket is closed (1012):
    the pages reconnect, and each socket is checked against the session store again;
    meanwhile a new subscription is tried, with doubling waits.

    With ``sessions``, the sessions of open sockets are also looked up every
    :data:`RECHECK_EVERY` seconds (one MGET), and those gone without a word end too.
    """

    def __init__(self, redis_url: str, sessions: Sessions | None = None) -> None:
        self.redis_url = redis_url
        self.sessions = sessions
        self.sockets: dict[str, set[WebSocketHandler]] = {}
        self._subscription: Subscription | None = None
        self._restarter: asyncio.Task | None = None
        self._checker: asyncio.Task | None = None
        self._closing = False

    def add(self, session_id: str, socket: WebSocketHandler) -> None:
        self.sockets.setdefault(session_id, set()).add(socket)

    def discard(self, session_id: str, socket: WebSocketHandler) -> None:
        sockets = self.sockets.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.sockets[session_id]

    async def start(self) -> None:
        subscription = Subscription(self.redis_url, self._on_message, self._on_lost)
        try:
            await subscription.follow([SIGNOUT_CHANNEL])
        except BaseException:
            await subscription.close()
            raise
        self._subscription = subscription
        if self.sessions is not None and self._checker is None:
            self._checker = asyncio.ensure_future(self._recheck(self.sessions))

    async def close(self) -> None:
        self._closing = True
        for task in (self._restarter, self._checker):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._checker = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    def ended(self, session_ids: list[str], code: int = SIGNED_OUT) -> None:
        for session_id in session_ids:
            for socket in list(self.sockets.pop(session_id, ())):
                socket.close(code, "signed out" if code == SIGNED_OUT else "reconnect")

    def _on_message(self, channel: str, data: str, by_pattern: bool) -> None:
        self.ended(_session_ids(data))

    async def _recheck(self, sessions: Sessions) -> None:
        """End the sockets of sessions that are gone, every :data:`RECHECK_EVERY` s."""
        while True:
            await asyncio.sleep(RECHECK_EVERY)
            if not self.sockets:
                continue
            try:
                gone = await sessions.missing(list(self.sockets))
            except (OSError, aioredis.RedisError):
                continue  # Redis away: the hub closes the sockets, and each is checked anew
            self.ended(gone)

    def _on_lost(self) -> None:
        self._subscription = None
        if self._closing:
            return
        log.warning("sign-outs cannot be heard (Redis lost); live lists reconnect")
        self.ended(list(self.sockets), code=1012)
        if self._restarter is None:
            self._restarter = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await self.start()
                break
            except (OSError, aioredis.RedisError):
                delay = min(delay * 2, 30.0)
        self._restarter = None


def _session_ids(data: str) -> list[str]:
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):  # anyone who may publish may send anything
        return []
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []
