"""What moi logs about a job's life, as a server's console shows it."""

from __future__ import annotations

import logging

from tests import jobs


def ended_line(caplog, job_id: str) -> str:
    [line] = [
        message
        for message in (record.getMessage() for record in caplog.records)
        if job_id in message and " ended " in message
    ]
    return line


def test_a_failure_is_logged_with_its_last_line(r, moi_context, caplog):
    caplog.set_level(logging.INFO, logger="moi.jobs")
    failed = moi_context.submit("g", "raises", None, jobs.raises, "bad input")
    succeeded = moi_context.submit("g", "double", None, jobs.double, 2)
    moi_context.wait(failed, timeout=30)
    moi_context.wait(succeeded, timeout=30)
    moi_context.drain(timeout=30)  # their tasks are back: their ends are logged

    assert ended_line(caplog, failed).startswith(
        f"moi job {failed} of group g ended Failed: ValueError: bad input (queued "
    )
    assert ended_line(caplog, succeeded).startswith(
        f"moi job {succeeded} of group g ended Success (queued "
    )
