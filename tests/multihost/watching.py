"""A live list's view of one job, as moi.js keeps it: the websocket opened again after
each close (a hub that lost Redis lets its sockets go, 1012), resynced by its snapshot."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

from examples.multihost import Deployment
from tests.app.conftest import Client
from tests.multihost.clients import infos, live_socket


async def until_status(
    deployment: Deployment,
    web: str,
    client: Client,
    job_id: concurrent.futures.Future,
    status: str,
    opened: concurrent.futures.Future | None = None,
    timeout: float = 60,
) -> tuple[float, int]:
    """Watch ``web``'s websocket as ``client``'s user until the job whose ID ``job_id``
    resolves to shows ``status``: the monotonic time it did, and how often the socket was
    closed on the way. ``opened`` is set once the first snapshot came."""
    deadline = time.monotonic() + timeout
    closes = 0
    while True:
        assert time.monotonic() < deadline, f"{web}'s socket never showed the job {status}"
        try:
            socket = await live_socket(deployment, web, client)
        except Exception:  # refused (503) while the hub waits for Redis: ask again, as moi.js
            await asyncio.sleep(0.2)
            continue
        try:
            known = await socket.snapshot()
            if opened is not None and not opened.done():
                opened.set_result(True)
            wanted = await asyncio.wrap_future(job_id)
            if known.get(wanted, {}).get("status") != status:
                await socket.until(
                    lambda m, j=wanted: any(
                        i["id"] == j and i["status"] == status for i in infos(m)
                    ),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            return time.monotonic(), closes
        except AssertionError as error:
            if "closed" not in str(error):
                raise
            closes += 1
        finally:
            await socket.aclose()
