"""Run a job again: the websocket's ``moi:again``, and the hook by which an app says how.

moi keeps a job's call only until the job ends (``moi:calls``), and what a job was made
from (a form's fields, a file) is the app's to know, as are the limits a new submit
must pass. So an app that can run its jobs again says how, in the Tornado application
setting ``moi_again``::

    async def again(group: str, job_id: str, info: dict) -> str:
        ...  # submit it again as the app submits it; the new job's ID
        raise AgainRefused("This job's inputs are no longer kept.")

    tornado.web.Application(routes, moi_again=again, ...)

The new job reaches the page as every job does, by its group's ``add`` and ``update``;
a refusal reaches it as an ``error`` with the refusal's text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from moi import keys
from moi.messages import ClientError, stored_info

log = logging.getLogger(__name__)

SETTING = "moi_again"
"""The Tornado application setting that holds the app's :data:`Again`."""

Again = Callable[[str, str, dict[str, Any]], Awaitable[str]]
"""``again(group, job_id, info)``: submit the group's job ``job_id`` (stored as ``info``)
again and return the new job's ID, or raise :class:`AgainRefused`."""


class AgainRefused(Exception):
    """The app cannot run this job again; the text says why, to the user who asked."""


async def run_again(redis: aioredis.Redis, again: Again | None, group: str, job_id: str) -> str:
    """Have the app run the group's job ``job_id`` again; the new job's ID.

    :raises ClientError: for a job that is not the group's (or is unknown: the same
        words, so no one learns that another's job exists), an app without the hook,
        or the app's refusal.
    """
    info = stored_info(job_id, await redis.get(keys.job_key(job_id)))
    if info is None or info.get("group") != group:
        raise ClientError(f"no job {job_id} of yours to run again")
    if again is None:
        raise ClientError("this site does not run jobs again")
    try:
        new_id = await again(group, job_id, info)
    except AgainRefused as error:
        raise ClientError(str(error)) from None
    log.info("moi job %s of group %s runs again as %s", job_id, group, new_id)
    return new_id
