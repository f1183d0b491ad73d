"""The seed's job functions (``submit``, ``submit_nouser``, ``get``, ``wait``, ``fail``),
and ``cancel`` of PROTOCOL.md 1.1.

Thin shims over the process's default :class:`moi.sync.SyncClient` (see
:mod:`moi.context`), kept because the seed and PROTOCOL.md name them. They block: on an
event loop, await the same methods of the application's :class:`moi.client.Client`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moi import context
from moi.client import NO_USER_GROUP

__all__ = [
    "NO_USER_GROUP",
    "cancel",
    "fail",
    "get",
    "map",
    "submit",
    "submit_many",
    "submit_nouser",
    "wait",
]


def submit(group: str, name: str, handler: str | None, func, /, *args, **kwargs) -> str:
    """Run ``func(*args, status_update=..., **kwargs)`` on the cluster as a job of ``group``.

    See :meth:`moi.client.Client.submit`; returns the new job's ID.
    """
    return context.default().submit(group, name, handler, func, *args, **kwargs)


def submit_many(group: str, handler: str | None, calls: Iterable[tuple], /) -> list[str]:
    """Several jobs of ``group`` in one atomic write; see :meth:`moi.client.Client.submit_many`."""
    return context.default().submit_many(group, handler, calls)


def map(group: str, name: str, handler: str | None, func, items: Iterable, /) -> list[str]:  # noqa: A001
    """One job of ``group`` per item, ``func(item)``; see :meth:`moi.client.Client.map`."""
    return context.default().map(group, name, handler, func, items)


def submit_nouser(func, /, *args, **kwargs) -> str:
    """Submit a job that belongs to no user (group ``"no-user"``) and has no result page."""
    name = getattr(func, "__name__", "job")
    return context.default().submit(NO_USER_GROUP, name, None, func, *args, **kwargs)


def get(job_id: str) -> dict[str, Any] | None:
    """The job's info object, or None if no such job is stored."""
    return context.default().get(job_id)


def wait(job_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Block until the job has ended; return its final info object."""
    return context.default().wait(job_id, timeout)


def fail(job_id: str, reason: str) -> bool:
    """End a job ``Failed`` with ``reason``, unless it has ended; whether it was changed."""
    return context.default().fail(job_id, reason)


def cancel(job_id: str, *, by: str | None = None) -> bool:
    """Stop a job, ending it ``Cancelled``; False if it had ended. See
    :meth:`moi.client.Client.cancel`."""
    return context.default().cancel(job_id, by=by)
