"""Sign-in and registration throttling, kept in Redis so every app process agrees.

A sign-in that fails counts against its username and against the address it came from,
for a window that each failure renews. The first few failures are free; after them each
attempt must wait a delay that doubles with every failure, and past a limit the key is
locked until the window ends. A throttled attempt is refused before its password is
hashed, so guessing costs the server nothing either. The refusal says how long to wait
and never whether the account exists.

Sign-ups are counted per address over their own window, with a plain cap; one refused
for a taken name counts too, so trying names on the create-account form is capped.
"""

from __future__ import annotations

import dataclasses
import math

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from app.keys import throttle_key

# KEYS: the counters. ARGV: for each, its free failures, lock-at and longest delay (s).
# Returns the seconds to wait before another attempt (0: go ahead), the longest of any key.
_WAIT_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
local wait = 0
for i, key in ipairs(KEYS) do
    local free, lock_at, longest = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]),
        tonumber(ARGV[3 * i])
    local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
    if failures >= lock_at then
        wait = math.max(wait, 1, redis.call('TTL', key))
    elseif failures >= free then
        local last = tonumber(redis.call('HGET', key, 'last') or '0')
        local delay = math.min(2 ^ (failures - free), longest)
        wait = math.max(wait, math.ceil(last + delay - now))
    end
end
return wait
"""


@dataclasses.dataclass(frozen=True)
class Rule:
    free: int
    """Failures allowed before any delay."""
    lock_at: int
    """Failures after which the key is locked for the rest of the window."""
    window: int = 15 * 60
    """Seconds a failure is remembered (each failure renews it)."""
    longest_delay: int = 60


PER_USERNAME = Rule(free=5, lock_at=20)
PER_ADDRESS = Rule(free=20, lock_at=100)  # many people may share one address (NAT)
NEW_ACCOUNTS_PER_ADDRESS = 20
NEW_ACCOUNTS_WINDOW = 3600


class Throttled(Exception):
    """Refused for now; ``wait`` is the seconds until the next attempt may be made."""

    def __init__(self, wait: int, message: str) -> None:
        super().__init__(message)
        self.wait = wait


class SignInThrottle:
    """The counters of sign-in failures and new accounts, on the app's Redis client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._wait = client.register_script(_WAIT_SCRIPT)

    def _keys(self, username: str, address: str) -> list[tuple[str, Rule]]:
        return [
            (throttle_key("user", username), PER_USERNAME),
            (throttle_key("addr", address), PER_ADDRESS),
        ]

    async def check(self, username: str, address: str) -> None:
        """Raise :class:`Throttled` if this username or address must wait."""
        counters = self._keys(username, address)
        wait = int(
            await self._wait(
                keys=[key for key, _ in counters],
                args=[
                    value
                    for _, rule in counters
                    for value in (rule.free, rule.lock_at, rule.longest_delay)
                ],
            )
        )
        if wait > 0:
            raise Throttled(wait, f"Too many sign-in attempts. Try again in {_say(wait)}.")

    async def failed(self, username: str, address: str) -> None:
        seconds, _ = await self.client.time()
        async with self.client.pipeline(transaction=True) as pipe:
            for key, rule in self._keys(username, address):
                pipe.hincrby(key, "failures", 1)
                pipe.hset(key, "last", seconds)
                pipe.expire(key, rule.window)
            await pipe.execute()

    def succeeded(self, pipe: Pipeline, username: str) -> None:
        """The account's owner is in: its counter starts again (the address's does not).

        Queued on ``pipe``: the sign-in's own write, one round trip for both.
        """
        pipe.delete(throttle_key("user", username))

    async def check_new_account(self, address: str) -> None:
        """Count a sign-up from ``address``; :class:`Throttled` past the cap."""
        key = throttle_key("new", address)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=NEW_ACCOUNTS_WINDOW, nx=True)  # the window starts once
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
        if count > NEW_ACCOUNTS_PER_ADDRESS:
            wait = max(int(ttl), 1)
            message = f"Too many sign-ups from your address. Try again in {_say(wait)}."
            raise Throttled(wait, message)


def _say(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"
