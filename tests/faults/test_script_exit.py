"""A script's exit: its jobs keep their records, and nothing moi started holds it alive.

Each test runs a real script as a subprocess of the venv's python: one submits a job
through the seed's ``moi.job.submit`` and exits at once; the others leave a call to a
stopped (SIGSTOP) controller hanging on the client's dispatcher thread, then end.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from moi import keys, record
from moi.embedded import LocalCluster
from tests import jobs

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]

EXIT_BOUND = 15
"""Seconds a script that submits one job may take, from its start to its exit."""

HUNG_EXIT_BOUND = 20
"""Seconds a script may take to end once it returns (or gets SIGTERM) with a call hung."""


class Script:
    """A python script run from the checkout (``tests.jobs`` imports), configured by
    ``MOI_CONFIG``; its stdout read line by line in a thread, its stderr kept in a file."""

    def __init__(self, tmp_path: Path, source: str, ini: str, *argv: str) -> None:
        path = tmp_path / "script.py"
        path.write_text(textwrap.dedent(source))
        config = tmp_path / "moi.ini"
        config.write_text(textwrap.dedent(ini))
        self.stderr_path = tmp_path / "stderr.txt"
        self.lines: queue.Queue[str | None] = queue.Queue()
        env = {**os.environ, "MOI_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(path), *argv],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 30) -> str:
        """The next line it prints."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the script printed nothing in {timeout} s") from None
        assert line is not None, f"the script ended: {self.stderr()}"
        return line

    def tell(self, text: str) -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def kill(self) -> None:
        """By PID, if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self.process.stdin.close()
        self.process.stdout.close()


# -- (issue 21, finding 4) a script that submits and exits at once ----------------------

SUBMITS_AND_EXITS = """
    from moi.job import submit
    from tests import jobs

    print(submit("g", "slow", None, jobs.tells_pid_then_sleeps, 2), flush=True)
"""

WRITE_RETRY = 2
LEASE = 2


def wait_for_statuses(r, subscribe, job_ids: list[str], status: str, timeout=30) -> None:
    """Until every job's stored status is ``status``, on their channels (no polling)."""
    subscriber = subscribe(*map(keys.job_channel, job_ids))
    deadline = time.monotonic() + timeout
    while any((record.decode(raw) or {}).get("status") != status for raw in r.mget(job_ids)):
        subscriber.next(timeout=max(0.01, deadline - time.monotonic()))


def test_a_script_that_submits_and_exits_at_once_leaves_its_job_to_run(
    settings, moi_context, cluster_hub, r, subscribe, tmp_path
):
    """Every engine is busy, so the script's job waits in its group's queue, in Redis: the
    script may be gone at once, and the job runs when an engine is free."""
    release = f"release-{uuid.uuid4()}"
    busy = [
        moi_context.submit(
            "g", f"busy {n}", None, jobs.blocks_until_released, settings.redis_url, release
        )
        for n in range(len(cluster_hub.ids))
    ]
    script = None
    try:
        wait_for_statuses(r, subscribe, busy, "Waiting")
        started = time.monotonic()
        script = Script(
            tmp_path,
            SUBMITS_AND_EXITS,
            f"""
            [redis]
            url = {settings.redis_url}
            [ipyparallel]
            connection_file = {settings.ipp_connection_file}
            [jobs]
            write_retry = {WRITE_RETRY}
            lease = {LEASE}
            """,
        )
        job_id = script.line(EXIT_BOUND)
        assert script.process.wait(EXIT_BOUND) == 0, script.stderr()
        took = time.monotonic() - started
        assert took < EXIT_BOUND

        assert record.decode(r.get(job_id))["status"] == "Queued"  # behind the busy jobs
        assert r.zscore(keys.queue_key("g"), job_id) is not None  # waiting in moi's queue
        assert r.hexists(keys.CALLS, job_id)  # with its call, for whichever engine takes it

        r.rpush(release, *["go"] * len(busy))
        info = moi_context.wait(job_id, timeout=30)
        assert (info["status"], info["result"]) == ("Success", "slept"), info["result"]
        print(f"the script exited {took:.1f} s after its start; its job ran")
    finally:
        r.rpush(release, *["go"] * len(busy))
        if script is not None:
            script.kill()


