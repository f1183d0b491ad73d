"""``python -m app`` as a real process: it starts, serves, and stops everything it started.

Every process the app starts is looked up by PID while it runs, and killed at the end if
anything is left, whatever the test's outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis

from app.services import ORPHAN_MESSAGE
from moi import keys
from moi.embedded import RedisServer, free_port
from tests.app.conftest import Client, error_message, group_of, wait_for_status

ROOT = Path(__file__).parents[2]


class AppProcess:
    """``python -m app --config ... --port ...`` run from the repository root."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if k != "MOI_CONFIG"}
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "--config", str(config), "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.seen = {self.process.pid}
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 90) -> None:
        """Return once the app printed its URL; fail with its stderr if it ended instead."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no URL after {timeout} s:\n{self.stderr()}"
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the app ended early:\n{self.stderr()}"
            self.output.append(line)
            if "running at" in line:
                assert self.url in line
                return

    def next_line(self, timeout: float = 10) -> str:
        line = self._lines.get(timeout=timeout)
        assert line is not None, f"the app ended early:\n{self.stderr()}"
        self.output.append(line)
        return line

    def descendants(self) -> list[psutil.Process]:
        found = psutil.Process(self.process.pid).children(recursive=True)
        self.seen.update(p.pid for p in found)
        return found

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def kill_leftovers(self) -> None:
        for pid in self.seen:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        if self.process.poll() is None:
            self.process.wait(10)
        self.process.stdout.close()


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie has exited, it only waits for its parent to reap it."""
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def launch(tmp_path):
    """``launch(config_text, port=None)`` → a started :class:`AppProcess`."""
    started: list[AppProcess] = []

    def start(config_text: str, port: int | None = None) -> AppProcess:
        config = tmp_path / "app.ini"
        config.write_text(config_text)
        log = tmp_path / f"stderr-{len(started)}.txt"
        started.append(AppProcess(config, port or free_port(), log))
        return started[-1]

    yield start
    for app in started:
        app.kill_leftovers()


@pytest.fixture
def external_config(settings, tmp_path) -> str:
    """A config naming the session's Redis and cluster, so the app starts neither."""
    return (
        f"[redis]\nurl = {settings.redis_url}\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
        f"[app]\nvar_dir = {tmp_path / 'var'}\n"
    )


def submit_hello(client: Client, r: redis.Redis, name: str) -> dict:
    """Sign in as alice (if needed), submit a hello job, and wait until it succeeded."""
    if client.cookie("user") is None:
        assert client.login("alice").status == 303
    assert client.post("/jobs/hello", name=name).status == 303
    alices = keys.group_jobs_key(group_of(r, "alice"))
    [job_id] = [i for i in r.smembers(alices) if name in (r.get(i) or "")]
    return wait_for_status(r, job_id, "Success", timeout=60)


