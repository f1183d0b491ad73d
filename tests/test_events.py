"""What moi logs about a job's life, as a server's console shows it."""

from __future__ import annotations

import logging
import threading

from tests import jobs


class Ends(logging.Handler):
    """The ``moi.jobs`` lines that say a job ended, with an event for each."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Condition()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self.seen:
            self.lines.append(record.getMessage())
            self.seen.notify_all()

    def line(self, job_id: str) -> str:
        """The one line that says the job ended."""
        with self.seen:
            [line] = [line for line in self.lines if job_id in line and " ended " in line]
        return line

    def wait_for(self, *job_ids: str, timeout: float = 30) -> None:
        def logged() -> bool:
            return all(any(i in line and " ended " in line for line in self.lines) for i in job_ids)

        with self.seen:
            assert self.seen.wait_for(logged, timeout), f"no end logged for {job_ids}"


def test_a_failure_is_logged_with_its_last_line(r, moi_context, caplog):
    caplog.set_level(logging.INFO, logger="moi.jobs")
    ends = Ends()  # the lines as they are logged, whichever thread logs them
    logging.getLogger("moi.jobs").addHandler(ends)
    try:
        failed = moi_context.submit("g", "raises", None, jobs.raises, "bad input")
        succeeded = moi_context.submit("g", "double", None, jobs.double, 2)
        # The dispatcher logs them when the engine's task comes back, after their ends.
        ends.wait_for(failed, succeeded)
    finally:
        logging.getLogger("moi.jobs").removeHandler(ends)

    assert ends.line(failed).startswith(
        f"moi job {failed} of group g ended Failed: ValueError: bad input (queued "
    )
    assert ends.line(succeeded).startswith(f"moi job {succeeded} of group g ended Success (queued ")
