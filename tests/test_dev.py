"""``moi dev`` as a user runs it: its servers serve the ``moi`` command, and a signal stops
every process it started; and the config file it (and the demo) writes."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest

from moi import config, dev
from tests.test_cli import MOI, one_clear_line, run_here


class DevProcess:
    """``moi dev --engines 1`` run in ``cwd``; its stdout read line by line in a thread."""

    def __init__(self, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MOI_CONFIG"}
        self.process = subprocess.Popen(
            [MOI, "dev", "--engines", "1"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: set[int] = {self.process.pid}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, start: str, timeout: float = 90) -> str:
        """The first line that starts with ``start``; fails if the output ends first."""
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"moi dev ended: {self.process.stderr.read()}"
            if line.startswith(start):
                return line.rstrip("\n")

    def descendants(self) -> list[psutil.Process]:
        found = psutil.Process(self.process.pid).children(recursive=True)
        self.seen.update(p.pid for p in found)
        return found

    def kill_leftovers(self) -> None:
        for pid in self.seen:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def moi_dev(tmp_path):
    started: list[DevProcess] = []

    def start() -> DevProcess:
        started.append(DevProcess(tmp_path))
        return started[-1]

    yield start
    for process in started:
        process.kill_leftovers()


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie has exited, it only waits for its parent to reap it."""
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_moi_dev_serves_the_moi_command_and_a_signal_stops_all_it_started(
    moi_dev, tmp_path, signum
):
    servers = moi_dev()
    export = servers.wait_for("export MOI_CONFIG=")
    written = tmp_path / "var" / "moi.ini"
    assert export == f"export MOI_CONFIG={written}"

    exported = run_here(Path("/"), "status", "--json", env={"MOI_CONFIG": str(written)})
    assert exported.returncode == 0, exported.stderr
    report = json.loads(exported.stdout)
    assert report["cluster"]["engines"] == 1
    assert report["redis"]["url"] == config.load(written).redis_url
    found = run_here(tmp_path, "status", "--json")  # from its directory: no export needed
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["redis"] == report["redis"]

    children = servers.descendants()
    commands = [" ".join(p.cmdline()) for p in children]
    assert any(p.name() == "redis-server" for p in children), commands
    assert any("ipyparallel.controller" in c for c in commands), commands
    assert any(c.endswith("-m moi.watchdog") for c in commands), commands

    servers.process.send_signal(signum)
    assert servers.process.wait(timeout=60) == 0
    left = alive(children)
    assert left == [], [p.cmdline() for p in left]
    assert not written.exists()
    assert servers.wait_for("moi dev stopped")


def test_moi_dev_leaves_the_file_of_one_that_runs_alone(tmp_path):
    (tmp_path / "var").mkdir()
    held = tmp_path / "var" / "moi.ini"
    held.write_text(f"# pid {os.getpid()}\n[redis]\nurl = redis://127.0.0.1:1/0\n")
    line = one_clear_line(run_here(tmp_path, "dev"))
    assert f"{held} belongs to a make run or moi dev that still runs (pid {os.getpid()})" in line
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["moi.ini"]  # nothing started


def test_the_written_config_names_the_servers_and_keeps_the_chosen_keys(tmp_path):
    chosen = config.Settings(
        redis_url="redis://:secret@127.0.0.1:7000/2",
        ipp_connection_file="/x/ipcontroller-client.json",
        key_ttl=60,
        reap=False,
        explicit=frozenset({"redis.key_ttl", "jobs.reap"}),
    )
    path = dev.write_config(tmp_path / "var" / "moi.ini", chosen, "a test")
    read = config.load(path)
    assert (read.redis_url, read.ipp_connection_file) == (
        chosen.redis_url,
        "/x/ipcontroller-client.json",
    )
    assert (read.key_ttl, read.reap) == (60, False)
    assert path.stat().st_mode & 0o777 == 0o600  # a Redis URL may hold a password
    assert dev.writer_pid(path) == os.getpid()

    path.write_text(path.read_text().replace(f"# pid {os.getpid()}", "# pid 1"))
    dev.remove_config(path)
    assert path.exists(), "removed another process's file"
    dev.write_config(path, chosen, "a test")
    dev.remove_config(path)
    assert not path.exists()
