"""The statuses moi itself sets. A running job may set any other text."""

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


FINAL_STATUSES = frozenset({Status.SUCCESS.value, Status.FAILED.value})


def is_final(status: object) -> bool:
    """Whether nothing may change a job with this status any more."""
    return status in FINAL_STATUSES
