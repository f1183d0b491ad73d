"""The installed ``moi`` command, run as a subprocess against the real Redis and cluster."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from moi import record
from moi.embedded import free_port
from moi.status import Status
from tests import jobs
from tests.conftest import store_infos

ROOT = Path(__file__).resolve().parent.parent
MOI = shutil.which("moi", path=str(Path(sys.executable).parent)) or "moi"


@pytest.fixture
def ini(settings, tmp_path):
    path = tmp_path / "moi.ini"
    path.write_text(
        f"[redis]\nurl = {settings.redis_url}\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    return path


TERMINAL = {"FORCE_COLOR": "1", "COLUMNS": "200"}
"""The environment under which rich draws for a terminal (tables, live bars), in a pipe."""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MOI_GROUP"}, **(extra or {})}


def moi(
    ini, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MOI, "--config", str(ini), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(env),
    )


@contextlib.contextmanager
def started(ini, *args: str, env: dict[str, str] | None = None):
    """``moi ARGS`` running, its output read line by line; stopped by PID afterwards."""
    process = subprocess.Popen(
        [MOI, "--config", str(ini), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment(env),
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def one_clear_line(done: subprocess.CompletedProcess) -> str:
    """The error a user sees: one line on stderr, no traceback, and a non-zero exit."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_submit_and_watch_shows_progress_and_exits_0(r, ini, settings):
    args = ["submit", "tests.jobs:progress_on_cue", settings.redis_url, "cue", "2"]
    with started(ini, *args, "--group", "cli", "--watch") as watching:
        job_id = watching.stdout.readline().strip()
        seen = []
        try:
            for expected in ("step 1 of 2 50%", "step 2 of 2 100%", "Success 100%"):
                r.rpush("cue", "go")
                while not seen or not seen[-1].endswith(expected):
                    line = watching.stdout.readline()
                    assert line, f"the watcher ended before {expected!r}: {seen}"
                    seen.append(line.strip())
        finally:  # a failed test must not leave the job waiting on an engine
            r.rpush("cue", "go", "go", "go")
        assert watching.wait(timeout=30) == 0
    assert r.sismember("cli:jobs", job_id)
    assert all(line.startswith(f"{job_id} progress_on_cue: ") for line in seen)


def test_a_failing_job_says_why_and_exits_1(r, ini):
    done = moi(ini, "submit", "tests.jobs:raises", "boom", "--watch")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].endswith(" raises: Failed: ValueError: boom")


def test_a_failure_on_a_terminal_shows_its_last_line(r, ini):
    job_id = store_job(r, "g", "fit", status="Failed", result="Traceback ...\nKeyError: 'x'\n\n")
    watched = moi(ini, "watch", job_id, env=TERMINAL)
    assert watched.returncode == 1
    assert "Failed: KeyError: 'x'" in plain(watched.stdout)


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as a JSON object: anything else fails the test."""
    parsed = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(value, dict) for value in parsed), text
    return parsed


def test_submit_json_watch_prints_json_lines_only(r, ini, settings):
    args = ["submit", "tests.jobs:progress_on_cue", settings.redis_url, "cue", "2"]
    with started(ini, *args, "--json", "--watch") as watching:
        [submitted] = json_lines(watching.stdout.readline())
        seen = [submitted]
        try:
            for expected in ("step 1 of 2", "step 2 of 2", "Success"):
                r.rpush("cue", "go")
                while seen[-1]["status"] != expected:
                    line = watching.stdout.readline()
                    assert line, f"the watcher ended before {expected!r}: {seen}"
                    seen += json_lines(line)
        finally:  # a failed test must not leave the job waiting on an engine
            r.rpush("cue", "go", "go", "go")
        assert watching.wait(timeout=30) == 0
        assert watching.stdout.read() == ""  # the final info was the last line
    assert {info["id"] for info in seen} == {submitted["id"]}
    assert (seen[-1]["result"], seen[-1]["progress"]) == (2, 1)
    assert len({json.dumps(info, sort_keys=True) for info in seen}) == len(seen)  # changes only


def test_a_failure_watched_as_json_ends_with_its_final_info(r, ini):
    done = moi(ini, "submit", "tests.jobs:raises", "boom", "--json", "--watch")
    assert done.returncode == 1
    infos = json_lines(done.stdout)
    assert infos[-1]["status"] == "Failed"
    assert infos[-1]["result"].rstrip().endswith("ValueError: boom")


def test_cancel_from_another_terminal_ends_the_watch_with_2(r, ini, moi_context):
    job_id = moi(ini, "submit", "tests.jobs:tells_pid_then_sleeps", "60").stdout.strip()
    with started(ini, "watch", job_id) as watcher:
        for line in watcher.stdout:  # each change is a line: wait for the running one
            if ": pid " in line:
                break
        cancelled = moi(ini, "cancel", job_id)
        assert cancelled.stdout.strip() == f"{job_id} cancelled"
        assert watcher.wait(timeout=30) == 2
        assert watcher.stdout.read().strip().endswith(": Cancelled")
    assert moi(ini, "cancel", job_id).stdout.strip().endswith("had already ended; left as it was")


def test_json_output_parses(r, ini, moi_context):
    job_id = moi_context.submit("cli", "double", None, jobs.double, 21)
    moi_context.wait(job_id, timeout=30)

    shown = json.loads(moi(ini, "show", job_id, "--json").stdout)
    listed = json.loads(moi(ini, "jobs", "cli", "--json").stdout)
    status = json.loads(moi(ini, "status", "--json").stdout)

    assert (shown["id"], shown["result"]) == (job_id, 42)
    assert [info["id"] for info in listed] == [job_id]
    assert status["cluster"]["engines"] == 2 and status["redis"]["version"]


def test_submit_takes_json_keywords_and_prints_json(r, ini, moi_context):
    done = moi(ini, "submit", "tests.jobs:returns", "--kw", 'value={"a": [1, 2]}', "--json")
    info = json.loads(done.stdout)
    assert (info["group"], info["name"]) == ("no-user", "returns")
    assert moi_context.wait(info["id"], timeout=30)["result"] == {"a": [1, 2]}


def test_jobs_in_a_pipe_are_plain_tab_separated_lines(r, ini, moi_context):
    ids = [moi_context.submit("cli", f"job {n}", None, jobs.double, n) for n in range(2)]
    for job_id in ids:
        moi_context.wait(job_id, timeout=30)

    lines = moi(ini, "jobs", "cli").stdout.splitlines()

    assert lines[0].split("\t") == ["id", "name", "status", "submitted", "duration"]
    assert [line.split("\t")[:3] for line in lines[1:]] == [
        [ids[0], "job 0", "Success"],
        [ids[1], "job 1", "Success"],
    ]
    assert "\x1b[" not in "".join(lines)  # no colours in a pipe


MARKUP = ["fit [/] model", "[bold red]x", "[link=http://evil.example]y[/link] :smile:", "z\\"]
"""Job text that rich would take for markup (or an emoji code): an error, a style, a link."""


def plain(output: str) -> str:
    """Terminal output without its colours and cursor moves."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)


