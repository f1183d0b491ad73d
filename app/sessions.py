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
  the sign-in page rather than reconnecting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

import redis.asyncio as aioredis
from tornado.websocket import WebSocketHandler

log = logging.getLogger(__name__)

SESSION_PREFIX = "moi-app:session:"
USER_SESSIONS_PREFIX = "moi-app:sessions:"
SIGNOUT_CHANNEL = "moi-app:signout"
SIGNED_OUT = 4401
"""The websocket close code of a session that ended: moi.js stops reconnecting."""


class Sessions:
    """The session store, on the application's asyncio Redis client."""

    def __init__(self, client: aioredis.Redis, days: int) -> None:
        self.client = client
        self.ttl = days * 24 * 3600

    async def open(self, user: str, account_id: str) -> str:
        """A new session of ``user``'s account ``account_id``; its ID, for the cookie."""
        session_id = secrets.token_urlsafe(32)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(
                SESSION_PREFIX + session_id,
                json.dumps({"user": user, "account": account_id}),
                ex=self.ttl,
            )
            pipe.sadd(USER_SESSIONS_PREFIX + user, session_id)
            pipe.expire(USER_SESSIONS_PREFIX + user, self.ttl)
            await pipe.execute()
        return session_id

    async def find(self, session_id: str) -> tuple[str, str] | None:
        """The user and account ID of a live session, or None."""
        raw = await self.client.get(SESSION_PREFIX + session_id)
        try:
            session = json.loads(raw) if raw else None
            return (str(session["user"]), str(session["account"])) if session else None
        except (ValueError, KeyError, TypeError):
            return None

    async def close(self, session_id: str) -> None:
        """Sign this session out (every tab that shares it)."""
        found = await self.find(session_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(SESSION_PREFIX + session_id)
            if found:
                pipe.srem(USER_SESSIONS_PREFIX + found[0], session_id)
            pipe.publish(SIGNOUT_CHANNEL, json.dumps([session_id]))
            await pipe.execute()

    async def close_all(self, user: str) -> int:
        """Sign every session of ``user`` out; how many there were."""
        session_ids = sorted(await self.client.smembers(USER_SESSIONS_PREFIX + user))
        async with self.client.pipeline(transaction=True) as pipe:
            for session_id in session_ids:
                pipe.delete(SESSION_PREFIX + session_id)
            pipe.delete(USER_SESSIONS_PREFIX + user)
            if session_ids:
                pipe.publish(SIGNOUT_CHANNEL, json.dumps(session_ids))
            await pipe.execute()
        return len(session_ids)


class Signouts:
    """Closes the live-list websockets of sessions signed out in any app process.

    Listens on ``moi-app:signout``. If that subscription is lost, a revocation may be
    missed, so every live socket is closed (1012): the pages reconnect, and each socket
    is checked against the session store again.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.sockets: dict[str, set[WebSocketHandler]] = {}
        self._task: asyncio.Task | None = None

    def add(self, session_id: str, socket: WebSocketHandler) -> None:
        self.sockets.setdefault(session_id, set()).add(socket)

    def discard(self, session_id: str, socket: WebSocketHandler) -> None:
        sockets = self.sockets.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.sockets[session_id]

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._listen())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def ended(self, session_ids: list[str], code: int = SIGNED_OUT) -> None:
        for session_id in session_ids:
            for socket in list(self.sockets.pop(session_id, ())):
                socket.close(code, "signed out" if code == SIGNED_OUT else "reconnect")

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(SIGNOUT_CHANNEL)
                    async for message in pubsub.listen():
                        delay = 0.5
                        if message["type"] == "message":
                            self.ended(_session_ids(message["data"]))
            except (OSError, aioredis.RedisError) as error:
                log.warning("sign-outs cannot be heard (%s); live lists reconnect", error)
                self.ended(list(self.sockets), code=1012)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _session_ids(data: str) -> list[str]:
    try:
        found = json.loads(data)
    except ValueError:
        return []
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []
