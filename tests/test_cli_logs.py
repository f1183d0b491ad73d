"""``moi logs``, run as ``python -m moi`` against the real Redis: a job's output made with
:meth:`moi.output.Output.append` (as an engine stores it), its end written with
:class:`moi.record.Writer` (as an engine writes it)."""

from __future__ import annotations

import contextlib
import io
import json
import queue
import signal
import subprocess
import sys
import threading

import pytest

from app.jobs import fail, simulate
from moi import record
from moi.logs import LinePrinter
from moi.output import Output, Page, fragment, not_kept, size
from moi.status import Status
from tests.test_cli import ROOT, environment, one_clear_line, store_job

T = 1_700_000_000_000
"""A line's time (Unix ms): any will do."""
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"
DROPPED = {"from": 5, "to": 30, "bytes": 1234}


@pytest.fixture
def ini(settings, tmp_path):
    """A config naming the test's Redis: all ``moi logs`` needs."""
    path = tmp_path / "moi.ini"
    path.write_text(f"[redis]\nurl = {settings.redis_url}\n")
    return path


def moi(ini, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moi", "--config", str(ini), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
    )


def append(r, job_id: str, *lines: tuple[str, str], cap: int = 0) -> None:
    """Store ``(stream, text)`` lines of the job's first attempt, as its engine would."""
    fragments = [fragment(stream, T, text) for stream, text in lines]
    assert Output(r).append(job_id, 1, fragments, 3600, cap) == len(lines)


def running_job(r) -> str:
    return store_job(r, "g", "printer", status="Running", attempt=1)


PRINTED = [
    ("stdout", "step 1/3: <b>fit</b> [red]"),
    ("stderr", "warning: slow"),
    ("log", "WARNING app.jobs: tolerance tightened"),
    ("stdout", "step 2/3 ✓ \x1b[1mbold\x1b[0m"),
    ("moi", "attempt 2 begins"),
    ("stderr", "Traceback (most recent call last):"),
]


