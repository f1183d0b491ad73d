"""Result pages: what they show, escaped, live while running, and 404 for strangers."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from moi import group
from moi.job import submit, wait
from tests import jobs as test_jobs
from tests.app.conftest import wait_for_status

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"
"""A job ID no test stores (fixed, so every test run collects the same tests)."""


def run(client, form: str, **fields: str) -> dict:
    """Submit through the form, wait for the end; the final info object."""
    assert client.post(f"/jobs/{form}", **fields).status == 303
    [job] = [job for job in group.jobs(client.group) if job["handler"] == f"/result/{form}"][-1:]
    return wait(job["id"], timeout=30)


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id}"
    return html.unescape(found.group(1).strip())


def test_hello_page_shows_the_job(auth):
    info = run(auth, "hello", name="Ann")
    page = auth.get(f"/result/hello/{info['id']}")
    assert page.status == 200
    assert text_of(page.text, "job-name") == "Hello Ann"
    assert text_of(page.text, "job-status") == "Success"
    assert text_of(page.text, "job-result") == "Hello, Ann!"
    for fact in ("job-created", "job-started", "job-ended"):
        assert text_of(page.text, fact).endswith(" UTC")
    assert text_of(page.text, "job-duration").endswith(" s")
    assert 'data-final="true"' in page.text
    assert "moi.js" not in page.text  # a finished job's page needs no socket


def test_job_data_is_shown_as_text(auth):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    info = run(auth, "hello", name=evil)
    page = auth.get(f"/result/hello/{info['id']}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert text_of(page, "job-result") == f"Hello, {evil}!"
    assert "&lt;script&gt;" in page


def test_failed_job_shows_its_traceback(auth):
    info = run(auth, "fail", message="<b>broken</b>")
    page = auth.get(f"/result/fail/{info['id']}")
    assert page.status == 200
    assert text_of(page.text, "job-status") == "Failed"
    block = re.search(r'id="job-traceback"[^>]*>(.*?)</div>', page.text, re.S)
    assert block, "no #job-traceback"
    traceback = html.unescape(re.sub(r"<[^>]*>", "", block.group(1))).strip()
    assert traceback.startswith("Traceback")
    assert "app.jobs.DemoFailure: <b>broken</b>" in traceback
    assert "<b>broken</b>" not in page.text
    # moi's runner, which called the job, is folded away; the user's frame is in view.
    folded = re.findall(r'<details class="moi-frames">(.*?)</details>', block.group(1), re.S)
    assert len(folded) == 1 and "moi/jobprocess.py" in folded[0], block.group(1)
    shown = re.sub(r'<details class="moi-frames">.*?</details>', "", block.group(1), flags=re.S)
    shown = html.unescape(shown)
    assert "moi/jobprocess.py" not in shown and 'app/jobs.py", line' in shown, shown


def test_countdown_page_shows_its_result(auth):
    info = run(auth, "countdown", seconds="1")
    page = auth.get(f"/result/countdown/{info['id']}").text
    assert text_of(page, "job-result") == "Counted down from 1."


def test_pi_page_draws_the_points_and_the_convergence(auth):
    info = run(auth, "pi", samples="1000")
    page = auth.get(f"/result/pi/{info['id']}").text
    result = info["result"]
    assert text_of(page, "pi-estimate") == f"{result['estimate']:.6f}"
    assert text_of(page, "pi-samples") == "1,000"
    assert '<svg id="pi-scatter"' in page
    assert page.count('class="dot dot-in"') == sum(x * x + y * y <= 1 for x, y in result["points"])
    assert page.count('class="dot ') == 500
    assert re.search(r'<path class="estimate-line" d="M [\d. L]+"', page)


def test_running_job_shows_its_live_status(auth, r, settings):
    key = f"release-{uuid.uuid4()}"
    job_id = submit(
        auth.group,
        "Waiting job",
        "/result/hello",
        test_jobs.blocks_until_released,
        settings.redis_url,
        key,
    )
    try:
        wait_for_status(r, job_id, "Waiting")
        page = auth.get(f"/result/hello/{job_id}").text
        assert text_of(page, "job-status") == "Waiting"
        assert 'data-final="false"' in page
        assert 'id="job-progress"' in page
        assert 'id="moi-state"' in page
        assert "/moi-static/moi.js" in page and "/static/app.js" in page
        assert 'id="job-result"' not in page
    finally:
        r.rpush(key, "go")
    assert wait(job_id, timeout=30)["status"] == "Success"


def test_another_users_job_is_not_found(auth, other):
    info = run(auth, "hello", name="Ann")
    response = other.get(f"/result/hello/{info['id']}")
    assert response.status == 404
    assert 'id="error-page"' in response.text
    assert "Ann" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/result/hello/{UNKNOWN_JOB}",
        "/result/hello/not-a-job",
        "/result/hello/moi-app:users",
        "/result/hello/alice:jobs",
        f"/result/unknown/{UNKNOWN_JOB}",
    ],
)
def test_unknown_jobs_are_not_found(auth, path):
    response = auth.get(path)
    assert response.status == 404
    assert 'id="error-page"' in response.text
    assert 'data-status-code="404"' in response.text


def test_a_job_is_only_shown_on_its_own_page(auth):
    info = run(auth, "hello", name="Ann")
    assert auth.get(f"/result/pi/{info['id']}").status == 404


def test_an_uppercase_job_id_is_not_found(auth):
    info = run(auth, "hello", name="Ann")
    assert auth.get(f"/result/hello/{info['id'].upper()}").status == 404


def test_the_cancel_button_ends_a_running_job_cancelled(auth, r, settings):
    key = f"release-{uuid.uuid4()}"
    job_id = submit(
        auth.group,
        "Waiting job",
        "/result/hello",
        test_jobs.blocks_until_released,
        settings.redis_url,
        key,
    )
    page_url = f"/result/hello/{job_id}"
    try:
        wait_for_status(r, job_id, "Waiting")
        page = auth.get(page_url).text
        assert re.search(
            rf'<form id="job-cancel-form"[^>]* method="post" action="{page_url}/cancel"', page
        )
        response = auth.post(f"{page_url}/cancel")
        assert (response.status, response.location) == (303, page_url)
        page = auth.get(page_url).text
    finally:
        r.rpush(key, "go")
    assert text_of(page, "job-status") == "Cancelled"
    assert 'id="job-cancelled"' in page
    assert 'id="job-cancel-form"' not in page
    assert "alice" in text_of(page, "job-cancel-note")
    assert wait(job_id, timeout=30)["status"] == "Cancelled"


def test_cancelling_an_ended_job_changes_nothing_and_the_page_says_so(auth):
    info = run(auth, "hello", name="Ann")
    response = auth.post(f"/result/hello/{info['id']}/cancel")
    assert (response.status, response.location) == (303, f"/result/hello/{info['id']}?notice=ended")
    page = auth.get(response.location).text
    assert text_of(page, "notice") == "This job had already ended; nothing was cancelled."
    assert text_of(page, "job-status") == "Success"
    assert 'id="job-cancel-form"' not in page


def test_only_the_owner_cancels_on_the_jobs_own_page_by_post_with_the_xsrf_token(auth, other):
    info = run(auth, "hello", name="Ann")
    cancel = f"/result/hello/{info['id']}/cancel"
    assert other.post(cancel).status == 404
    assert auth.post(f"/result/pi/{info['id']}/cancel").status == 404
    assert auth.post(f"/result/hello/{uuid.uuid4()}/cancel").status == 404
    assert auth.post("/result/hello/not-a-job/cancel").status == 404
    assert auth.get(cancel).status == 405
    assert auth.post(cancel, xsrf=False).status == 403
