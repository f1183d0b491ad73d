"""Writes to a group's set of job IDs (``<group>:jobs``), in one place with one TTL rule.

Each function queues commands on a MULTI pipeline, sync or asyncio alike (queuing is
the same on both); the caller executes it (``pipe.execute()`` or ``await
pipe.execute()``), usually together with other writes, so a set change and its notice
are one transaction. The TTL rule: every ``add`` sets the set's TTL to ``ttl`` (when
non-zero), so a group's set lives ``key_ttl`` past its newest job, like that job's record.
:data:`LUA_ADD` is the same ``add`` for a Lua script (the one that creates jobs).
"""

from __future__ import annotations

import json
from typing import Any

from moi import keys

Pipeline = Any
"""A redis-py pipeline, ``redis.client.Pipeline`` or ``redis.asyncio.client.Pipeline``."""


def add(pipe: Pipeline, group: str, ids: list[str], ttl: int, *, announce: bool = True) -> None:
    """Queue: put ``ids`` in the group's set, refresh its TTL, and (``announce``) say so."""
    if not ids:
        return
    group_set = keys.group_jobs_key(group)
    pipe.sadd(group_set, *ids)
    if ttl:
        pipe.expire(group_set, ttl)
    if announce:
        pipe.publish(keys.group_channel(group), add_notice(ids))


LUA_ADD = """
local function group_add(group_set, ids, ttl, channel, notice)
    for _, id in ipairs(ids) do
        redis.call('SADD', group_set, id)
    end
    if ttl > 0 then
        redis.call('EXPIRE', group_set, ttl)
    end
    redis.call('PUBLISH', channel, notice)
end
"""
"""Lua: :func:`add` with ``announce``, as a local function for a script to call."""


def add_notice(ids: list[str]) -> str:
    """The ``add`` message on a group's channel (PROTOCOL.md)."""
    return json.dumps({"add": ids})


def remove(pipe: Pipeline, group: str, ids: list[str], *, announce: bool = True) -> None:
    """Queue: take ``ids`` out of the group's set and (``announce``) say so.

    Their records stay until they expire. Without ``announce``, for IDs whose record is
    already gone: there is nothing for anyone to take off a list.
    """
    if not ids:
        return
    pipe.srem(keys.group_jobs_key(group), *ids)
    if announce:
        pipe.publish(keys.group_channel(group), json.dumps({"remove": ids}))
