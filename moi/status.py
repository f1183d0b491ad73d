"""The statuses moi itself sets, and the helpers every reader of a status shares.

A running job may set any other text as its status; only these have a meaning to moi.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Status(StrEnum):
    """Job statuses with a meaning to moi."""

    QUEUED = "Queued"
    """Written by ``submit``; the job waits for an engine."""
    RUNNING = "Running"
    """An engine has started the function."""
    SUCCESS = "Success"
    """Final: the function returned; ``result`` holds its value."""
    FAILED = "Failed"
    """Final: the function raised, its engine died, or its result was refused."""
    CANCELLED = "Cancelled"
    """Final (PROTOCOL.md 1.1): someone asked for the job to stop."""


FINAL_STATUSES = frozenset({Status.SUCCESS.value, Status.FAILED.value, Status.CANCELLED.value})


def is_final(status: object) -> bool:
    """Whether nothing may change a job with this status any more."""
    return status in FINAL_STATUSES


_NOT_SLUG = re.compile(r"[^a-z0-9]")


def status_slug(status: object) -> str:
    """The status as a CSS class-name suffix, spelled as ``moi.statusSlug`` (moi.js) does.

    One dash per character that is not a lower-case letter or digit, so the browser and
    the server give a status the same class whatever text a job sets.
    """
    return _NOT_SLUG.sub("-", str(status).lower()) or "unknown"
