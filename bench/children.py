"""The processes items 3 to 5 drive: the websocket server and the load generators.

Each is ``python -m bench.<module>``, a child of the bench with its stderr in a log file
under the bench's work directory, and is stopped by PID (SIGTERM, then SIGKILL) when its
``with`` block ends, however it ends. Every wait on a child has a deadline.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.harness import REPO_ROOT, BenchError
from bench.wsserver import READY
from moi.embedded import stop_process

START_TIMEOUT = 30
STOP_TIMEOUT = 10


class Child:
    """``python -m module args``: lines in on stdin, lines out on stdout, stderr to a log."""

    module = ""

    def __init__(self, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *args],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True, name=self.module)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the process is gone

    def readline(self, timeout: float) -> str:
        """The next line of output, or :class:`BenchError` after ``timeout`` or an exit."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.module} said nothing for {timeout:g} s{self.tail()}") from None
        if line is None:
            self._lines.put(None)
            raise BenchError(f"{self.module} exited ({self.process.poll()}){self.tail()}")
        return line

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return ":\n" + "\n".join(text) if text else ""

    def rss(self) -> int:
        """Resident memory of the process now, in bytes."""
        return psutil.Process(self.pid).memory_info().rss

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; idempotent."""
        process = self.process
        stop_process(process, STOP_TIMEOUT)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        self._reader.join(STOP_TIMEOUT)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class WsServer(Child):
    """:mod:`bench.wsserver` on a free port of 127.0.0.1."""

    module = "bench.wsserver"

    def __init__(self, log_path: Path, redis_url: str) -> None:
        super().__init__(log_path, "--redis-url", redis_url)
        try:
            line = self.readline(START_TIMEOUT)
            if not line.startswith(READY):
                raise BenchError(f"bench.wsserver said {line!r}, not {READY!r}{self.tail()}")
            self.port = int(line.removeprefix(READY))
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gc_pauses(self) -> list[float]:
        """Milliseconds of each full collection in the server since the last call."""
        with urllib.request.urlopen(f"{self.url}/bench/gc?reset=1", timeout=30) as response:
            return json.load(response)["pauses_ms"]


class LoadGenerator(Child):
    """:mod:`bench.loadgen`: one command, one answer."""

    module = "bench.loadgen"

    def call(self, cmd: str, timeout: float = 60, **arguments: Any) -> dict[str, Any]:
        """Run one command; its answer, or :class:`BenchError` with the generator's log.

        A command that waits ``within`` seconds itself gets that much more ``timeout``.
        """
        assert self.process.stdin is not None
        timeout += arguments.get("within", 0)
        try:
            self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"bench.loadgen exited ({self.process.poll()}){self.tail()}") from None
        answer = json.loads(self.readline(timeout))
        if "error" in answer:
            raise BenchError(f"bench.loadgen: {answer['error']}{self.tail()}")
        return answer

    def stop(self) -> None:
        """Close stdin first: the generator closes its clients and exits on its own."""
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
                self.process.wait(STOP_TIMEOUT / 2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        super().stop()


def split(items: list, parts: int) -> list[list]:
    """``items`` dealt into ``parts`` lists of near-equal length, in order."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (index < extra)
        out.append(items[start:end])
        start = end
    return out


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is true, or :class:`BenchError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)
