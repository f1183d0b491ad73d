"""Writes that must not be lost: a job's final state, retried until Redis takes it.

A Redis restart or a network blip must not leave a job ``Running`` forever because its
engine's last write failed. Both faces retry with doubling, jittered waits (0.1 s up to
1 s, so that the end is stored within about a second of Redis's return, and pages show
it soon after) until the write is stored or ``give_up_after`` seconds have passed (config
``[jobs] write_retry``); each attempt is the same atomic write, so a retry never stores
anything twice or over a final status.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis

T = TypeVar("T")
log = logging.getLogger(__name__)

FIRST_WAIT, LONGEST_WAIT = 0.1, 1.0
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)
"""Errors a later attempt may not meet: Redis away, restarting, or loading its data."""


def waits(give_up_after: float):
    """The waits between attempts, until ``give_up_after`` seconds from now have passed."""
    deadline = time.monotonic() + give_up_after
    wait = FIRST_WAIT
    while (left := deadline - time.monotonic()) > 0:
        yield min(left, wait * random.uniform(1.0, 1.5))
        wait = min(wait * 2, LONGEST_WAIT)


def durably(write: Callable[[], T], give_up_after: float, what: str) -> T:
    """``write()``, again after each transient failure, until it succeeds or time is up."""
    for wait in waits(give_up_after):
        try:
            return write()
        except TRANSIENT as error:
            log.warning("moi could not store %s (%s); retrying in %.1f s", what, error, wait)
            time.sleep(wait)
    return write()  # the last try: its error goes to the caller


async def durably_async(write: Callable[[], Awaitable[T]], give_up_after: float, what: str) -> T:
    """:func:`durably` for code on an event loop: the waits do not block it."""
    for wait in waits(give_up_after):
        try:
            return await write()
        except TRANSIENT as error:
            log.warning("moi could not store %s (%s); retrying in %.1f s", what, error, wait)
            await asyncio.sleep(wait)
    return await write()
