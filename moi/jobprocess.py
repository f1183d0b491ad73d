"""The process that runs a job's function: a child of its engine, and nothing else.

The engine process keeps the job's lease, hears its cancel, counts its time limit and
stores every change (:mod:`moi.runner`); the function runs here, in a process the engine
forked, the way rq runs its work horse. So nothing the function does can starve or stop
that machinery: a C call that holds the GIL for a minute, a ``KeyboardInterrupt`` caught
and ignored, ``os._exit``, a crash. Stopping a job is ``SIGINT`` to this process's group
(its own subprocesses too), and ``SIGKILL`` to the group once the grace is over; the
engine lives on and takes the next job.

One job process serves its engine's jobs one after another, so a job pays a message
each way on a local socket, not a fork. A process that was interrupted, or died, is never
used again: the next job gets a new one.

Messages (pickled, on a socket pair): the engine sends the packed call, then the write
ends of the job's output pipes (:mod:`moi.capture`) as file descriptors over the same
socket; the process answers with any number of ``("status", text, progress)``, then one
of ``("returned", value, size)``, ``("too_big", size)`` or ``("raised", traceback)``.
What the function prints (``sys.stdout``, ``sys.stderr``, file descriptors 1 and 2) and
the records of Python's ``logging`` go to those pipes, for that job only.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import os
import signal
import socket
import sys
import traceback
from multiprocessing.connection import Connection, Pipe
from typing import Any

import cloudpickle

from moi.status import is_final

PR_SET_PDEATHSIG = 1


class JobProcess:
    """The engine's handle on its job process."""

    def __init__(self) -> None:
        ours, theirs = Pipe(duplex=True)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: serve jobs until the engine goes, never return
            ours.close()
            _serve(theirs, parent)
        theirs.close()
        self.pid = pid
        self.conn: Connection = ours
        self._socket = _socket_of(ours)
        self._exit: int | None = None

    def send(self, payload: bytes, max_result_bytes: int, output: list[int]) -> None:
        """Hand the process one packed call to run, and the write ends of its output
        pipes (stdout, stderr, log); they are closed here once sent."""
        try:
            self.conn.send((payload, max_result_bytes))
            socket.send_fds(self._socket, [b"o"], output)
        finally:
            for fd in output:
                os.close(fd)

    def interrupt(self) -> None:
        """``KeyboardInterrupt`` in the function (and ``SIGINT`` to what it started)."""
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        """End the process and everything in its group, now, and reap it."""
        self._signal(signal.SIGKILL)
        self.reap()

    def reap(self) -> int:
        """Wait for the process to end; its wait status."""
        if self._exit is None:
            try:
                _, self._exit = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped already (a SIGCHLD handler of the engine's)
                self._exit = 0
            self.conn.close()
            self._socket.close()
        return self._exit

    def describe_end(self) -> str:
        """How the process ended, for a job it did not finish."""
        status = self.reap()
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return f"it was killed by {name}"
        return f"it exited with code {os.waitstatus_to_exitcode(status)}"

    def _signal(self, number: int) -> None:
        if self._exit is not None:  # reaped: its PID may be another process's by now
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, number)


# -- in the job process -------------------------------------------------------------------


def _serve(conn: Connection, parent: int) -> None:
    """The job process's whole life; ends it with ``os._exit``."""
    code = 0
    try:
        _become_job_process(parent)
        sock = _socket_of(conn)
        while True:
            try:
                payload, max_result_bytes = conn.recv()
            except EOFError:  # the engine is gone
                break
            _, output, _, _ = socket.recv_fds(sock, 1, OUTPUT_PIPES)
            with _printing_to(*output):
                outcome = _call(payload, max_result_bytes, conn)
            conn.send(outcome)
    except BaseException:  # an interrupt between jobs, or the engine went mid-send
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _become_job_process(parent: int) -> None:
    os.setpgid(0, 0)  # a group of its own, so a stop reaches the function's children too
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(number, signal.SIG_DFL)
    # The engine's sys.stdout and sys.stderr send to the controller through threads
    # that were not forked: here they write to file descriptors 1 and 2, which are the
    # running job's pipes (a line at a time, so a job killed mid-print keeps its lines).
    sys.stdout = _line_writer(1)
    sys.stderr = _line_writer(2)
    # Records that meet no handler (logging not configured) go to the job's log pipe;
    # a function that configures logging has its handlers write where it says.
    logging.lastResort = _LOG_PIPE


def _socket_of(conn: Connection) -> socket.socket:
    """A socket on the connection's own (duplicated) descriptor, to pass descriptors."""
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(conn.fileno()))


def _line_writer(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        os.fdopen(fd, "wb", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )


class _LogPipe(logging.Handler):
    """Writes each record to the running job's log pipe; drops it between jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.fd: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, (self.format(record) + "\n").encode("utf-8", "backslashreplace"))
        except Exception:
            self.handleError(record)


_LOG_PIPE = _LogPipe()
OUTPUT_PIPES = 3  # stdout, stderr, log: as moi.capture makes them


@contextlib.contextmanager
def _printing_to(stdout: int, stderr: int, log: int):
    """The job's pipes on 1 and 2 and under logging while it runs; nothing after."""
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    os.close(stdout)
    os.close(stderr)
    _LOG_PIPE.fd = log
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        _LOG_PIPE.fd = None
        os.close(log)
        nothing = os.open(os.devnull, os.O_WRONLY)
        os.dup2(nothing, 1)
        os.dup2(nothing, 2)
        os.close(nothing)


def _die_with(parent: int) -> None:
    """Be killed when the engine dies, even mid-job (Linux); else end at the next recv."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def _call(payload: bytes, max_result_bytes: int, conn: Connection) -> tuple[Any, ...]:
    """Run one packed call; the message that says how it ended."""

    def status_update(status: str | None = None, *, progress: float | None = None) -> None:
        checked = check_status_update(status, progress)
        conn.send(("status", *checked))

    try:
        func, args, kwargs = cloudpickle.loads(payload)
        value = func(*args, status_update=status_update, **kwargs)
    except BaseException:
        return ("raised", traceback.format_exc())
    result, size = json_result(value)
    if size > max_result_bytes:
        return ("too_big", size)
    return ("returned", result, size)


def check_status_update(status: object, progress: object) -> tuple[str | None, float | None]:
    """A function's ``status_update(status, progress=...)`` arguments, checked and clamped.

    :raises TypeError, ValueError: in the function, for a status it may not set.
    """
    if status is not None and not isinstance(status, str):
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if is_final(status):
        raise ValueError(f"status {status!r} is set by moi when the function returns or raises")
    if progress is not None:
        progress = min(1.0, max(0.0, float(progress)))  # type: ignore[arg-type]
    return status, progress


def json_result(value: Any) -> tuple[Any, int]:
    """``value`` if JSON can carry it, else its ``repr()``; and its size as JSON in bytes."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        value = repr(value)
        encoded = json.dumps(value)
    return value, len(encoded.encode())
