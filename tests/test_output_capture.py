"""What a job prints, captured on its engine and stored, on the real cluster."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path

import pytest

from moi import keys
from moi.output import Output
from moi.sync import SyncClient
from tests import jobs


def texts(page, stream):
    return [line[3] for line in page.lines if line[1] == stream]


def wait_for(predicate, timeout=30, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polls a state only another process can change


def test_stdout_stderr_subprocesses_and_logging_are_stored_in_order(r, moi_context):
    job_id = moi_context.submit("ann", "prints", None, jobs.prints, 250, "A")
    assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
    page = Output(r).read(job_id)
    assert texts(page, "stdout") == [f"A line {i}" for i in range(250)] + ["A from a subprocess"]
    assert texts(page, "stderr") == ["A warning 99", "A warning 199"]
    assert texts(page, "log") == ["WARNING sample: A logged"]
    assert [line[0] for line in page.lines] == list(range(254)) == list(range(page.total))
    assert page.dropped is None
    assert all(isinstance(line[2], int) for line in page.lines)
    assert r.ttl(keys.output_head_key(job_id)) > 0


def test_two_jobs_printing_at_once_on_two_engines_each_get_only_their_own_lines(
    r, moi_context, settings
):
    cues = {group: f"cue-{group}" for group in ("ann", "bob")}
    pubsub = r.pubsub()
    ids = {
        group: moi_context.submit(
            group, "cued", None, jobs.prints_on_cue, settings.redis_url, cues[group]
        )
        for group in cues
    }
    pubsub.subscribe(*(keys.output_channel(job_id) for job_id in ids.values()))
    try:
        wait_for(
            lambda: all(moi_context.get(i)["status"] == "Running" for i in ids.values()),
            what="both jobs to run",
        )
        for step in range(20):
            for group, key in cues.items():
                r.rpush(key, f"{group} {step}")
        heard: dict[str, list[str]] = {job_id: [] for job_id in ids.values()}
        deadline = time.monotonic() + 30
        while sum(map(len, heard.values())) < 40:  # every line is published as it is stored
            assert time.monotonic() < deadline, heard
            message = pubsub.get_message(timeout=1)
            if message and message["type"] == "message":
                batch = json.loads(message["data"])
                heard[batch["id"]].extend(line[3] for line in batch["lines"])
        for key in cues.values():
            r.rpush(key, "end")
        for group, job_id in ids.items():
            assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
            expected = [f"{group} {step}" for step in range(20)]
            assert heard[job_id] == expected
            assert texts(Output(r).read(job_id), "stdout") == expected
    finally:
        pubsub.close()


def test_a_job_killed_mid_print_keeps_what_it_printed(r, moi_context):
    job_id = moi_context.submit("ann", "dies", None, jobs.prints_then_dies, 500)
    info = moi_context.wait(job_id, timeout=30)
    assert info["status"] == "Failed"
    assert "SIGKILL" in info["result"]
    assert texts(Output(r).read(job_id), "stdout") == [f"line {i}" for i in range(500)]


def test_the_output_cap_keeps_the_first_and_last_lines_and_counts_the_rest(
    r, moi_context, settings
):
    with SyncClient(dataclasses.replace(settings, max_output_bytes=4000, dispatch=False)) as small:
        job_id = small.submit("ann", "prints", None, jobs.prints, 1000, "C")
        assert small.wait(job_id, timeout=30)["status"] == "Success"
    page = Output(r).read(job_id)
    stored = r.lrange(keys.output_head_key(job_id), 0, -1) + r.lrange(
        keys.output_tail_key(job_id), 0, -1
    )
    assert sum(len(entry.encode()) for entry in stored) <= 4000
    assert page.total == 1000 + 10 + 2
    assert page.dropped is not None and page.dropped["bytes"] > 30_000
    assert page.lines[0][3] == "C line 0"
    assert page.lines[-1][3] == "WARNING sample: C logged"
    assert page.dropped["to"] - page.dropped["from"] == page.total - len(page.lines)


def test_a_run_again_starts_with_a_note_of_its_attempt(r, moi_context, settings):
    job_id = moi_context.with_options(retries=1).submit(
        "ann", "again", None, jobs.exits_on_first_attempt, settings.redis_url, "runs"
    )
    assert moi_context.wait(job_id, timeout=30)["result"] == "second attempt"
    assert texts(Output(r).read(job_id), "moi") == ["Attempt 2"]


def test_a_subprocess_that_outlives_its_job_prints_into_no_other_job(
    r, moi_context, settings, tmp_path: Path
):
    go, done = tmp_path / "go", tmp_path / "done"
    first = moi_context.submit("ann", "leaves", None, jobs.leaves_a_printer, str(go), str(done))
    assert moi_context.wait(first, timeout=30)["status"] == "Success"
    cues = {group: f"cue-{uuid.uuid4()}" for group in ("ann", "bob")}
    later = [
        moi_context.submit(group, "cued", None, jobs.prints_on_cue, settings.redis_url, cue)
        for group, cue in cues.items()
    ]
    wait_for(
        lambda: all(moi_context.get(i)["status"] == "Running" for i in later),
        what="both engines to run a later job",
    )
    go.touch()  # the leftover subprocess prints now, while each engine runs another job
    wait_for(done.exists, what="the leftover subprocess to print")
    for cue in cues.values():
        r.rpush(cue, "end")
    for job_id in later:
        assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
    for job_id in (first, *later):
        assert "late line" not in json.dumps(Output(r).read(job_id).lines)
    assert done.read_text().strip() != "0"  # its echo failed: nothing reads that pipe now


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "naïve \x1b[31mred\x1b[0m", ""])
def test_any_text_is_stored_as_printed(r, moi_context, text):
    job_id = moi_context.submit("ann", "echo", None, jobs.echo, text)
    assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
    assert texts(Output(r).read(job_id), "stdout") == [text]


def test_a_function_that_configures_logging_has_its_lines_where_it_writes_them(r, moi_context):
    job_id = moi_context.submit("ann", "logs", None, jobs.logs_configured)
    assert moi_context.wait(job_id, timeout=30)["status"] == "Success"
    assert texts(Output(r).read(job_id), "stderr") == ["INFO:configured"]
