"""A group's jobs: listing them, and putting jobs into or out of the group."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from moi import context, keys, record


def normalise_ids(ids: str | Iterable[str]) -> list[str]:
    """A job ID or several as a list of str, as the ``add``/``remove`` actions allow.

    :raises TypeError: if any ID is not a str.
    """
    if isinstance(ids, str):
        ids = [ids]
    ids = list(ids)
    for job_id in ids:
        if not isinstance(job_id, str):
            raise TypeError(f"job IDs must be str, not {type(job_id).__name__}")
    return ids


def jobs(group: str) -> list[dict[str, Any]]:
    """The info objects of the group's jobs, oldest first.

    One SMEMBERS and one MGET whatever the number of jobs. IDs whose record expired
    are left out, and taken out of the set.
    """
    client = context.default().redis
    ids = sorted(client.smembers(keys.group_jobs_key(group)))
    if not ids:
        return []
    infos, expired = [], []
    for job_id, raw in zip(ids, client.mget([keys.job_key(i) for i in ids]), strict=True):
        info = record.decode(raw)
        if info is None:
            expired.append(job_id)
        else:
            infos.append(info)
    if expired:
        client.srem(keys.group_jobs_key(group), *expired)
    infos.sort(key=lambda info: info.get("date_created") or "")
    return infos


def add(group: str, ids: str | Iterable[str]) -> None:
    """Put existing jobs into the group as well, and announce it.

    The set is changed here, in the same transaction as the notice, so it holds whether
    or not a moi server is listening to the group at that moment.
    """
    ids = normalise_ids(ids)
    if ids:
        ctx = context.default()
        with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.group_jobs_key(group), *ids)
            if ctx.settings.key_ttl:
                pipe.expire(keys.group_jobs_key(group), ctx.settings.key_ttl)
            pipe.publish(keys.group_channel(group), json.dumps({"add": ids}))
            pipe.execute()


def remove(group: str, ids: str | Iterable[str]) -> None:
    """Take jobs out of the group and announce it; their records stay until they expire."""
    ids = normalise_ids(ids)
    if not ids:
        return
    with context.default().redis.pipeline(transaction=True) as pipe:
        pipe.srem(keys.group_jobs_key(group), *ids)
        pipe.publish(keys.group_channel(group), json.dumps({"remove": ids}))
        pipe.execute()
