"""The connections moi works through: one Redis client and one ipyparallel client.

``submit(...)`` has no room for a connection argument (its keywords belong to the job's
function), so the library works through a process-wide default :class:`Context`, made
lazily from the config file on first use, or set by the application with
:func:`set_default`. Nothing connects until something is used.
"""

from __future__ import annotations

import threading
from functools import cached_property

import ipyparallel as ipp
import redis

from moi import config, record


class Context:
    """Settings plus the clients built from them, each made on first use."""

    def __init__(self, settings: config.Settings | None = None) -> None:
        self.settings = settings if settings is not None else config.load()
        self.outstanding: set[str] = set()
        """IDs of the jobs this process sent to the cluster that have not come back yet."""

    @cached_property
    def redis(self) -> redis.Redis:
        """A thread-safe client; ``decode_responses`` so values come back as str."""
        return redis.Redis.from_url(self.settings.redis_url, decode_responses=True)

    @cached_property
    def writer(self) -> record.Writer:
        return record.Writer(self.redis)

    @cached_property
    def ipp_client(self) -> ipp.Client:
        settings = self.settings
        if settings.ipp_connection_file:
            return ipp.Client(settings.ipp_connection_file)
        if settings.ipp_profile:
            return ipp.Client(profile=settings.ipp_profile)
        return ipp.Client()

    @cached_property
    def view(self) -> ipp.LoadBalancedView:
        return self.ipp_client.load_balanced_view()

    def close(self) -> None:
        """Close what was opened; the context can't be used afterwards."""
        if "ipp_client" in self.__dict__:
            self.ipp_client.close()
        if "redis" in self.__dict__:
            self.redis.close()


_default: Context | None = None
_default_lock = threading.Lock()


def default() -> Context:
    """The process's context, made from the config file the first time it is asked for."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Context()
        return _default


def set_default(context: Context | None) -> Context | None:
    """Make ``context`` the one ``submit`` and friends use; return the one it replaces."""
    global _default
    with _default_lock:
        previous, _default = _default, context
    return previous
