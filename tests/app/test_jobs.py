"""The index page and its job forms: each submits its job, or nothing and a message."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from app.templating import parse_date
from moi import group
from moi.job import wait
from tests.app.conftest import error_message


def submitted(client) -> list[dict]:
    """The jobs of the account ``client`` signed in to."""
    return group.jobs(client.group)


def test_index_has_every_form_and_the_live_list(auth):
    page = auth.get("/")
    assert page.status == 200
    for form in ("hello", "countdown", "pi", "batch", "fail"):
        assert f'id="{form}-form"' in page.text
        assert f'id="{form}-submit"' in page.text
    assert '<div id="moi-joblist"' in page.text
    assert 'id="moi-state"' in page.text
    assert "/moi-static/moi.js?v=" in page.text
    assert "/moi-static/moi_list.js?v=" in page.text


def test_moi_scripts_are_served(auth):
    for name in ("moi.js", "moi_list.js"):
        response = auth.get(f"/moi-static/{name}")
        assert response.status == 200
        assert "moi" in response.text


@pytest.mark.parametrize(
    ("form", "fields", "name", "status", "check"),
    [
        ("hello", {"name": "Ann"}, "Hello Ann", "Success", lambda r: r == "Hello, Ann!"),
        (
            "countdown",
            {"seconds": "1"},
            "Countdown from 1 s",
            "Success",
            lambda r: r == "Counted down from 1.",
        ),
        (
            "fail",
            {"message": "on purpose"},
            "Fail on purpose",
            "Failed",
            lambda r: "Traceback" in r and "DemoFailure: on purpose" in r,
        ),
        (
            "fail",
            {"message": ""},
            "Fail on purpose",
            "Failed",
            lambda r: "DemoFailure: This job failed on purpose." in r,
        ),
        (
            "pi",
            {"samples": "1,000"},
            "Pi from 1,000 samples",
            "Success",
            lambda r: r["samples"] == 1000 and abs(r["estimate"] - math.pi) < 0.5,
        ),
    ],
)
def test_each_form_runs_its_job_to_the_end(auth, form, fields, name, status, check):
    response = auth.post(f"/jobs/{form}", **fields)
    assert response.status == 303
    assert response.location == "/"
    [job] = submitted(auth)
    assert job["name"] == name
    assert job["handler"] == f"/result/{form}"
    info = wait(job["id"], timeout=30)
    assert info["status"] == status
    assert check(info["result"])


def test_countdown_takes_its_time_and_ends_at_full_progress(auth):
    auth.post("/jobs/countdown", seconds="2")
    [job] = submitted(auth)
    info = wait(job["id"], timeout=30)
    assert info["status"] == "Success"
    assert info["progress"] == 1.0
    assert parse_date(info["date_end"]) - parse_date(info["date_start"]) >= timedelta(seconds=2)


def test_pi_result_carries_the_pictures_data(auth):
    auth.post("/jobs/pi", samples="2000")
    [job] = submitted(auth)
    result = wait(job["id"], timeout=30)["result"]
    assert result["inside"] <= 2000
    assert len(result["points"]) == 500
    assert result["convergence"][0][0] == 1
    assert result["convergence"][-1][0] == 2000


def test_batch_submits_k_hello_jobs(auth):
    response = auth.post("/jobs/batch", count="3")
    assert response.status == 303
    jobs = submitted(auth)
    assert sorted(job["name"] for job in jobs) == [f"Hello batch {i} of 3" for i in (1, 2, 3)]
    for job in jobs:
        assert job["handler"] == "/result/hello"
        info = wait(job["id"], timeout=30)
        assert info["status"] == "Success"
        assert info["result"].startswith("Hello, batch ")


def test_jobs_belong_to_the_user_who_submitted_them(auth, other):
    auth.post("/jobs/hello", name="Ann")
    other.post("/jobs/hello", name="Bob")
    assert [job["name"] for job in submitted(auth)] == ["Hello Ann"]
    assert [job["name"] for job in submitted(other)] == ["Hello Bob"]


@pytest.mark.parametrize(
    ("form", "fields", "message"),
    [
        ("hello", {"name": ""}, "Name is required."),
        ("hello", {"name": "   "}, "Name is required."),
        ("hello", {}, "Name is required."),
        ("hello", {"name": "x" * 101}, "Name is at most 100 characters long (this one has 101)."),
        ("hello", {"name": "two\nlines"}, "Name must be plain text on one line."),
        ("countdown", {"seconds": ""}, "Seconds is required."),
        ("countdown", {"seconds": "ten"}, "Seconds must be a whole number from 1 to 60."),
        ("countdown", {"seconds": "1.5"}, "Seconds must be a whole number from 1 to 60."),
        ("countdown", {"seconds": "0"}, "Seconds must be from 1 to 60 (you asked for 0)."),
        ("countdown", {"seconds": "61"}, "Seconds must be from 1 to 60 (you asked for 61)."),
        ("countdown", {"seconds": "-5"}, "Seconds must be from 1 to 60 (you asked for -5)."),
        ("pi", {"samples": ""}, "Samples is required."),
        ("pi", {"samples": "lots"}, "Samples must be a whole number from 100 to 2,000,000."),
        ("pi", {"samples": "1e6"}, "Samples must be a whole number from 100 to 2,000,000."),
        ("pi", {"samples": "99"}, "Samples must be from 100 to 2,000,000 (you asked for 99)."),
        (
            "pi",
            {"samples": "2000001"},
            "Samples must be from 100 to 2,000,000 (you asked for 2,000,001).",
        ),
        ("pi", {"samples": "9" * 40}, "Samples must be from 100 to 2,000,000."),
        ("batch", {"count": ""}, "Number of jobs is required."),
        ("batch", {"count": "many"}, "Number of jobs must be a whole number from 1 to 100."),
        ("batch", {"count": "0"}, "Number of jobs must be from 1 to 100 (you asked for 0)."),
        ("batch", {"count": "101"}, "Number of jobs must be from 1 to 100 (you asked for 101)."),
        (
            "fail",
            {"message": "x" * 201},
            "Message is at most 200 characters long (this one has 201).",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_submitted(auth, r, form, fields, message):
    response = auth.post(f"/jobs/{form}", **fields)
    assert response.status == 400
    assert error_message(response.text, f"{form}-error") == message
    assert r.keys("*:jobs") == []
    assert f'id="{form}-form" class="card job-form has-error"' in response.text


def test_a_refused_form_keeps_what_was_typed_escaped(auth):
    response = auth.post("/jobs/countdown", seconds='"><script>x</script>')
    assert response.status == 400
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in response.text
    assert "<script>x</script>" not in response.text
