"""The sample job functions, called here directly (the form tests run them on engines);
and the simulate sample end to end: its form, its checks, its page, its output."""

from __future__ import annotations

import html
import logging
import math
import re
from datetime import timedelta

import pytest

from app import jobs, samples
from app.templating import parse_date
from moi import group
from moi.job import wait
from tests.app.apiclient import Api, make_token
from tests.app.conftest import error_message


class Recorder:
    """Stands in for moi's ``status_update``: remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, float | None]] = []

    def __call__(self, status: str | None = None, *, progress: float | None = None) -> None:
        self.calls.append((status, progress))


def test_hello_sets_a_status_then_greets():
    status = Recorder()
    assert jobs.hello("Ann", status_update=status) == "Hello, Ann!"
    assert status.calls == [("Saying hello", None)]


def test_countdown_updates_status_and_progress_each_second(monkeypatch):
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    status = Recorder()
    assert jobs.countdown(3, status_update=status) == "Counted down from 3."
    assert slept == [1, 1, 1]
    assert status.calls == [
        ("3 s to go", 0.0),
        ("2 s to go", pytest.approx(1 / 3)),
        ("1 s to go", pytest.approx(2 / 3)),
        ("Lift-off", 1.0),
    ]


def test_fail_prints_then_raises_its_own_error(capsys):
    with pytest.raises(jobs.DemoFailure, match="boom"):
        jobs.fail("boom", status_update=Recorder())
    printed = capsys.readouterr()
    assert printed.out == "Checking the input…\n"
    assert printed.err == "Giving up: boom\n"


def test_simulate_prints_each_step_warns_on_stderr_and_logs_once(monkeypatch, capsys, caplog):
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    status = Recorder()
    with caplog.at_level(logging.INFO, logger=jobs.__name__):
        result = jobs.simulate(12, 40, status_update=status)
    assert slept == [0.04] * 12
    printed = capsys.readouterr()
    out = printed.out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [f"step {n}/12" for n in range(1, 13)]
    assert out[-1].startswith("done: 12 steps, final energy ")
    warned = printed.err.splitlines()
    assert [line.split(":")[1] for line in warned] == [" step 5", " step 10"]
    assert [record.getMessage() for record in caplog.records] == [
        "half way, at step 6 of 12: tolerance tightened"
    ]
    assert status.calls == [(f"step {n} of 12", pytest.approx(n / 12)) for n in range(1, 13)]
    assert result["steps"] == 12 and result["warnings"] == 2
    assert 0 < result["energy"] < 1


@pytest.mark.parametrize("samples", [100, 1000, 4096])
def test_pi_estimates_and_reports_progress(samples):
    status = Recorder()
    result = jobs.pi(samples, status_update=status)
    assert result["samples"] == samples
    assert 0 <= result["inside"] <= samples
    assert result["estimate"] == 4 * result["inside"] / samples
    assert result["error"] == result["estimate"] - math.pi
    assert len(result["points"]) == min(samples, jobs.PI_POINTS_KEPT)
    counts = [count for count, _ in result["convergence"]]
    assert counts[0] == 1 and counts[-1] == samples
    assert counts == sorted(set(counts))
    progress = [p for _, p in status.calls]
    assert progress == sorted(progress) and all(0 < p < 1 for p in progress)
    assert len(status.calls) <= jobs.PI_PROGRESS_STEPS


# -- the simulate sample, end to end ---------------------------------------------------------


def test_simulate_form_runs_it_and_its_page_shows_the_result(auth):
    form = auth.get("/").text
    label = re.search(r'<label for="simulate-steps">([^<]*)</label>', form)
    assert label and label.group(1) == f"Steps (1 to {samples.SIMULATE_STEPS_MAX})"
    assert auth.post("/jobs/simulate", steps="3", delay_ms="0").status == 303
    [job] = group.jobs(auth.group)
    assert (job["name"], job["handler"]) == ("Simulate 3 steps", "/result/simulate")
    info = wait(job["id"], timeout=30)
    assert (info["status"], info["progress"], info["result"]["steps"]) == ("Success", 1, 3)
    page = auth.get(f"/result/simulate/{job['id']}")
    assert page.status == 200
    shown = re.search(r'id="job-result"[^>]*>(.*?)</p>', page.text, re.S)
    assert shown and html.unescape(shown.group(1)).startswith("3 steps, final energy 0.")


def test_simulate_waits_250_ms_a_step_unless_told(auth):
    api = Api(auth.base_url, token=make_token(auth)[0])
    made = api.post("/api/jobs", {"kind": "simulate", "steps": 2, "delay_ms": None})
    assert made.status == 201, made.text
    assert made.json["job"]["name"] == "Simulate 2 steps"
    info = wait(made.json["id"], timeout=30)
    assert info["status"] == "Success"
    ran = parse_date(info["date_end"]) - parse_date(info["date_start"])
    assert ran >= timedelta(milliseconds=2 * samples.DELAY_DEFAULT) > timedelta(0)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"steps": ""}, "steps", "Steps is required."),
        ({"steps": "0"}, "steps", "Steps must be from 1 to 500 (you asked for 0)."),
        ({"steps": "501"}, "steps", "Steps must be from 1 to 500 (you asked for 501)."),
        ({"steps": "many"}, "steps", "Steps must be a whole number from 1 to 500."),
        (
            {"steps": "5", "delay_ms": "1001"},
            "delay_ms",
            "Delay in ms must be from 0 to 1,000 (you asked for 1,001).",
        ),
        (
            {"steps": "5", "delay_ms": "-1"},
            "delay_ms",
            "Delay in ms must be from 0 to 1,000 (you asked for -1).",
        ),
    ],
)
def test_simulate_fields_are_checked_by_the_form_and_the_api(auth, r, fields, field, message):
    form = auth.post("/jobs/simulate", **fields)
    assert form.status == 400
    assert error_message(form.text, "simulate-error") == message
    answer = Api(auth.base_url, browser=auth).post("/api/jobs", {"kind": "simulate", **fields})
    assert answer.status == 400
    assert answer.json == {"error": message, "fields": {field: message}}
    assert r.keys("*:jobs") == []


def test_what_the_samples_print_on_an_engine_is_their_output(auth):
    api = Api(auth.base_url, token=make_token(auth)[0])
    simulated = api.post("/api/jobs", {"kind": "simulate", "steps": 6, "delay_ms": 0}).json["id"]
    failed = api.post("/api/jobs", {"kind": "fail", "message": "out of <b>coffee</b>"}).json["id"]
    assert wait(simulated, timeout=30)["status"] == "Success"
    assert wait(failed, timeout=30)["status"] == "Failed"

    def lines(job_id: str) -> list[tuple[str, str]]:
        page = api.get(f"/api/jobs/{job_id}/output").json
        assert page["next"] == page["total"] == len(page["lines"])
        return [(stream, text) for _, stream, _, text in page["lines"] if stream != "moi"]

    simulation = lines(simulated)
    assert [text.split(":")[0] for stream, text in simulation if stream == "stdout"] == [
        *(f"step {n}/6" for n in range(1, 7)),
        "done",
    ]
    assert [text.split(":")[1] for stream, text in simulation if stream == "stderr"] == [" step 5"]
    assert [text for stream, text in simulation if stream == "log"] == [
        "WARNING app.jobs: half way, at step 3 of 6: tolerance tightened"
    ]
    failure = lines(failed)
    assert failure[:2] == [
        ("stdout", "Checking the input…"),
        ("stderr", "Giving up: out of <b>coffee</b>"),
    ]
