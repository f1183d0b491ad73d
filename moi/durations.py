"""How long a job waited or ran, as text: one format for the live list, the demo's job
page and the ``moi`` command.

:func:`format_duration` is the Python twin of ``moi.JobList.formatDuration`` in
``static/moi_list.js``, digit for digit: ``tests/test_durations.py`` checks one table of
seconds and texts against both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal


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
