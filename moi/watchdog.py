"""Stops a process's private servers when that process dies, however it dies.

``python -m app`` starts a Redis and a cluster (controller, engines, their nannies). If
it is killed with SIGKILL it cannot stop them, and they would live on: a second start
would then run a second Redis on the same data. So it starts this watchdog first, as a
process of its own, and tells it the PIDs to guard on its stdin. When stdin reaches its
end (the parent exited, or was killed: the kernel closes the pipe either way), the
watchdog stops every guarded process still running: SIGTERM, then SIGKILL.

Each PID comes with its process's start time, so a PID the system has since given to
another process is left alone.
"""

from __future__ import annotations

import contextlib
import signal
import sys

import psutil

GRACE = 10.0
"""Seconds the guarded processes get to stop after SIGTERM (Redis writes its file)."""


def guarded(lines) -> list[psutil.Process]:
    """The processes named by ``pid start_time`` lines that are still those processes."""
    found = []
    for line in lines:
        try:
            pid, started = line.split()
            process = psutil.Process(int(pid))
            if abs(process.create_time() - float(started)) < 0.01:
                found.append(process)
        except (ValueError, psutil.Error):
            continue
    return found


def stop_processes(processes: list[psutil.Process], timeout: float = GRACE) -> None:
    """SIGTERM those still running, then SIGKILL those still there after ``timeout``."""
    running = [process for process in processes if process.is_running()]
    for process in running:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, stubborn = psutil.wait_procs(running, timeout)
    for process in stubborn:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(stubborn, timeout)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    lines = sys.stdin.read().splitlines()  # until the parent is gone
    stop_processes(guarded(lines))


if __name__ == "__main__":
    main()
