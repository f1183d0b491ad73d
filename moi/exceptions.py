"""The errors moi raises on purpose, each with a message a user can act on."""


class MoiError(Exception):
    """Base class, so callers can catch everything moi raises on purpose."""


class ConfigError(MoiError):
    """The config file is missing, unreadable, or holds a bad value."""


class JobNotFound(MoiError, KeyError):
    """No job with that ID is stored (never was, or its record expired)."""

    def __str__(self) -> str:
        return f"no job with ID {self.args[0]!r}"


class ClusterError(MoiError):
    """The ipyparallel controller cannot be reached (not running, or a wrong config)."""


class JobProcessDied(MoiError):
    """The process that ran a job's function died before the function returned (it called
    ``os._exit``, crashed, or was killed); like an engine's death, the job may run again."""


class QueueFull(MoiError):
    """A submit would put more jobs in a group's queue than ``[jobs] max_queued_per_group``;
    nothing was stored."""

    def __init__(self, group: str, limit: int) -> None:
        super().__init__(
            f"group {group!r} already has the most jobs waiting that it may ({limit}); "
            "submit again once some have started"
        )
        self.group = group
        self.limit = limit
