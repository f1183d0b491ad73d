"""A job's output: the lines its function printed or logged, stored and announced.

Each line is stored as the JSON array ``[n, stream, time, text]``: ``n`` counts the job's
lines from 0 (across its attempts), ``stream`` is ``"stdout"``, ``"stderr"``, ``"log"``
(the records of Python's ``logging``) or ``"moi"`` (moi's own notes, e.g. a new attempt),
``time`` is Unix milliseconds. Lines are kept up to ``[jobs] max_output_bytes``: the
first half in the job's head list, then the last half in its tail list, the oldest of
the tail dropped as new ones come; so a reader sees the start and the end of a long
output, and how much between them was not kept. Every batch is published on the job's
output channel as it is stored (``{"id": ..., "lines": [...]}``), every line, kept or not.

One script stores a batch: the keys expire with the job (``key_ttl``), and a batch of an
earlier attempt than the stored one changes nothing, like every write of a job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis

from moi import keys

STREAMS = ("stdout", "stderr", "log", "moi")

PAGE_LINES = 5000
"""Lines a read returns at most, unless asked for fewer."""

# KEYS: meta hash, head list, tail list, job key, channel.
# ARGV: attempt, ttl, cap in bytes (0: no cap), then one JSON fragment per line (the
# array's items after ``n``). Answers the number of lines stored, or -1 if refused.
_APPEND_SCRIPT = """
local raw = redis.call('GET', KEYS[4])
if raw then
    local ok, info = pcall(cjson.decode, raw)
    if ok and type(info) == 'table' and (tonumber(info.attempt) or 1) > tonumber(ARGV[1]) then
        return -1
    end
