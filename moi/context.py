"""The default client behind the seed's module functions (``moi.job.submit`` and friends).

``submit(group, name, handler, func, *args, **kwargs)`` has no room for a client
argument (its keywords belong to the job's function), so those functions work through
a process-wide :class:`moi.sync.SyncClient`, made from the config file on first use or
set with :func:`set_default`. Applications on an event loop don't use it: they own a
:class:`moi.client.Client` and await its methods.
"""

from __future__ import annotations

import threading

from moi.sync import SyncClient

_default: SyncClient | None = None
_default_lock = threading.Lock()


def default() -> SyncClient:
    """The process's default client, made from the config file the first time it is asked for."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SyncClient()
        return _default


def set_default(client: SyncClient | None) -> SyncClient | None:
    """Make ``client`` the one the module functions use; return the one it replaces."""
    global _default
    with _default_lock:
        previous, _default = _default, client
    return previous
