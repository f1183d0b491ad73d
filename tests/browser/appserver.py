"""The demo app run for real, as ``python -m app`` in a child process.

The config file names the session's Redis and cluster, so the app starts nothing of
its own, and fixes the cookie secret, so a login survives a restart of the app.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from moi.config import Settings
from moi.embedded import free_port

COOKIE_SECRET = "browser-tests-fixed-cookie-secret"
REPO = Path(__file__).resolve().parents[2]
READY_LINE = "moi demo running at "
START_TIMEOUT = 30
STOP_TIMEOUT = 15
PORT_TRIES = 3
BUSY_PORT = "is already in use"


class AppServerError(RuntimeError):
    """The app did not start or stop as it should; the message quotes its log."""


def unused_port() -> int:
    """A free port below the kernel's ephemeral range.

    Outgoing connections (and :func:`moi.embedded.free_port`) draw their ports from that
    range, so on a busy machine one of them can take a port between our check and the
    app's bind, or while the app restarts. Below the range only another listener can.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()
    for _ in range(100):
        port = random.randrange(max(1024, low - 10000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


def write_config(path: Path, settings: Settings, var_dir: Path) -> Path:
    path.write_text(
        "[redis]\n"
        f"url = {settings.redis_url}\n"
        f"key_ttl = {settings.key_ttl}\n"
        "\n[ipyparallel]\n"
        f"connection_file = {settings.ipp_connection_file}\n"
        "\n[app]\n"
        "host = 127.0.0.1\n"
        f"cookie_secret = {COOKIE_SECRET}\n"
        f"var_dir = {var_dir}\n",
        encoding="utf-8",
    )
    return path


class AppServer:
    """One ``python -m app`` on a port of its own, which it keeps across restarts.

    Its stdout and stderr go to ``log_path`` (appended to on each start), so a failed
    test can keep the log and a start can wait for the line saying it listens.
    """

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.directory = directory
        var_dir = directory / "var"
        var_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = write_config(directory / "config.ini", settings, var_dir)
        self.log_path = directory / "app.log"
        self.port = unused_port()
        self.process: subprocess.Popen | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        """Start the app and return once it prints that it listens.

        A restart keeps the port. Only the first start moves to another port if the
        one chosen was taken meanwhile.
        """
        assert not self.running, "the app is already running"
        for attempt in range(1, PORT_TRIES + 1):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            code = self._start(offset)
            if code is None:
                self.started = True
                return
            new_log = self.log()[offset:]
            if self.started or BUSY_PORT not in new_log or attempt == PORT_TRIES:
                raise AppServerError(f"the app exited with code {code} while starting:\n{new_log}")
            self.port = unused_port()

    def _start(self, offset: int) -> int | None:
        """Run the app; None once it listens, or its exit code if it ended first."""
        env = {key: value for key, value in os.environ.items() if key != "MOI_CONFIG"}
        env["PYTHONUNBUFFERED"] = "1"
        # The checkout's own code, as in this process, whatever the venv's install points at.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "--config", str(self.config_path)]
                + ["--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in self.log()[offset:]:
            if time.monotonic() > deadline:
                self.stop()
                raise AppServerError(
                    f"the app did not say it listens within {START_TIMEOUT} s:\n{self.log()}"
                )
            try:
                code = self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            self.process = None
            return code
        return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; the exit code (None if not started)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AppServerError(
                    f"the app ignored SIGTERM for {STOP_TIMEOUT} s and was killed:\n{self.log()}"
                ) from None
        return process.returncode
