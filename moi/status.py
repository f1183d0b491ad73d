"""The statuses moi itself sets, and the helpers every reader of a status shares.

A running job may set any other text as its status; only these have a meaning to moi.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


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


MAX_REASON = 300
"""Characters of a failure's reason shown at most: an exception's message may be long."""


def last_line(text: object) -> str:
    """The last non-empty line of ``text``, stripped; "" if there is none or it is no text."""
    if not isinstance(text, str):
        return ""
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def failure_reason(info: Mapping[str, Any]) -> str:
    """Why a ``Failed`` job failed, in one line; "" for a job in any other status.

    It is the last line of the stored result: for a traceback, the exception's type and
    message (``ValueError: bad input``); for an end moi wrote (a time limit, a lost
    engine), its message. The command line, the log and the web list show the same line,
    cut at :data:`MAX_REASON` characters (the whole traceback is in ``result``).
    """
    if info.get("status") != Status.FAILED.value:
        return ""
    line = last_line(info.get("result"))
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


_NOT_SLUG = re.compile(r"[^a-z0-9]")


def status_slug(status: object) -> str:
    """The status as a CSS class-name suffix, spelled as ``moi.statusSlug`` (moi.js) does.

    One dash per character that is not a lower-case letter or digit, so the browser and
    the server give a status the same class whatever text a job sets.
    """
    return _NOT_SLUG.sub("-", str(status).lower()) or "unknown"
