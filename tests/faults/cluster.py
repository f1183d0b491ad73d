"""A cluster run as separate commands, as a deployment runs it, for faults on its controller."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


class Commands:
    """The cluster's processes, each in a session of its own, stopped by group."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.processes: list[subprocess.Popen] = []

    def start(self, *argv: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [*argv, f"--profile-dir={self.profile}", "--log-level=ERROR"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def controller(self) -> subprocess.Popen:
        for stale in self.profile.glob("security/*.json"):
            stale.unlink()  # so the new controller's file is the one waited for
        process = self.start(str(BIN / "ipcontroller"), "--ip=127.0.0.1")
        connection = self.profile / "security" / "ipcontroller-client.json"
        deadline = time.monotonic() + 60
        while not connection.exists():  # no event to wait on: the file appears
            assert time.monotonic() < deadline, "the controller never wrote its file"
            assert process.poll() is None, "the controller exited"
            time.sleep(0.1)
        return process

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL the process alone, as a crash would: its helper processes live on."""
        process.kill()
        process.wait(30)

    def stop_all(self) -> None:
        """Every process started, with its helpers (each started a session, so a group)."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def connection_file(commands: Commands) -> str:
    return str(commands.profile / "security" / "ipcontroller-client.json")
