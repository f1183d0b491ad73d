"""Is the ipyparallel controller there? A probe that never blocks on a dead one.

ipyparallel's client neither notices a controller that died nor fails a send to it:
the send is queued by ZeroMQ, and the job would sit ``Queued`` forever. So a moi client
watches the controller itself: every couple of seconds it connects to the controller's
registration port, read afresh from the connection file (a restarted controller may
listen elsewhere), and waits for the greeting ZeroMQ sends on every new connection
(ZMTP 3, rfc.zeromq.org/spec/23). A TCP connection alone would not do: when the
controller is killed, its scheduler processes live on holding its listening sockets,
and the kernel still accepts connections there; only a live controller greets. A
refused, silent or timed-out connection is a lost controller; the client then refuses
submissions at once, and reconnects when the probe succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from urllib.parse import urlparse

from moi.config import Settings

PROBE_INTERVAL = 2.0
"""Seconds between probes: a lost controller is noticed within about this long."""

PROBE_TIMEOUT = 2.0
"""Seconds a connection may take before the controller counts as lost (a lost link)."""

ZMTP_SIGNATURE = (b"\xff", b"\x7f")
"""First and tenth bytes of the greeting a live ZeroMQ socket sends on every connection."""


def connection_file(settings: Settings) -> str:
    """Where the controller's client connection file is, as ipyparallel finds it."""
    if settings.ipp_connection_file:
        return settings.ipp_connection_file
    from IPython.core.profiledir import ProfileDir
    from IPython.paths import get_ipython_dir

    profile = ProfileDir.find_profile_dir_by_name(
        get_ipython_dir(), settings.ipp_profile or "default"
    )
    return os.path.join(profile.security_dir, "ipcontroller-client.json")


def registration_address(path: str) -> tuple[str, int] | None:
    """The host and port the controller registers clients on; None if unknowable here.

    None for a connection through an SSH tunnel, which this probe cannot follow.
    """
    with open(path) as file:
        found = json.load(file)
    if found.get("ssh"):
        return None
    host = urlparse(found["interface"]).hostname or ""
    if host in ("", "*", "0.0.0.0", "::"):
        host = found.get("location") or "127.0.0.1"
    return host, int(found["registration"])


async def reachable(settings: Settings) -> str | None:
    """None if the controller accepts a connection now, else why not (for the log)."""
    try:
        address = registration_address(connection_file(settings))
    except (OSError, ValueError, KeyError) as error:
        return f"no readable connection file ({error})"
    if address is None:
        return None
    writer = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(*address)
            greeting = await reader.readexactly(len(ZMTP_SIGNATURE[0]) + 9)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
        return f"{address[0]}:{address[1]} does not answer ({str(error) or 'timed out'})"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if greeting[:1] != ZMTP_SIGNATURE[0] or greeting[9:10] != ZMTP_SIGNATURE[1]:
        return f"{address[0]}:{address[1]} is not a ZeroMQ socket"
    return None
