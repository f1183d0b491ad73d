"""Clients of a multi-host deployment, for tests running on its ``client`` host: a signed-in
HTTP client, its websocket to any web process, and a record of which host sent Redis what.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import tornado.httpclient
import tornado.websocket

from examples.multihost import Deployment
from tests.app.conftest import PASSWORD, Client
from tests.wsclient import WsClient

_users = itertools.count(1)


def new_username() -> str:
    """A username no other test of this run takes (a letter, then a-z0-9)."""
    return f"m{os.getpid()}x{next(_users)}"


def signed_in(deployment: Deployment, web: str, username: str) -> Client:
    """An HTTP client of web process ``web``, signed in as ``username`` (the account made
    first if it is new), sending the XSRF token as the forms do."""
    client = Client(deployment.url(web))
    answer = client.login(username, PASSWORD)
    assert answer.status == 303, f"signing in on {web} answered {answer.status}: {answer.text}"
    return client


async def live_socket(deployment: Deployment, web: str, client: Client) -> WsClient:
    """The moi websocket of web process ``web``, with ``client``'s cookies (a session that
    another web process signed may be used on any: they share Redis and the secret)."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    url = deployment.url(web, "/moi-ws/").replace("http://", "ws://")
    request = tornado.httpclient.HTTPRequest(url, headers={"Cookie": cookies})
    return WsClient(await tornado.websocket.websocket_connect(request))


def infos(message: dict) -> list[dict]:
    """The job infos in a websocket message (an ``update`` carries one or a list)."""
    value = message.get("update")
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_MONITOR_LINE = re.compile(r"^[\d.]+ \[\d+ (?P<addr>[\d.]+):\d+\] (?P<command>.*)$")


class RedisMonitor:
    """``redis-cli monitor`` on the client host, its output in a file: who sent what.

    Lines Redis runs inside a script (``[0 lua]``) are left out; what is left names the
    address of the connection each command came by.
    """

    def __init__(self, deployment: Deployment, path: Path) -> None:
        self.deployment = deployment
        self.path = path
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisMonitor:
        host, port = self.deployment.hosts["redis"].addr, "6379"
        with open(self.path, "wb") as output:
            self.process = self.deployment.hosts["client"].popen(
                ["redis-cli", "-h", host, "-p", port, "monitor"],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def senders(self, word: str) -> set[str]:
        """The addresses that sent a command naming ``word`` (a job ID, say)."""
        found = set()
        for line in self.path.read_text(errors="replace").splitlines():
            match = _MONITOR_LINE.match(line)
            # A quoted argument of its own; inside a JSON value the quotes are escaped.
            if match and f'"{word}"' in match["command"]:
                found.add(match["addr"])
        return found

    def hosts_that_sent(self, word: str) -> set[str]:
        """The names of the hosts that sent a command naming ``word``."""
        by_addr = {host.addr: name for name, host in self.deployment.hosts.items()}
        return {by_addr.get(addr, addr) for addr in self.senders(word)}


@contextlib.contextmanager
def monitored(deployment: Deployment, path: Path) -> Iterator[RedisMonitor]:
    """A :class:`RedisMonitor` for the block, stopped by PID however it ends."""
    monitor = RedisMonitor(deployment, path).start()
    try:
        yield monitor
    finally:
        monitor.stop()
