"""Waiting for a service to be ready: on a real signal, with a deadline, and an error that
names the host and the log to read when it never comes."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from examples.multihost.services import Service

T = TypeVar("T")

POLL = 0.1
"""Seconds between two looks at a condition that sends no event (a port, a file)."""


class NotReady(RuntimeError):
    """A service did not come up; the message names its host, its log and the log's end."""


def failure(service: Service, what: str) -> NotReady:
    return NotReady(
        f"{service.name} on host {service.host.name} ({service.host.addr}): {what}; "
        f"its log is {service.log}:\n{service.tail()}"
    )


def wait_for(check: Callable[[], T | None], service: Service, what: str, timeout: float) -> T:
    """``check()``'s first truthy value; :class:`NotReady` if ``service`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if not service.running:
            raise failure(service, f"exited (code {service.exit_code()}) before {what}")
        if time.monotonic() > deadline:
            raise failure(service, f"not {what} after {timeout:g} s")
        time.sleep(POLL)


def accepts(addr: str, port: int) -> bool:
    """Whether something listens on ``addr:port`` (from this thread's host)."""
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False


def http_status(addr: str, port: int, path: str = "/", timeout: float = 5) -> int | None:
    """The status a GET of ``path`` answers with, or None if nothing answers in time."""
    connection = http.client.HTTPConnection(addr, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