def private_redis(app: AppProcess) -> redis.Redis:
    """A client of the Redis the app started (found by its PID, then its listening port)."""
    [server] = [p for p in app.descendants() if p.name() == "redis-server"]
    [port] = {c.laddr.port for c in server.net_connections() if c.status == psutil.CONN_LISTEN}
    return redis.Redis(port=port, decode_responses=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_with_configured_servers_it_starts_nothing_and_stops_cleanly(
    launch, external_config, r, signum
):
    app = launch(external_config)
    app.wait_ready()
    assert app.descendants() == []
    info = submit_hello(Client(app.url), r, "Ann")
    assert info["result"] == "Hello, Ann!"
    assert app.stop(signum) == 0
    assert "Traceback" not in app.stderr()


def test_with_defaults_it_starts_redis_and_a_cluster_and_stops_them(launch, tmp_path):
    var = tmp_path / "var"
    app = launch(f"[ipyparallel]\nengines = 1\n[app]\nvar_dir = {var}\n")
    app.wait_ready()
    said = dict(app.next_line().split(None, 1) for _ in range(5))  # where everything is
    children = app.descendants()
    commands = [" ".join(p.cmdline()) for p in children]
    assert any(p.name() == "redis-server" for p in children), commands
    assert any("ipyparallel.controller" in c for c in commands), commands
    assert sum(c.endswith("-m ipyparallel.engine") for c in commands) == 1, commands
    store = private_redis(app)
    port = store.connection_pool.connection_kwargs["port"]
    assert said["Redis"].startswith(f"redis://127.0.0.1:{port}/0  (private; data in {var}")
    assert said["cluster"].startswith(str(var / "ipython" / "security" / "ipcontroller-"))
    assert said["cluster"].endswith("-client.json  (local, 1 engine)\n")
    assert said["var_dir"] == f"{var}\n"
    assert said["metrics"] == f"{app.url}/metrics\n"
    alice = Client(app.url)
    try:
        info = submit_hello(alice, store, "Ann")
        assert info["result"] == "Hello, Ann!"
        assert alice.post("/jobs/countdown", seconds="60").status == 303
        alices = keys.group_jobs_key(group_of(store, "alice"))
        [running] = [i for i in store.smembers(alices) if i != info["id"]]
        wait_for_status(store, running, "59 s to go", timeout=60)
    finally:
        store.close()

    assert app.stop() == 0
    left = alive(children)
    assert left == [], [p.cmdline() for p in left]
    # The job its own cluster could not finish was ended with it, not left "Running".
    with RedisServer(free_port(), var / "redis", persist=True) as kept:
        stored = json.loads(redis.Redis.from_url(kept.url).get(running))
    assert stored["status"] == "Failed"
    assert stored["result"] == ORPHAN_MESSAGE
    assert (var / "redis").is_dir()
    assert (var / "cookie_secret").is_file()
    assert "Traceback" not in app.stderr()


def test_accounts_jobs_and_sessions_survive_a_restart(launch, settings, tmp_path):
    config = (
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
        f"[app]\nvar_dir = {tmp_path / 'var'}\n"
    )
    first = launch(config)
    first.wait_ready()
    alice = Client(first.url)
    store = private_redis(first)
    try:
        info = submit_hello(alice, store, "Ann")
    finally:
        store.close()
    assert first.stop() == 0

    second = launch(config, port=first.port)
    second.wait_ready()
    assert alice.get("/").status == 200  # same cookie secret, same account
    page = alice.get(f"/result/hello/{info['id']}")
    assert page.status == 200 and "Hello, Ann!" in page.text
    stranger = Client(second.url)
    refused = stranger.login("alice", "not the password")
    assert error_message(refused.text, "login-error") == "Wrong name or password."
    assert second.stop() == 0


def one_line_error(app: AppProcess) -> str:
    assert app.wait() != 0
    lines = app.stderr().strip().splitlines()
    assert len(lines) == 1, app.stderr()
    assert lines[0].startswith("moi demo: ")
    return lines[0]


def test_a_port_in_use_is_one_line(launch, external_config):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        app = launch(external_config, port=busy.getsockname()[1])
        line = one_line_error(app)
    assert f"port {app.port} on 127.0.0.1 is already in use" in line


def test_an_unreachable_redis_is_one_line(launch, settings, tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = launch(
        f"[redis]\nurl = {url}\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
        f"[app]\nvar_dir = {tmp_path / 'var'}\n"
    )
    assert f"cannot reach Redis at {url}" in one_line_error(app)


def test_a_missing_controller_is_one_line(launch, settings, tmp_path):
    missing = tmp_path / "no-such-client.json"
    app = launch(
        f"[redis]\nurl = {settings.redis_url}\n"
        f"[ipyparallel]\nconnection_file = {missing}\n"
        f"[app]\nvar_dir = {tmp_path / 'var'}\n"
    )
    line = one_line_error(app)
    assert f"cannot connect to the ipyparallel controller ({missing})" in line


def test_a_bad_config_is_one_line(launch, tmp_path):
    app = launch("[app]\nport = eighty\n")
    line = one_line_error(app)
    assert str(tmp_path / "app.ini") in line and "[app] port" in line


def test_make_run_takes_the_port_from_PORT():
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", "PORT=9000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m app --port 9000" in dry.stdout
