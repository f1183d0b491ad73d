"""How long an account is kept: removed when idle, or when nobody came back to it.

Two rules, each with its sorted set of names (:mod:`app.keys`):

- **idle**: an account nobody signed in to for ``[app] account_days`` (365) goes.
  ``moi-app:signins`` scores each account by its last sign-in.
- **unused**: an account nobody came back to after its sign-up goes
  ``[app] unused_account_days`` (7) after it was made. Coming back is signing in with its
  password, or using its session or one of its tokens :data:`USED_AFTER` or more after
  it was made: the sign-up's own first pages do not count, a visit an hour later does.
  Until then its record carries ``"unused": <when it was made>`` and
  ``moi-app:unused`` scores it; coming back drops both. So sign-ups that nobody uses
  cost a week of storage, not a year, while a person who keeps the sign-up's session
  (30 days) and uses it is never taken for one.

Both are swept at sign-ins (anyone's), a few accounts at a time, rather than by a timer:
an idle site has nobody to protect, and a sign-in pays no extra round trip for it. One
script removes an account's record and both scores together, and only while its score
is still due, so an account signed in to meanwhile, or made again under the name, is
never removed by mistake. A removed account's sessions and tokens name an account that
no longer exists and are refused; its jobs stay in its group, the account's ID, which
no other account ever gets (:func:`app.accounts.group_of`), until they expire.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from app.keys import SIGNINS_KEY, UNUSED_KEY, USERS_KEY

DAY = 86400
USED_AFTER = 3600
"""Seconds after its sign-up from which using an account counts as coming back to it."""
BATCH = 50
"""Accounts removed by one sign-in at most, per rule; the next sign-ins take the rest."""

# KEYS: 1 users (hash), 2 signins, 3 unused (sorted sets). ARGV: 1 the idle cutoff,
# 2 the unused one (each "" when its rule is off), 3 the batch. Returns the names removed.
_REMOVE_SCRIPT = """
local removed = {}
local function sweep(scores, cutoff)
    if cutoff == '' then return end
    local due = redis.call('ZRANGEBYSCORE', KEYS[scores], '-inf', cutoff, 'LIMIT', 0, ARGV[3])
    for _, name in ipairs(due) do
        redis.call('HDEL', KEYS[1], name)
        redis.call('ZREM', KEYS[2], name)
        redis.call('ZREM', KEYS[3], name)
        removed[#removed + 1] = name
    end
end
sweep(2, ARGV[1])
sweep(3, ARGV[2])
return removed
"""

# KEYS: 1 users, 2 unused. ARGV: 1 the name, 2 its record as read, 3 the record without
# its mark. The record is only rewritten if nobody changed (or removed) it meanwhile.
_CAME_BACK_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
redis.call('ZREM', KEYS[2], ARGV[1])
"""


class Retention:
    """The two rules, on the application's asyncio Redis client."""

    def __init__(self, client: aioredis.Redis, keep_days: int = 0, unused_days: int = 0) -> None:
        self.keep_days = keep_days
        """Days an account is kept after its last sign-in; 0 keeps it forever."""
        self.unused_days = unused_days
        """Days an account nobody came back to is kept after its sign-up; 0: as any other."""
        self._remove = client.register_script(_REMOVE_SCRIPT)
        self._came_back = client.register_script(_CAME_BACK_SCRIPT)

    def new(self, record: dict[str, Any]) -> None:
        """Mark a new account's record unused (when the rule is on), before it is stored."""
        if self.unused_days:
            record["unused"] = int(time.time())

    async def signed_in(self, pipe: Pipeline, name: str, now: int, *, made: bool) -> None:
        """Queue on ``pipe`` what a sign-in (``made``: the sign-up's) writes: its time, an
        unused account's score, and the removal of accounts now due."""
        pipe.zadd(SIGNINS_KEY, {name: now})
        if made and self.unused_days:
            pipe.zadd(UNUSED_KEY, {name: now})
        if self.keep_days or self.unused_days:
            cutoffs = [
                now - days * DAY if days else "" for days in (self.keep_days, self.unused_days)
            ]
            await self._remove(
                keys=[USERS_KEY, SIGNINS_KEY, UNUSED_KEY], args=[*cutoffs, BATCH], client=pipe
            )

    async def came_back(
        self, name: str, stored: str, record: dict[str, Any], *, signed_in: bool = False
    ) -> None:
        """Note that someone came back to ``name``'s account, if it is still marked
        unused and this counts (a sign-in always; other use from :data:`USED_AFTER` on).

        ``stored`` is the record as read, ``record`` its decoded value.
        """
        made = record.get("unused")
        if not isinstance(made, int | float) or isinstance(made, bool):
            return
        if not signed_in and time.time() - made < USED_AFTER:
            return
        kept = {key: value for key, value in record.items() if key != "unused"}
        await self._came_back(keys=[USERS_KEY, UNUSED_KEY], args=[name, stored, json.dumps(kept)])
