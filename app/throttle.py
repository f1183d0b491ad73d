"""Sign-in and sign-up throttling, kept in Redis so every app process agrees.

**Counted before it is checked.** Every sign-in attempt is counted before its password
is hashed: one Lua script reads the counters that apply to it, refuses it if any says
wait, and otherwise counts it in all of them, as one atomic step
(:meth:`SignInThrottle.reserve`). So N concurrent attempts cost N: a burst cannot pass
the check together and be counted later. A refused attempt is not counted, and its
password is never hashed. A sign-in that succeeds gives its count back and clears its
name's counter for its address (NIST SP 800-63B §5.2.2: "disregard any previous failed
attempts for that user from the same IP address").

**Slowed, not locked out.** Which counters apply depends on who asks, after OWASP's
device cookies (the Authentication Cheat Sheet, "Protect against automated attacks";
the Credential Stuffing Prevention Cheat Sheet; "Slow Down Online Guessing Attacks with
Device Cookies") and NIST SP 800-63B §5.2.2 (accept attempts from addresses the
subscriber authenticated from before):

- a browser that signed in to this name before (its signed ``device`` cookie is in the
  name's known clients): that browser's own counter for the name, nothing else. Guesses
  from elsewhere never lock the owner's browser out.
- an address that signed in to this name before: the (name, address) counter and the
  address's.
- anyone else: those two, and the name's counter of attempts from unknown clients, which
  slows guessing at one name spread over many addresses, and stops it at 100 (NIST SP
  800-63B §5.2.2: no more than 100 consecutive failed attempts on one account) until a
  day passes without one. The owner's known browsers and addresses still get in.

Each counter lets a few attempts through at once, then makes each next one wait a delay
that doubles (from the last counted attempt), and past a limit refuses all until its
window ends; every counted attempt renews the window. The refusal says how long to
wait, and never whether the account exists.

Names come in their one normal form (:func:`app.accounts.check_username`), so "Kate",
" kate " and "\u212aate" (the Kelvin sign) are one name here as everywhere else.

Sign-ups are counted per address over their own window, with a plain cap; one refused
for a taken name counts too, so trying names on the create-account form is capped.
"""

from __future__ import annotations

import dataclasses
import math

import redis.asyncio as aioredis

from app.keys import known_clients_key, throttle_key

# KEYS: 1 the name's known clients (sorted set), then the counters: 2 the name's (unknown
# clients), 3 (name, address), 4 the address's, 5 (name, device).
# ARGV: 1 the device's member of the known set ("" for no cookie), 2 the address's, then
# for each counter its free attempts, lock-at, window, first delay and longest delay.
# Returns {seconds to wait (0: counted, go ahead), the trust: "device", "address" or ""}.
_RESERVE_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local trust, counters = '', {2, 3, 4}
if ARGV[1] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    trust, counters = 'device', {5}
elseif redis.call('ZSCORE', KEYS[1], ARGV[2]) then
    trust, counters = 'address', {3, 4}
end
local function rule(k)
    local at = 5 * (k - 2) + 3
    return tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
        tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
end
local wait = 0
for _, k in ipairs(counters) do
    local free, lock_at, window, first, longest = rule(k)
    local attempts = tonumber(redis.call('HGET', KEYS[k], 'attempts') or '0')
    if attempts >= lock_at then
        wait = math.max(wait, 1, redis.call('TTL', KEYS[k]))
    elseif attempts >= free then
        local last = tonumber(redis.call('HGET', KEYS[k], 'last') or '0')
        local delay = math.min(first * 2 ^ (attempts - free), longest)
        wait = math.max(wait, math.ceil(last + delay - now))
    end
end
if wait > 0 then
    return {wait, trust}
end
for _, k in ipairs(counters) do
    local _, _, window = rule(k)
    redis.call('HINCRBY', KEYS[k], 'attempts', 1)
    redis.call('HSET', KEYS[k], 'last', tostring(now))
    redis.call('EXPIRE', KEYS[k], window)
end
return {0, trust}
"""

# A sign-in succeeded. KEYS: as _RESERVE_SCRIPT's. ARGV: 1 and 2 as its, 3 the attempt's
# trust ("new" for a new account: the name's counter and known clients start afresh),
# 4 the seconds a client stays known, 5 how many the name knows at most.
_SETTLE_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
local back = {}
if ARGV[3] == 'new' then
    redis.call('DEL', KEYS[1], KEYS[2])
elseif ARGV[3] == 'address' then
    back = {4}
elseif ARGV[3] == '' then
    back = {2, 4}
end
for _, k in ipairs(back) do
    if tonumber(redis.call('HGET', KEYS[k], 'attempts') or '0') > 0 then
        redis.call('HINCRBY', KEYS[k], 'attempts', -1)
    end
end
redis.call('DEL', KEYS[3], KEYS[5])
redis.call('ZADD', KEYS[1], now, ARGV[2])
if ARGV[1] ~= '' then
    redis.call('ZADD', KEYS[1], now, ARGV[1])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[5]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 0
"""