end
local ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local meta = redis.call('HMGET', KEYS[1], 'lines', 'head_bytes', 'tail_bytes', 'tail_first')
local n = tonumber(meta[1] or '0')
local head_bytes = tonumber(meta[2] or '0')
local tail_bytes = tonumber(meta[3] or '0')
local tail_first = tonumber(meta[4] or '-1')
local half = cap / 2
local entries, dropped = {}, 0
for i = 4, #ARGV do
    local entry = '[' .. n .. ',' .. ARGV[i] .. ']'
    entries[#entries + 1] = entry
    if cap == 0 or (tail_first < 0 and head_bytes + #entry <= half) then
        redis.call('RPUSH', KEYS[2], entry)
        head_bytes = head_bytes + #entry
    else
        if tail_first < 0 then
            tail_first = n
        end
        redis.call('RPUSH', KEYS[3], entry)
        tail_bytes = tail_bytes + #entry
        while tail_bytes > half do
            local oldest = redis.call('LPOP', KEYS[3])
            tail_bytes = tail_bytes - #oldest
            tail_first = tail_first + 1
            dropped = dropped + #oldest
        end
    end
    n = n + 1
end
redis.call('HSET', KEYS[1], 'lines', n, 'head_bytes', head_bytes, 'tail_bytes', tail_bytes,
    'tail_first', tail_first)
if dropped > 0 then
    redis.call('HINCRBY', KEYS[1], 'dropped_bytes', dropped)
end
if ttl > 0 then
    for i = 1, 3 do
        redis.call('EXPIRE', KEYS[i], ttl)
    end
end
local batch = '{"id":"' .. KEYS[4] .. '","lines":[' .. table.concat(entries, ',') .. ']}'
redis.call('PUBLISH', KEYS[5], batch)
return #entries
"""

# KEYS: meta hash, head list, tail list. ARGV: the first line wanted, the most lines.
# Answers the lines given, the head's length, the tail's first line (-1: none), the
# bytes dropped, then the lines from the first wanted that are kept.
_READ_SCRIPT = """
local since, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local meta = redis.call('HMGET', KEYS[1], 'lines', 'tail_first', 'dropped_bytes')
local answer = {tonumber(meta[1] or '0'), redis.call('LLEN', KEYS[2]),
    tonumber(meta[2] or '-1'), tonumber(meta[3] or '0')}
local head_length, tail_first = answer[2], answer[3]
if since < head_length then
    for _, entry in ipairs(redis.call('LRANGE', KEYS[2], since, since + most - 1)) do
        answer[#answer + 1] = entry
    end
end
local left = most - (#answer - 4)
if left > 0 and tail_first >= 0 then
    local start = math.max(since, tail_first) - tail_first
    for _, entry in ipairs(redis.call('LRANGE', KEYS[3], start, start + left - 1)) do
        answer[#answer + 1] = entry
    end
end
return answer
"""


def output_keys(job_id: str) -> list[str]:
    """Every key of a job's output, to delete with the job."""
    return [keys.output_key(job_id), keys.output_head_key(job_id), keys.output_tail_key(job_id)]


def fragment(stream: str, when_ms: int, text: str) -> str:
    """A line as the append script takes it: the stored array's items after ``n``."""
    return json.dumps([stream, when_ms, text], ensure_ascii=False, separators=(",", ":"))[1:-1]


@dataclass
class Page:
    """Lines of a job's output from a position on, and what the reader needs around them.

    ``dropped`` is ``{"from": n, "to": n, "bytes": b}`` when lines ``from`` to ``to - 1``
    were not kept (the cap), else None; ``next`` is where the following read starts.
    """

    lines: list[list[Any]] = field(default_factory=list)
    total: int = 0
    next: int = 0
    dropped: dict[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "total": self.total,
            "next": self.next,
            "dropped": self.dropped,
        }


def _page(answer: list[Any], since: int) -> Page:
    total, head_length, tail_first, dropped_bytes = (int(x) for x in answer[:4])
    lines = [json.loads(entry) for entry in answer[4:]]
    page = Page(lines=lines, total=total, next=lines[-1][0] + 1 if lines else min(since, total))
    if tail_first > head_length:
        page.dropped = {"from": head_length, "to": tail_first, "bytes": dropped_bytes}
        if not lines and head_length <= since < tail_first:
            page.next = tail_first
    return page


def _check(since: int, most: int) -> tuple[int, int]:
    if since < 0:
        raise ValueError("since must be 0 or more")
    return since, max(1, min(most, PAGE_LINES))


class Output:
    """A job's output on a blocking Redis client (engines, the command line)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._append = client.register_script(_APPEND_SCRIPT)
        self._read = client.register_script(_READ_SCRIPT)

    def append(self, job_id: str, attempt: int, fragments: list[str], ttl: int, cap: int) -> int:
        """Store and publish lines (:func:`fragment`); how many, or -1 if a later attempt
        of the job has begun (nothing stored)."""
        if not fragments:
            return 0
        return int(
            self._append(
                keys=[*output_keys(job_id), keys.job_key(job_id), keys.output_channel(job_id)],
                args=[attempt, ttl, cap, *fragments],
            )
        )

    def read(self, job_id: str, since: int = 0, most: int = PAGE_LINES) -> Page:
        since, most = _check(since, most)
        return _page(self._read(keys=output_keys(job_id), args=[since, most]), since)


class AsyncOutput:
    """A job's output on an asyncio Redis client (the hub, web handlers)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._read = client.register_script(_READ_SCRIPT)

    async def read(self, job_id: str, since: int = 0, most: int = PAGE_LINES) -> Page:
        since, most = _check(since, most)
        return _page(await self._read(keys=output_keys(job_id), args=[since, most]), since)


def size(count: int) -> str:
    """Bytes as people read them: ``512 B``, ``56.7 KiB``, ``3.2 MiB``."""
    if count < 1024:
        return f"{count:,} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def not_kept(lines: int, bytes_: int | None) -> str:
    """The note for a range of lines the cap did not keep."""
    amount = f" ({size(bytes_)})" if bytes_ is not None else ""
    return f"… {lines:,} {'line' if lines == 1 else 'lines'}{amount} not kept …"
