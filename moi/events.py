"""What moi counts (:mod:`moi.metrics`) and logs about each job's life, in one place.

The lines go to the ``moi`` loggers at INFO, with the job's ID and group, so a server's
console tells what is happening (``make run`` shows them). Nothing here does I/O beyond
logging, and it imports neither Redis nor the cluster: the hub uses it too.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from moi import metrics
from moi.status import Status, last_line

log = logging.getLogger("moi.jobs")


def submitted(prepared: list[tuple[dict[str, Any], bytes]]) -> None:
    """Count and log jobs just sent."""
    metrics.SUBMITTED.inc(len(prepared))
    if not log.isEnabledFor(logging.INFO):
        return
    if len(prepared) > 3:
        first = prepared[0][0]
        log.info("moi submitted %d jobs of group %s", len(prepared), first["group"])
        return
    for info, _ in prepared:
        log.info("moi job %s (%s) of group %s submitted", info["id"], info["name"], info["group"])


def cancelled(job_ids: list[str], by: str | None) -> None:
    """Count and log cancels that ended jobs (where they were asked for, whoever runs
    them): one line for a list of more than three, as :func:`submitted` does."""
    if not job_ids:
        return
    metrics.CANCELLED.inc(len(job_ids))
    metrics.ENDED.labels(Status.CANCELLED.value).inc(len(job_ids))
    who = f" by {by}" if by else ""
    if len(job_ids) > 3:
        log.info("moi cancelled %d jobs%s", len(job_ids), who)
        return
    for job_id in job_ids:
        log.info("moi job %s cancelled%s", job_id, who)


def ended(info: dict[str, Any], outcome: object) -> None:
    """Count and log how a job ended, from what :func:`moi.runner.run_job` returned."""
    if not isinstance(outcome, dict):
        return
    status = outcome.get("status")
    if status is None or status == Status.CANCELLED.value:
        return  # counted and logged where it was cancelled
    ran = seconds_between(outcome.get("date_start"), outcome.get("date_end"))
    queued = seconds_between(info.get("date_created"), outcome.get("date_start"))
    metrics.ended(status, queued, ran)
    if not log.isEnabledFor(logging.INFO):
        return
    reason = outcome.get("reason")
    log.info(
        "moi job %s of group %s ended %s%s (queued %s, ran %s)",
        info["id"],
        info["group"],
        status,
        f": {reason}" if reason else "",
        "?" if queued is None else f"{queued:.2f} s",
        "?" if ran is None else f"{ran:.2f} s",
    )


def seconds_between(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def retried(info: dict[str, Any]) -> None:
    """Count and log a job sent again because its engine died or went silent (``info`` is
    its next attempt's)."""
    metrics.RETRIED.inc()
    log.info(
        "moi job %s of group %s is sent again: its engine was lost (attempt %d of %d)",
        info["id"],
        info["group"],
        info["attempt"],
        info["retries"] + 1,
    )


def failed(job_id: str, group: str, message: str) -> None:
    """Count and log a job this process ended ``Failed`` (its engine could not)."""
    metrics.ended(Status.FAILED.value)
    reason = last_line(message)
    log.info("moi job %s of group %s ended Failed: %s", job_id, group or "?", reason)
