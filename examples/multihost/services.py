"""A server process on a host: started in a session of its own, logged to a file, stopped
by its process group (SIGTERM, then SIGKILL after a grace).

A service remembers its command, so it can be started again after a fault, and its PID
with the process's start time, so a stop from another shell (``python -m
examples.multihost down``) never signals a process that merely got the same PID later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from examples.multihost.netns import Host, wait_gone

GRACE = 5.0
"""Seconds a service gets to stop after SIGTERM before its group is killed."""


@dataclass
class Service:
    """``argv`` run on ``host`` in ``cwd`` with ``env`` (on top of this process's), its
    output appended to ``log``."""

    name: str
    host: Host
    argv: list[str]
    log: Path
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    started: float | None = None
    """The process's start time (psutil's ``create_time``), which tells it from a later
    process with the same PID."""
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Service:
        """Start it (again): a new session, so its group is its own to signal."""
        if self.running:
            raise RuntimeError(f"{self.name} runs already (pid {self.pid})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as output:
            output.write(f"--- {self.name} on {self.host.name}: {' '.join(self.argv)}\n".encode())
            output.flush()
            self._process = self.host.popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._process.pid
        with contextlib.suppress(psutil.Error):
            self.started = psutil.Process(self.pid).create_time()
        return self

    def process(self) -> psutil.Process | None:
        """The running process, if it is still the one this service started."""
        if self.pid is None:
            return None
        try:
            process = psutil.Process(self.pid)
            if self.started is not None and abs(process.create_time() - self.started) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                self._reap()
                return None
        except psutil.Error:
            return None
        return process

    @property
    def running(self) -> bool:
        return self.process() is not None

    def exit_code(self) -> int | None:
        """Its exit status if it ended (and was started by this process), else None."""
        return self._process.poll() if self._process is not None else None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to its whole process group (its helpers too), if it still runs."""
        if self.process() is not None:
            self._signal_group(sig)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)  # type: ignore[arg-type]

    def stop(self, grace: float = GRACE) -> bool:
        """SIGTERM to its group, then SIGKILL to the group: at once to helpers the service
        left behind, and to the service itself if it is still there after ``grace``.

        :returns: whether the service stopped by itself within the grace.
        """
        process = self.process()
        if process is None:
            return True
        self._signal_group(signal.SIGTERM)
        clean = self._wait(process, grace)
        self._signal_group(signal.SIGKILL)
        if not clean:
            self._wait(process, GRACE)
        return clean

    def kill(self, timeout: float = 10) -> None:
        """SIGKILL its group at once, as a crash or the OOM killer would."""
        process = self.process()
        if process is not None:
            self._signal_group(signal.SIGKILL)
            if not self._wait(process, timeout):
                raise RuntimeError(f"{self.name} (pid {self.pid}) outlived SIGKILL")

    def _wait(self, process: psutil.Process, timeout: float) -> bool:
        if self._process is not None:
            try:
                self._process.wait(timeout)  # our child: reap it, so it leaves no zombie
                return True
            except subprocess.TimeoutExpired:
                return False
        return not wait_gone([process.pid], timeout)  # another's child: watch it go

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()

    def tail(self, lines: int = 20) -> str:
        """The last lines of its log, for an error message."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def to_state(self) -> dict:
        return {
            "host": self.host.name,
            "argv": self.argv,
            "log": str(self.log),
            "cwd": self.cwd,
            "env": self.env,
            "pid": self.pid,
            "started": self.started,
        }

    @classmethod
    def from_state(cls, name: str, state: dict, hosts: dict[str, Host]) -> Service:
        return cls(
            name,
            hosts[state["host"]],
            state["argv"],
            Path(state["log"]),
            state["cwd"],
            state["env"],
            state["pid"],
            state["started"],
        )
