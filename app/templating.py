"""The Jinja2 environment, and the filters that turn info objects into readable text.

Autoescape is on for every template: job data (names, results, tracebacks) is shown
as text and never marked safe, so whatever a job returns cannot become markup.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from moi.durations import format_duration, format_span, iso, parse_date, when
from moi.status import is_final, status_slug

TEMPLATE_DIR = Path(__file__).parent / "templates"


def environment(*, auto_reload: bool = False) -> jinja2.Environment:
    """The app's template environment; ``auto_reload`` re-reads changed files (debug)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        auto_reload=auto_reload,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        iso=iso,
        duration=duration,
        queued_time=queued_time,
        status_slug=status_slug,
        as_text=as_text,
        traceback_parts=traceback_parts,
        percent=percent,
        thousands=thousands,
    )
    env.tests["final"] = is_final
    return env


def duration(info: dict[str, Any], now: datetime | None = None) -> str:
    """How long the job ran, or has been running so far; a dash before it starts."""
    return elapsed(info.get("date_start"), info.get("date_end"), now)


def queued_time(info: dict[str, Any], now: datetime | None = None) -> str:
    """How long the job waited for an engine: until it started, or ended without
    starting (cancelled while queued), or so far while it waits."""
    until = info.get("date_start") or info.get("date_end")
    return elapsed(info.get("date_created"), until, now)


def elapsed(start_value: Any, end_value: Any, now: datetime | None = None) -> str:
    """The time from one info date to another (or to now, in whole seconds, as the page
    then ticks it on); a dash without the first."""
    start = parse_date(start_value)
    if start is None:
        return "—"
    return format_span(start, parse_date(end_value), now)


run_time = format_duration
"""A time span as the live list writes one (:func:`moi.durations.format_duration`)."""


def as_text(value: Any) -> str:
    """A result as text: a str as it is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


_MOI_FRAME = re.compile(r'^  File "[^"]*[\\/]moi[\\/](?:[^"\\/]+[\\/])*[^"\\/]+\.py", line ')


def traceback_parts(text: str) -> list[tuple[bool, str]]:
    """A traceback cut into runs of lines, each ``(True, moi's frames)`` or ``(False, the rest)``.

    A frame is its ``File "...", line N`` line and the indented lines under it (the
    source, the ``^^^`` marks); moi's are those of files under a ``moi/`` folder (its
    runner, which calls the job), so a page can fold them and start at the user's code.
    """
    parts: list[tuple[bool, str]] = []
    in_moi = False
    for line in text.splitlines(keepends=True):
        if line.startswith("  File "):
            in_moi = bool(_MOI_FRAME.match(line))
        elif not line.startswith("    "):
            in_moi = False
        if parts and parts[-1][0] == in_moi:
            parts[-1] = (in_moi, parts[-1][1] + line)
        else:
            parts.append((in_moi, line))
    return parts


def percent(progress: Any) -> str:
    """``42%`` for a progress of 0.42; empty when the job reported none."""
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        return ""
    return f"{min(1.0, max(0.0, progress)):.0%}"


def thousands(number: int) -> str:
    """``2,000,000``: big numbers are easier to read with separators."""
    return f"{number:,}"
