"""What a running job prints, as its engine reads it: split into lines and stored.

For each job the engine makes three pipes, ``stdout``, ``stderr`` and ``log``, and hands
their write ends to its job process (:mod:`moi.jobprocess`), which puts them on file
descriptors 1 and 2 (so subprocesses the function starts print there too) and under
Python's ``logging``. The engine's own end reads them while it supervises the job, so a
job killed mid-print keeps every line it wrote, and each job has pipes of its own: a
line of one job can never land in another's, even from a subprocess that outlives it.

Lines are stored (:mod:`moi.output`) at once when the job has been quiet, so a page
following it sees each line within milliseconds; while it prints fast, at most every
:data:`FLUSH_SECONDS` or :data:`FLUSH_BYTES`, so a loud job costs Redis at most 100 writes a second.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time

from moi.output import Output, fragment
from moi.retry import TRANSIENT

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr", "log")
FLUSH_SECONDS = 0.01
"""Least time between two writes of a job's output while it prints without pause."""
FLUSH_BYTES = 64 * 1024
"""Output stored at once once this much waits, however soon after the last write."""
MAX_LINE_BYTES = 16 * 1024
"""A longer line is stored in pieces of this size."""
MAX_PENDING_BYTES = 1024 * 1024
"""Lines held while Redis is away; past this, the oldest are dropped (and counted)."""
READ_BYTES = 64 * 1024


class Capture:
    """One job's output pipes on its engine, and the lines read from them not yet stored."""

    def __init__(self, output: Output, job_id: str, attempt: int, ttl: int, cap: int) -> None:
        self.output = output
        self.job_id = job_id
        self.attempt = attempt
        self.ttl = ttl
        self.cap = cap
        self._streams: dict[int, str] = {}  # read end → its stream, while open
        self._partial: dict[int, bytes] = {}
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._lost = 0
        self._last_write = 0.0
        self._due: float | None = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> list[int]:
        """Make the pipes; the write ends, for the job process (the caller closes them)."""
        theirs = []
        for stream in STREAMS:
            read_end, write_end = os.pipe()
            fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_NONBLOCK)
            self._streams[read_end] = stream
            theirs.append(write_end)
        return theirs

    @property
    def fds(self) -> list[int]:
        """The read ends still open, for the engine's wait."""
        return list(self._streams)

    @property
    def due(self) -> float | None:
        """When the lines held must be stored (``time.monotonic()``), or None."""
        return self._due

    def note(self, text: str) -> None:
        """A line of moi's own in the job's output (a new attempt, say)."""
        self._add("moi", text)
        self.store_if_due()

    def read(self, fd: int) -> None:
        """Take what is in one pipe now; store lines if it is time."""
        self._drain(fd)
        self.store_if_due()

    def store_if_due(self) -> None:
        if self._due is not None and time.monotonic() >= self._due:
            self.store()

    def store(self) -> None:
        """Store the lines held now; kept for the next try while Redis is away."""
        self._due = None
        if not self._pending:
            return
        batch = self._pending
        if self._lost:
            batch = [fragment("moi", _now_ms(), f"{self._lost} lines lost: Redis was away"), *batch]
        try:
            self.output.append(self.job_id, self.attempt, batch, self.ttl, self.cap)
        except TRANSIENT as error:
            log.warning("moi could not store job %s's output: %s", self.job_id, error)
            self._due = time.monotonic() + 1.0
            return
        finally:
            self._last_write = time.monotonic()
        self._pending, self._pending_bytes, self._lost = [], 0, 0

    def close(self) -> None:
        """Read what is left in the pipes (the job has ended, or its process died), store
        every line, and close them. A subprocess that outlives the job writes to nothing."""
        for fd in list(self._streams):
            self._drain(fd)
            if fd in self._streams:  # still open: a subprocess of the job holds it
                self._end_pipe(fd)
        self.store()

    def _drain(self, fd: int) -> None:
        while fd in self._streams:
            try:
                data = os.read(fd, READ_BYTES)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                data = b""
            if not data:
                self._end_pipe(fd)
                return
            self._split(fd, data)
            if len(data) < READ_BYTES:
                return

    def _split(self, fd: int, data: bytes) -> None:
        stream = self._streams[fd]
        *lines, rest = (self._partial.pop(fd, b"") + data).split(b"\n")
        for line in lines:
            self._add(stream, _as_text(line))
        while len(rest) > MAX_LINE_BYTES:
            self._add(stream, _as_text(rest[:MAX_LINE_BYTES]))
            rest = rest[MAX_LINE_BYTES:]
        if rest:
            self._partial[fd] = rest

    def _end_pipe(self, fd: int) -> None:
        stream = self._streams.pop(fd)
        rest = self._partial.pop(fd, b"")
        if rest:
            self._add(stream, _as_text(rest))
        with contextlib.suppress(OSError):
            os.close(fd)

    def _add(self, stream: str, text: str) -> None:
        line = fragment(stream, _now_ms(), text)
        self._pending.append(line)
        self._pending_bytes += len(line)
        while self._pending_bytes > MAX_PENDING_BYTES and len(self._pending) > 1:
            self._pending_bytes -= len(self._pending.pop(0))
            self._lost += 1
        now = time.monotonic()
        if self._pending_bytes >= FLUSH_BYTES or now - self._last_write >= FLUSH_SECONDS:
            self._due = now
        elif self._due is None:
            self._due = self._last_write + FLUSH_SECONDS


def _as_text(line: bytes) -> str:
    """A line as text: UTF-8 (anything else shown as replacement characters), and only
    what a terminal would show of a line rewritten with carriage returns."""
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    return text.rsplit("\r", 1)[-1]


def _now_ms() -> int:
    return int(time.time() * 1000)
