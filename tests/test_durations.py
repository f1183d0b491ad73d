"""One duration format: the live list's (``moi.JobList.formatDuration``), the job page's
and the ``moi`` command's.

:data:`DURATIONS` is also the table that ``tests/browser/test_moi_list_js.py`` checks
the list's JavaScript against, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import templating
from moi import terminal
from moi.durations import format_duration, format_span

DURATIONS = [
    # (seconds, live, text)
    (-3, False, "<0.01 s"),  # clocks apart: never a negative time
    (0, False, "<0.01 s"),
    (0.004, False, "<0.01 s"),
    (0.0099999, False, "<0.01 s"),
    (0.01, False, "0.01 s"),
    (0.034, False, "0.03 s"),
    (0.125, False, "0.13 s"),  # a tie rounds up, as toFixed does (Python's "%.2f": 0.12)
    (0.625, False, "0.63 s"),
    (0.999, False, "1.00 s"),
    (1, False, "1.0 s"),
    (2.25, False, "2.3 s"),
    (4.21, False, "4.2 s"),
    (9.96, False, "10.0 s"),
    (10, False, "10 s"),
    (42.7, False, "42 s"),  # whole seconds from 10 s on: cut, not rounded
    (59.99, False, "59 s"),
    (60, False, "1:00"),
    (65, False, "1:05"),
    (3599.9, False, "59:59"),
    (3600, False, "1:00:00"),
    (3723.4, False, "1:02:03"),
    (100 * 3600 + 1, False, "100:00:01"),
    (-1, True, "0 s"),
    (0, True, "0 s"),
    (0.4, True, "0 s"),  # still counting: whole seconds only
    (5.9, True, "5 s"),
    (65.2, True, "1:05"),
]


@pytest.mark.parametrize(("seconds", "live", "text"), DURATIONS)
def test_format_duration_writes_what_the_list_writes(seconds, live, text):
    assert format_duration(seconds, live) == text


START = datetime(2026, 11, 30, 17, 42, 49, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("end", "now", "text"),
    [
        (START + timedelta(seconds=4.21), None, "4.2 s"),
        (START + timedelta(milliseconds=5), None, "<0.01 s"),
        (None, START + timedelta(seconds=65.9), "1:05"),  # still running: whole seconds
        (None, START + timedelta(seconds=0.9), "0 s"),
    ],
)
def test_format_span_is_live_without_an_end(end, now, text):
    assert format_span(START, end, now) == text


@pytest.mark.parametrize("writer", [terminal.duration, templating.duration], ids=["cli", "page"])
@pytest.mark.parametrize(
    ("ended_after", "text"),
    [(0.0056, "<0.01 s"), (0.125, "0.13 s"), (4.21, "4.2 s"), (3723.4, "1:02:03"), (None, "1:05")],
)
def test_the_command_and_the_job_page_write_a_run_time_alike(writer, ended_after, text):
    info = {"date_start": START.isoformat()}
    if ended_after is not None:
        info["date_end"] = (START + timedelta(seconds=ended_after)).isoformat()
    assert writer(info, now=START + timedelta(seconds=65.2)) == text
