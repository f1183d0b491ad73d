"""Every Redis key and channel name moi uses, built in one place.

The layout is the seed's and is public API (see PROTOCOL.md): other programs read
and publish on these names, so they carry no prefix.
"""

import re

CHANNEL_SUFFIX = ":pubsub"
_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_job_id(text: object) -> bool:
    """Whether ``text`` is a job ID as moi makes them (a UUID4 string).

    Checked before a key is read for a job, so no other key (a group's set, an app's
    own keys) is ever taken for one.
    """
    return isinstance(text, str) and _JOB_ID.fullmatch(text) is not None


def job_key(job_id: str) -> str:
    """The string key that holds a job's info object."""
    return job_id


def job_channel(job_id: str) -> str:
    """The channel on which a job's changes are announced."""
    return job_id + CHANNEL_SUFFIX


def group_jobs_key(group: str) -> str:
    """The set of a group's job IDs."""
    return f"{group}:jobs"


def group_channel(group: str) -> str:
    """The channel for a group's ``add``/``remove`` actions."""
    return group + CHANNEL_SUFFIX


ALL_CHANNELS = "*" + CHANNEL_SUFFIX
"""A pattern for every group's and job's channel (tell them apart with :func:`is_job_id`)."""

# moi's own keys, beside the seed's layout: namespaced, listed in the README's contract.

LEASES = "moi:leases"
"""Sorted set: the ID of each running job, scored by when its lease lapses (Redis's clock)."""

QUEUE_PREFIX = "moi:queue:"
READY = "moi:ready"
"""Sorted set: each group with jobs waiting, scored by its turn (the lowest is served next)."""

TURN = "moi:turn"
"""Counter: the turns given so far; a group served takes the next one (round-robin)."""

SEQUENCE = "moi:seq"
"""Counter: the order of submits, the score of a job in its group's queue (FIFO)."""

RUNNING_PREFIX = "moi:running:"
DISPATCHER_LOCK = "moi:dispatcher"
"""String: the fencing token of the one dispatcher at work, with a short TTL."""

FENCE = "moi:fence"
"""Counter: the fencing tokens given so far; each new dispatcher takes the next."""

SERVING = "moi:serving"
"""Hash: each engine task of the dispatcher's, to the ``id:attempt`` of the jobs it took,
so the jobs of an engine that died are known at once."""

CLUSTER = "moi:cluster"
"""String: the dispatcher's report on the cluster (JSON), expiring unless renewed."""

CLUSTER_CHANNEL = "moi:cluster"
"""Channel: the dispatcher's report, published when it changes (and every few seconds):
the key's name, since a key and a channel never meet in Redis (the key holds the last
report, for a reader that comes now; the channel brings the next ones)."""

MINUTES = "moi:minutes"
"""Hash: each minute (Unix time // 60) of the last hour, to the jobs engines ended in it."""

WAKE = "moi:wake"
"""Channel: a group's name, published when jobs of it start to wait; the dispatcher listens."""

REAPER_LOCK = "moi:reaper"
"""String: the token of the one process that reaps at the moment, with a short TTL."""

CANCELS = "moi:cancels"
"""Channel: ``{"cancel": job ID}`` for each job just cancelled, for the engine running it."""

CALLS = "moi:calls"
"""Hash: the packed call (base64) of each unfinished job, so whichever engine takes it can
run it, and run it again if its engine is lost."""


def queue_key(group: str) -> str:
    """Sorted set: the IDs of the group's waiting jobs, scored in the order they run."""
    return QUEUE_PREFIX + group


def running_key(group: str) -> str:
    """Set: the IDs of the group's jobs taken by an engine and not yet ended."""
    return RUNNING_PREFIX + group


OUTPUT_PREFIX = "moi:output:"


def output_key(job_id: str) -> str:
    """Hash: how much a job printed (``lines``, ``tail_first``, ``dropped_bytes``)."""
    return OUTPUT_PREFIX + job_id


def output_head_key(job_id: str) -> str:
    """List: the first lines a job printed, up to half its output cap."""
    return OUTPUT_PREFIX + job_id + ":head"


def output_tail_key(job_id: str) -> str:
    """List: the last lines a job printed, once its head is full (up to the other half)."""
    return OUTPUT_PREFIX + job_id + ":tail"


def output_channel(job_id: str) -> str:
    """Channel: each batch of lines a job prints, as it is stored."""
    return OUTPUT_PREFIX + job_id