@dataclasses.dataclass(frozen=True)
class Rule:
    free: int
    """Attempts let through before any delay."""
    lock_at: int
    """Attempts after which everything is refused for the rest of the window."""
    window: int = 15 * 60
    """Seconds an attempt is remembered (each counted attempt renews it)."""
    first_delay: int = 30
    """Seconds the first attempt past the free ones waits; each next one waits double."""
    longest_delay: int = 300
    """Seconds a wait grows to at most."""

    def most_within(self, seconds: float) -> int:
        """The most attempts this rule lets through in ``seconds`` from a standing start."""
        allowed, waited, delay = self.free, 0.0, float(self.first_delay)
        while allowed < self.lock_at and waited + delay <= seconds:
            allowed, waited, delay = allowed + 1, waited + delay, min(delay * 2, self.longest_delay)
        return allowed


PER_NAME_AND_ADDRESS = Rule(free=5, lock_at=20)
PER_DEVICE = Rule(free=5, lock_at=20)
"""A known browser's attempts at its name: as one address's."""
PER_ADDRESS = Rule(free=20, lock_at=100, first_delay=1, longest_delay=60)
"""Many people may share one address (NAT), and their successes are given back."""
PER_NAME = Rule(free=10, lock_at=100, window=24 * 3600, longest_delay=3600)
"""A name's attempts from unknown clients: NIST's "30 seconds up to an hour", then its
cap of 100."""
KNOWN_DAYS = 90
"""Days a browser or an address stays known to a name after its last sign-in there."""
KNOWN_MAX = 20
"""Browsers and addresses a name knows at most: the most recent."""
NEW_ACCOUNTS_PER_ADDRESS = 20
NEW_ACCOUNTS_WINDOW = 3600


class Throttled(Exception):
    """Refused for now; ``wait`` is the seconds until the next attempt may be made."""

    def __init__(self, wait: int, message: str) -> None:
        super().__init__(message)
        self.wait = wait


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A sign-in attempt the throttle counted: who made it, and which counters it cost."""

    name: str
    address: str
    device: str
    trust: str
    """``"device"`` (a known browser), ``"address"`` (a known address) or ``""``."""


class SignInThrottle:
    """The counters of sign-in attempts and new accounts, on the app's Redis client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._reserve = client.register_script(_RESERVE_SCRIPT)
        self._settle = client.register_script(_SETTLE_SCRIPT)

    @staticmethod
    def _counters(name: str, address: str, device: str) -> list[tuple[str, Rule]]:
        """The counters, in the order :data:`_RESERVE_SCRIPT` takes them (read at each
        call, so tests can change a rule)."""
        return [
            (throttle_key("user", name), PER_NAME),
            (throttle_key("pair", f"{name}@{address}"), PER_NAME_AND_ADDRESS),
            (throttle_key("addr", address), PER_ADDRESS),
            (throttle_key("device", f"{name}@{device}"), PER_DEVICE),
        ]

    async def reserve(self, name: str, address: str, device: str = "") -> Attempt:
        """Count a sign-in attempt at ``name`` from ``address`` and the browser ``device``
        (its device cookie's ID, or ""), before its password is checked.

        :raises Throttled: if a counter says wait; the attempt is not counted.
        """
        counters = self._counters(name, address, device)
        wait, trust = await self._reserve(
            keys=[known_clients_key(name), *(key for key, _ in counters)],
            args=[
                f"d:{device}" if device else "",
                f"a:{address}",
                *(
                    value
                    for _, rule in counters
                    for value in (
                        rule.free,
                        rule.lock_at,
                        rule.window,
                        rule.first_delay,
                        rule.longest_delay,
                    )
                ),
            ],
        )
        if int(wait) > 0:
            message = f"Too many sign-in attempts. Try again in {_say(int(wait))}."
            raise Throttled(int(wait), message)
        return Attempt(name, address, device, trust)

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt signed in: its counts are given back, the name's counters for its
        address and browser start again, and both are known to the name from now on."""
        await self._signed_in(attempt.name, attempt.address, attempt.device, attempt.trust)

    async def account_made(self, name: str, address: str, device: str) -> None:
        """A new account has ``name``: attempts at the name before it existed, and clients
        known to an account of that name before, are not its owner's."""
        await self._signed_in(name, address, device, "new")

    async def _signed_in(self, name: str, address: str, device: str, trust: str) -> None:
        await self._settle(
            keys=[
                known_clients_key(name),
                *(key for key, _ in self._counters(name, address, device)),
            ],
            args=[
                f"d:{device}" if device else "",
                f"a:{address}",
                trust,
                KNOWN_DAYS * 86400,
                KNOWN_MAX,
            ],
        )

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
