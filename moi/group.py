"""The seed's group functions: a group's jobs, and putting jobs into or out of it.

Thin shims over the process's default :class:`moi.sync.SyncClient`; on an event loop,
await the same methods of the application's :class:`moi.client.Client`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moi import context
from moi.messages import normalise_ids

__all__ = ["add", "jobs", "normalise_ids", "remove"]


def jobs(group: str) -> list[dict[str, Any]]:
    """The info objects of the group's jobs, oldest first."""
    return context.default().jobs(group)


def add(group: str, ids: str | Iterable[str]) -> None:
    """Put existing jobs into the group as well, and announce it."""
    context.default().add(group, ids)


def remove(group: str, ids: str | Iterable[str]) -> None:
    """Take jobs out of the group and announce it; their records stay until they expire."""
    context.default().remove(group, ids)