def store_job(r, group: str, name: str, **fields) -> str:
    """A job stored as an engine would leave it, without running anything."""
    info = record.new_info(group, name, None)
    info.update(fields)
    store_infos(r, [info])
    return info["id"]


@pytest.mark.parametrize("env", [None, TERMINAL], ids=["pipe", "terminal"])
def test_jobs_and_show_print_job_text_as_it_is(r, ini, env):
    group = "[red]team"
    ids = [
        store_job(r, group, name, status=status, result=result)
        for name, status, result in zip(
            MARKUP, ["Success", "[/] half way", "Failed", "[dim]"], [*MARKUP[1:], None], strict=True
        )
    ]

    listed = moi(ini, "jobs", group, env=env)
    assert listed.returncode == 0, listed.stderr
    for name in MARKUP:
        assert name in plain(listed.stdout)
    for status in ("[/] half way", "[dim]"):
        assert status in plain(listed.stdout)

    shown = moi(ini, "show", ids[1], env=env)
    assert shown.returncode == 0, shown.stderr
    out = plain(shown.stdout)
    assert re.search(r"^name +\[bold red\]x$", out, re.MULTILINE), out
    assert re.search(r"^group +\[red\]team$", out, re.MULTILINE), out
    assert re.search(r"^status +\[/\] half way$", out, re.MULTILINE), out
    assert out.rstrip().endswith(MARKUP[2])  # the result


def read_until(stream, text: str) -> str:
    """Read ``stream`` until ``text`` appears in it (colours aside); all that was read."""
    seen = ""
    while text not in plain(seen):
        char = stream.read(1)
        assert char, f"the output ended before {text!r}: {plain(seen)!r}"
        seen += char
    return seen


def test_watch_on_a_terminal_draws_job_text_as_it_is(r, ini):
    ended = store_job(r, "g", MARKUP[1], status="Success", result=1)
    running = store_job(r, "g", MARKUP[0], status="[/] step [b]1[/b]")
    with started(ini, "watch", ended, running, env=TERMINAL) as watcher:
        seen = read_until(watcher.stdout, "[/] step [b]1[/b]")
        record.Writer(r).end(running, Status.CANCELLED, "stopped [red]here")
        assert watcher.wait(timeout=30) == 2  # ended normally: one job was cancelled
        out = plain(seen + watcher.stdout.read())
    assert MARKUP[0] in out and MARKUP[1] in out
    assert "Cancelled" in out and "Success" in out