def test_logs_prints_each_line_to_its_stream(r, ini):
    job_id = store_job(r, "g", "printer", status="Success", result=1)
    append(r, job_id, *PRINTED)
    done = moi(ini, "logs", job_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [text for stream, text in PRINTED if stream != "stderr"]
    assert done.stderr.splitlines() == [text for stream, text in PRINTED if stream == "stderr"]


def test_logs_json_prints_each_stored_array_on_stdout(r, ini):
    job_id = store_job(r, "g", "printer", status="Success", result=1)
    append(r, job_id, *PRINTED)
    done = moi(ini, "logs", "--json", job_id)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    parsed = [json.loads(line) for line in done.stdout.splitlines()]
    assert parsed == [[n, stream, T, text] for n, (stream, text) in enumerate(PRINTED)]


def test_a_job_that_printed_nothing_prints_nothing(r, ini):
    done = moi(ini, "logs", store_job(r, "g", "quiet", status="Success", result=1))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_lines_not_kept_are_one_note_between_the_head_and_the_tail(r, ini):
    job_id = store_job(r, "g", "chatty", status="Success", result=1)
    texts = [f"line {n:03d}" for n in range(200)]
    append(r, job_id, *(("stdout", text) for text in texts), cap=2000)
    dropped = Output(r).read(job_id).dropped
    assert dropped is not None and dropped["to"] - dropped["from"] > 100

    done = moi(ini, "logs", job_id)

    assert done.returncode == 0, done.stderr
    kept = texts[: dropped["from"]] + texts[dropped["to"] :]
    assert done.stdout.splitlines() == kept
    lines = dropped["to"] - dropped["from"]
    assert done.stderr.splitlines() == [f"… {lines:,} lines ({size(dropped['bytes'])}) not kept …"]


def test_a_read_that_starts_in_the_dropped_range_notes_the_part_it_jumps():
    printer = LinePrinter(as_json=False, out=io.StringIO(), err=io.StringIO())
    printer.next = 10
    printer.page(Page(lines=[[30, "stdout", T, "x"]], total=31, next=31, dropped=DROPPED))
    assert printer.err.getvalue() == "… 20 lines not kept …\n"  # part of the range: no size
    assert printer.out.getvalue() == "x\n"


def test_a_line_read_and_heard_live_is_printed_once():
    printer = LinePrinter(as_json=True, out=io.StringIO(), err=io.StringIO())
    printer.page(Page(lines=[[0, "stdout", T, "a"], [1, "stderr", T, "b"]], total=2, next=2))
    printer.live([[1, "stderr", T, "b"], [2, "log", T, "c"]])
    printer.live([[2, "log", T, "c"]])
    assert [json.loads(line)[0] for line in printer.out.getvalue().splitlines()] == [0, 1, 2]
    assert printer.next == 3


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (512, "512 B"), (58_060, "56.7 KiB"), (3 * 1024**2 + 1024**2 // 5, "3.2 MiB")],
)
def test_sizes_read_as_people_read_them(count, text):
    assert size(count) == text
    assert not_kept(1234, count) == f"… 1,234 lines ({text}) not kept …"


@pytest.mark.parametrize("follow", [[], ["-f"]], ids=["read", "follow"])
@pytest.mark.parametrize("job_id", [UNKNOWN_JOB, "not-a-job", "g:jobs"])
def test_an_unknown_job_is_one_clear_line(r, ini, follow, job_id):
    r.sadd("g:jobs", "x")  # a key that is no job's
    assert f"no job with ID {job_id!r}" in one_clear_line(moi(ini, "logs", *follow, job_id))


class Following:
    """``moi logs -f ID`` running, its stdout lines gathered by a thread for the test to
    wait on; stopped by PID if it has not ended."""

    def __init__(self, ini, job_id: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moi", "--config", str(ini), "logs", "-f", *args, job_id],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_lines(self, count: int, timeout: float = 20) -> list[str]:
        got = []
        for _ in range(count):
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line within {timeout} s after {got}") from None
            assert line is not None, f"the command ended after {got}"
            got.append(line)
        return got

    def end(self, timeout: float = 30) -> tuple[int, list[str], str]:
        """Its exit status, its stdout lines not read yet, and its stderr."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        rest = []
        while (line := self.lines.get_nowait()) is not None:
            rest.append(line)
        return code, rest, self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(10)
        self.process.stdout.close()
        self.process.stderr.close()


@contextlib.contextmanager
def following(ini, job_id: str, *args: str):
    follower = Following(ini, job_id, *args)
    try:
        yield follower
    finally:
        follower.close()


def end_job(r, job_id: str, status: Status) -> None:
    """End the job as its engine does: its final info written, its change published."""
    info = record.decode(r.get(job_id))
    info.update(status=status.value, result="done", date_end=record.now())
    assert record.Writer(r).update(info, 3600, lease="end")


@pytest.mark.parametrize(
    ("status", "code"), [(Status.SUCCESS, 0), (Status.FAILED, 1), (Status.CANCELLED, 2)]
)
def test_follow_prints_stored_then_live_lines_until_the_end(r, ini, status, code):
    job_id = running_job(r)
    append(r, job_id, ("stdout", "stored 1"), ("stderr", "stored warning"))
    with following(ini, job_id) as follower:
        assert follower.next_lines(1) == ["stored 1"]
        append(r, job_id, ("stdout", "live 1"), ("log", "live log"))
        assert follower.next_lines(2) == ["live 1", "live log"]
        append(r, job_id, ("stderr", "live warning"), ("stdout", "last"))
        assert follower.next_lines(1) == ["last"]
        assert follower.process.poll() is None  # the job has not ended: it waits
        end_job(r, job_id, status)
        returned, rest, errors = follower.end()
    assert (returned, rest) == (code, [])
    assert errors.splitlines() == ["stored warning", "live warning"]


def test_follow_waits_for_a_job_that_has_printed_nothing_yet(r, ini):
    job_id = running_job(r)
    with following(ini, job_id, "--json") as follower:
        append(r, job_id, ("stderr", "first"))
        assert [json.loads(line) for line in follower.next_lines(1)] == [[0, "stderr", T, "first"]]
        end_job(r, job_id, Status.SUCCESS)
        assert follower.end()[:2] == (0, [])


def test_follow_of_an_ended_job_prints_it_and_exits_as_watch_does(r, ini):
    job_id = store_job(r, "g", "failed", status="Failed", result="Traceback ...\nValueError: x")
    append(r, job_id, ("stdout", "before the error"))
    with following(ini, job_id) as follower:
        assert follower.end() == (1, ["before the error"], "")


def test_ctrl_c_stops_following_cleanly(r, ini):
    job_id = running_job(r)
    append(r, job_id, ("stdout", "one"))
    with following(ini, job_id) as follower:
        assert follower.next_lines(1) == ["one"]
        follower.process.send_signal(signal.SIGINT)
        code, rest, errors = follower.end()
    assert (code, rest) == (130, [])
    assert errors.strip() == "Stopped; the jobs go on."
    assert record.decode(r.get(job_id))["status"] == "Running"


def test_follow_a_job_printing_on_the_cluster(r, ini, moi_context):
    job_id = moi_context.submit("g", "simulate", None, simulate, 5, 50)
    with following(ini, job_id) as follower:
        code, out, errors = follower.end()
    assert code == 0
    logged = "WARNING app.jobs: half way, at step 3 of 5: tolerance tightened"
    assert logged in out  # logging's lines go to stdout
    steps = [line.split(":")[0] for line in out if line != logged]
    assert steps == [*(f"step {n}/5" for n in range(1, 6)), "done"]
    assert [line.split(":")[1] for line in errors.splitlines()] == [" step 5"]


def test_follow_a_failing_job_on_the_cluster_exits_1(r, ini, moi_context):
    job_id = moi_context.submit("g", "fail", None, fail, "no coffee")
    with following(ini, job_id) as follower:
        assert follower.end() == (1, ["Checking the input…"], "Giving up: no coffee\n")


def test_logs_into_a_reader_that_stops_early_ends_quietly(r, ini):
    """`moi logs ID | head -1`: the pipe closes under moi; no traceback, no Redis blame."""
    job_id = store_job(r, "g", "printer", status="Success", result=1)
    append(r, job_id, *[("stdout", f"line {n}") for n in range(5000)])
    done = subprocess.run(
        f"{sys.executable} -m moi --config {ini} logs {job_id} | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
        executable="/bin/bash",
    )
    assert done.stdout == "line 0\n"
    assert done.stderr == ""


def test_an_empty_job_id_is_one_clear_line(ini):
    done = moi(ini, "show", "")
    assert done.returncode == 1
    assert one_clear_line(done) == "Error: job_id must not be empty"
