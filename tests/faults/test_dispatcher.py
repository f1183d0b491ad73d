"""The dispatcher killed mid-dispatch: another takes over, and no job runs twice or is lost.

Real processes: two ``moi dispatch`` commands stand in for two server processes; the
one holding ``moi:dispatcher`` is killed with SIGKILL by PID while engines work through
a map of jobs that count their own runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from moi import keys
from tests import jobs

pytestmark = pytest.mark.faults

JOBS = 600
TAKEOVER = 10  # seconds from the kill to the next job started by a new dispatcher's task


@pytest.fixture
def dispatchers(settings, tmp_path, exclusive_dispatch):
    config = tmp_path / "moi.ini"
    config.write_text(
        f"[redis]\nurl = {settings.redis_url}\nkey_ttl = 3600\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "moi", "--config", str(config), "dispatch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        yield started
    finally:
        for process in started:  # Ctrl-C: the holder lets the lock go for the next test
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
        for process in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def active_dispatcher(r, processes, timeout: float = 30) -> subprocess.Popen:
    """The process whose report is in ``moi:cluster`` (it holds the lock)."""
    deadline = time.monotonic() + timeout
    pids = {process.pid: process for process in processes if process.poll() is None}
    while True:
        report = json.loads(r.get(keys.CLUSTER) or "{}")
        pid = int(str(report.get("dispatcher", ":0")).rpartition(":")[2] or 0)
        if pid in pids:
            return pids[pid]
        assert time.monotonic() < deadline, f"no dispatcher of {sorted(pids)} reports"
        time.sleep(0.1)  # the report is renewed every second: nothing else to wait on


def test_a_killed_dispatcher_is_replaced_and_no_job_runs_twice(r, moi_context, dispatchers):
    first = active_dispatcher(r, dispatchers)
    key = "runs:takeover"
    count = functools.partial(jobs.counts_runs, moi_context.settings.redis_url, key, seconds=0.01)
    ids = moi_context.map("ann", "count", None, count, range(JOBS))
    deadline = time.monotonic() + 60
    while r.hlen(key) < JOBS // 4:  # mid-dispatch: a quarter has run
        assert time.monotonic() < deadline, "the jobs never started"
        time.sleep(0.05)
    first.kill()  # SIGKILL
    first.wait(30)
    killed_at = time.monotonic()
    second = active_dispatcher(r, dispatchers, timeout=TAKEOVER + 5)
    assert second is not first
    took_over = time.monotonic() - killed_at
    for job_id in ids:
        assert moi_context.wait(job_id, timeout=120)["status"] == "Success"
    runs = r.hgetall(key)
    assert len(runs) == JOBS, "jobs were lost"
    assert set(runs.values()) == {"1"}, "a job ran twice"
    assert took_over <= TAKEOVER
    print(f"the standby took over {took_over:.1f} s after the kill")
