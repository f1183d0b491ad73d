"""The helpers every reader of a status shares."""

from __future__ import annotations

import pytest

from moi.status import failure_reason

TRACEBACK = """Traceback (most recent call last):
  File "/srv/jobs.py", line 3, in fit
    raise ValueError("bad input")
ValueError: bad input
"""


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        ({"status": "Failed", "result": TRACEBACK}, "ValueError: bad input"),
        ({"status": "Failed", "result": TRACEBACK + "\n  \n"}, "ValueError: bad input"),
        (
            {"status": "Failed", "result": "time limit of 5 s exceeded"},
            "time limit of 5 s exceeded",
        ),
        ({"status": "Failed", "result": "x" * 1000}, "x" * 299 + "…"),
        ({"status": "Failed", "result": None}, ""),
        ({"status": "Failed"}, ""),
        ({"status": "Success", "result": "ends: in a line\nlike: this"}, ""),
        ({"status": "Running", "result": None}, ""),
    ],
)
def test_failure_reason_is_the_last_line_of_a_failure(info, reason):
    assert failure_reason(info) == reason