# -- (issue 21, finding 6) a call that never returns -------------------------------------

HANGS_THEN_ENDS = """
    import asyncio
    import signal
    import sys
    import threading

    from moi import config
    from moi.cluster import Cluster
    from moi.sync import SyncClient

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as the demo app stops
    ending = sys.argv[1]
    moi_client = SyncClient(config.load())
    moi_client.start(dispatch=False)
    cluster = Cluster(moi_client.settings)  # as the dispatcher owns one
    moi_client._call(cluster.connect())
    entered = threading.Event()
    answered = threading.Event()


    async def ask():
        # Queued together, in order, on the cluster's one thread: once entered is set,
        # the thread goes on to ask the controller (ipyparallel's queue_status).
        await asyncio.gather(cluster.run(entered.set), cluster.queue_status())


    def asking():
        try:
            moi_client._call(ask())
        finally:
            answered.set()


    print("started", flush=True)
    sys.stdin.readline()  # the test stopped the controller
    threading.Thread(target=asking, daemon=True).start()
    assert entered.wait(30), "the cluster's thread never took the call"
    try:  # from before "hung" is printed: the test's SIGTERM may follow it at once
        print("answered" if answered.wait(2) else "hung", flush=True)
        if ending == "sigterm":
            threading.Event().wait()  # until SIGTERM
    finally:
        if ending == "sigterm":  # as an app closes its dispatcher and client on the way out
            moi_client._call(cluster.close())
            moi_client.close()
        print("ending", flush=True)
"""


@pytest.fixture(scope="module")
def private_cluster(tmp_path_factory):
    """A 1-engine cluster of this module's own, whose controller its tests stop."""
    local = LocalCluster(1, tmp_path_factory.mktemp("private-ipython"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


def controller_processes(local: LocalCluster) -> list[psutil.Process]:
    """The controller and its helper processes (its schedulers)."""
    controller = psutil.Process(local.cluster.controller.process.pid)
    return [controller, *controller.children(recursive=True)]


@pytest.mark.parametrize("ending", ["returns", "sigterm"])
def test_a_call_hung_on_a_stopped_controller_does_not_keep_the_script_alive(
    ending, private_cluster, redis_server, tmp_path
):
    """``returns``: the script's main returns without closing anything (the interpreter
    then joins its non-daemon threads). ``sigterm``: it is stopped as the demo app is, and
    closes its cluster connection and client on the way out (the close waits on the
    cluster's thread, up to a bound)."""
    script = Script(
        tmp_path,
        HANGS_THEN_ENDS,
        f"""
        [redis]
        url = {redis_server.url}
        [ipyparallel]
        connection_file = {private_cluster.connection_file}
        """,
        ending,
    )
    stopped: list[psutil.Process] = []
    try:
        assert script.line() == "started"
        for process in controller_processes(private_cluster):
            process.send_signal(signal.SIGSTOP)
            stopped.append(process)
        script.tell("go")
        assert script.line() == "hung", "the stopped controller answered"
        ends_at = time.monotonic()
        if ending == "sigterm":
            script.process.send_signal(signal.SIGTERM)
        try:
            code = script.process.wait(HUNG_EXIT_BOUND)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the script still runs {HUNG_EXIT_BOUND} s after it ended ({ending})"
            ) from None
        took = time.monotonic() - ends_at
        assert code == 0, script.stderr()
        assert script.line() == "ending"
        print(f"ended {took:.1f} s after it {ending} with a call hung")
    finally:
        for process in stopped:
            process.send_signal(signal.SIGCONT)
        script.kill()