def test_times_are_iso_8601_with_the_local_offset(r, ini):
    job_id = store_job(
        r,
        "tz",
        "job",
        status="Success",
        date_created="2026-11-30T17:42:49.545993+00:00",
        date_start="2026-11-30T17:42:50+00:00",
    )
    india = {"TZ": "IST-5:30"}  # +05:30, in POSIX form: no time zone database needed

    listed = moi(ini, "jobs", "tz", env=india).stdout.splitlines()
    shown = moi(ini, "show", job_id, env=india).stdout

    assert listed[1].split("\t")[3] == "2026-11-30T23:12:49+05:30"
    assert re.search(r"^date_created +2026-11-30T23:12:49\.545993\+05:30$", shown, re.MULTILINE)
    assert re.search(r"^date_start +2026-11-30T23:12:50\.000000\+05:30$", shown, re.MULTILINE)


def test_show_prints_a_traceback_readably(r, ini, moi_context):
    job_id = moi_context.submit("cli", "raises", None, jobs.raises, "boom")
    moi_context.wait(job_id, timeout=30)
    out = moi(ini, "show", job_id).stdout
    assert re.search(r"^status +Failed$", out, re.MULTILINE)
    assert out.rstrip().endswith("ValueError: boom")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("submit", "no_such_module:func"), "cannot import 'no_such_module' here"),
        (("submit", "tests.jobs:no_such_function"), "has no function 'no_such_function'"),
        (("submit", "tests.jobs"), "must be MODULE:FUNC"),
        (("show", "00000000-0000-4000-8000-000000000000"), "no job with ID"),
        (("cancel", "not-a-job"), "no job with ID 'not-a-job'"),
        (("submit", "tests.jobs:double", "--kw", "2"), "--kw '2' is not KEY=VALUE"),
        (("submit", "tests.jobs:double", "--retries", "-1"), "retries must be from 0 to 100"),
    ],
)
def test_bad_input_is_one_clear_line(r, ini, args, said):
    assert said in one_clear_line(moi(ini, *args))


def test_a_usage_error_says_how_to_use_the_command(ini):
    done = moi(ini, "watch")
    assert done.returncode == 2
    assert "give JOB_ID ... or --group G" in done.stderr and "Usage: moi watch" in done.stderr


def test_unreachable_redis_is_one_clear_line(tmp_path):
    ini = tmp_path / "away.ini"
    ini.write_text(f"[redis]\nurl = redis://127.0.0.1:{free_port()}/0\n")
    for args in (("jobs", "g"), ("show", "00000000-0000-4000-8000-000000000000"), ("status",)):
        line = one_clear_line(moi(ini, *args))
        assert "cannot reach Redis at redis://127.0.0.1:" in line
        assert f"(from {ini})" in line  # which file named it


def run_here(cwd: Path, *args: str, env: dict[str, str] | None = None):
    """``moi ARGS`` in ``cwd`` with no --config, and no $MOI_CONFIG unless ``env`` sets it."""
    environ = {k: v for k, v in environment().items() if k != "MOI_CONFIG"} | (env or {})
    return subprocess.run(
        [MOI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=environ
    )


def test_the_command_finds_var_moi_ini_after_the_other_configs(r, ini, settings, tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "moi.ini").write_text(ini.read_text())  # as make run writes it
    found = run_here(tmp_path, "status", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["redis"]["url"] == settings.redis_url

    away = [f"redis://127.0.0.1:{free_port()}/0" for _ in range(2)]
    (tmp_path / "config.ini").write_text(f"[redis]\nurl = {away[0]}\n")
    line = one_clear_line(run_here(tmp_path, "status"))
    assert f"cannot reach Redis at {away[0]} (from config.ini)" in line

    named = tmp_path / "named.ini"
    named.write_text(f"[redis]\nurl = {away[1]}\n")
    line = one_clear_line(run_here(tmp_path, "status", env={"MOI_CONFIG": str(named)}))
    assert f"cannot reach Redis at {away[1]} (from {named})" in line


def test_help_gives_the_config_lookup_order():
    done = subprocess.run([MOI, "--help"], capture_output=True, text=True, timeout=30)
    order = ["--config FILE", "$MOI_CONFIG", "./config.ini", "./var/moi.ini", "the defaults"]
    positions = [done.stdout.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), done.stdout


def test_a_missing_config_file_is_one_clear_line(tmp_path):
    assert "does not exist" in one_clear_line(moi(tmp_path / "none.ini", "jobs", "g"))


def test_python_dash_m_moi_is_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "moi", "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and "watch" in done.stdout and "submit" in done.stdout


def test_a_submit_past_the_queued_limit_is_one_clear_line(
    r, settings, tmp_path, exclusive_dispatch
):
    limited = tmp_path / "limited.ini"
    limited.write_text(
        f"[redis]\nurl = {settings.redis_url}\n[jobs]\nmax_queued_per_group = 1\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    first = moi(limited, "submit", "tests.jobs:double", "1", "--group", "ann")
    assert first.returncode == 0, first.stderr  # it waits: nobody dispatches
    refused = moi(limited, "submit", "tests.jobs:double", "2", "--group", "ann")
    assert "'ann' already has the most jobs waiting that it may (1)" in one_clear_line(refused)
    assert r.scard("ann:jobs") == 1
