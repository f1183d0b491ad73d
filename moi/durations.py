"""How long a job waited or ran, and when, as text: one format for the live list, the
demo's pages, the library's job page and the ``moi`` command.

:func:`format_duration` is the Python twin of ``moi.JobList.formatDuration`` in
``static/moi_list.js``, digit for digit: ``tests/test_durations.py`` checks one table of
seconds and texts against both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def format_duration(seconds: float, live: bool = False) -> str:
    """A time span: "<0.01 s", "0.05 s", "4.2 s", "42 s", "1:05", "1:02:03".

    ``live`` (a span still counting, shown again each second) gives whole seconds only.
    Fractions round half up on the float's exact value, as JavaScript's ``toFixed`` does
    (``f"{0.125:.2f}"`` would round half to even: "0.12", where the list shows "0.13").
    """
    seconds = max(0.0, seconds)
    if not live and seconds < 0.01:
        return "<0.01 s"
    if not live and seconds < 1:
        return f"{_fixed(seconds, '0.01')} s"
    if not live and seconds < 10:
        return f"{_fixed(seconds, '0.1')} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, whole = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{whole:02}" if hours else f"{minutes}:{whole:02}"


def format_span(start: datetime, end: datetime | None, now: datetime | None = None) -> str:
    """The time from ``start`` to ``end``; without an end, to ``now`` (default: this
    moment) and in whole seconds, as a span still counting is shown."""
    until = end or now or datetime.now(UTC)
    return format_duration((until - start).total_seconds(), live=end is None)


def _fixed(seconds: float, step: str) -> Decimal:
    return Decimal(seconds).quantize(Decimal(step), rounding=ROUND_HALF_UP)


def parse_date(value: Any) -> datetime | None:
    """An info object's ISO 8601 date, or None if it is missing or not a date."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """``2024-05-01 09:30:12 UTC``, or a dash for a date not reached yet."""
    parsed = parse_date(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else "—"


def iso(value: Any) -> str:
    """A date for a ``<time datetime>`` attribute (UTC, milliseconds), or empty."""
    parsed = parse_date(value)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds") if parsed else ""
