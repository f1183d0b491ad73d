"""moi's job page at /jobs/<id> (moi.jobpage, mounted by app.handlers.jobpage): the job
as text, its output to download and to page through, and the same 404 for strangers."""

from __future__ import annotations

import html
import json
import re
import time
from urllib.parse import quote

import pytest

from moi import record
from moi.job import submit, submit_nouser, wait
from moi.output import Output, fragment
from tests import jobs as test_jobs
from tests.conftest import store_infos

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"
"""A job ID no test stores."""
EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def text_of(page: str, element_id: str) -> str:
    """The text of the element ``element_id``, tags taken out, unescaped."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:dd|h1|span|pre|p)>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return html.unescape(re.sub(r"<[^>]*>", "", found.group(1))).strip()


def ended(group: str, func, *args, name: str = "a job") -> dict:
    """A job of ``group`` (with no page of its own, as the command line makes them), ended."""
    return wait(submit(group, name, None, func, *args), timeout=30)


def printed(r, job: dict, *lines: tuple[str, str], cap: int = 0) -> None:
    """Store ``lines`` (stream, text) as the job's output, as its engine would."""
    now = int(time.time() * 1000)
    fragments = [fragment(stream, now, text) for stream, text in lines]
    stored = Output(r).append(job["id"], job.get("attempt", 1), fragments, 3600, cap)
    assert stored == len(lines)


def test_own_job_page_shows_the_job_as_text(auth, r):
    job = ended(auth.group, test_jobs.returns, {"answer": 42, "tag": EVIL}, name=EVIL)
    page = auth.get(f"/jobs/{job['id']}")
    assert page.status == 200, page.text
    assert text_of(page.text, "moi-job-name") == EVIL
    assert text_of(page.text, "moi-job-status") == "Success"
    assert json.loads(text_of(page.text, "moi-job-result")) == {"answer": 42, "tag": EVIL}
    for fact in ("moi-job-created", "moi-job-started", "moi-job-ended"):
        assert text_of(page.text, fact).endswith(" UTC"), fact
    assert text_of(page.text, "moi-job-attempt") == "1 of 1"
    assert text_of(page.text, "moi-job-id") == job["id"]
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text
    # The pane reads an ended job's output over HTTP: no socket, so no moi.js.
    assert f'data-moi-pages="/jobs/{job["id"]}/output.json"' in page.text
    assert "moi_output.js" in page.text and "/moi.js" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_failed_job_page_shows_the_traceback_and_its_last_line(auth, r):
    job = ended(auth.group, test_jobs.raises, "<b>broken</b>")
    page = auth.get(f"/jobs/{job['id']}").text
    assert text_of(page, "moi-job-status") == "Failed"
    assert text_of(page, "moi-job-reason") == "ValueError: <b>broken</b>"
    traceback = text_of(page, "moi-job-traceback")
    assert traceback.startswith("Traceback") and "ValueError: <b>broken</b>" in traceback
    assert "<b>broken</b>" not in page


def test_a_running_job_page_follows_it_live(auth, r):
    info = record.new_info(auth.group, "runs", None)  # stored, in no queue: nothing runs it
    info.update(status="Running", date_start=record.now())
    store_infos(r, [info])
    page = auth.get(f"/jobs/{info['id']}").text
    assert text_of(page, "moi-job-status") == "Running"
    assert text_of(page, "moi-job-ended") == "—"
    assert 'data-moi-final="false"' in page
    assert "/moi.js" in page and "moi_jobpage.js" in page
    assert not re.search(r'id="moi-job-outcome"[^>]*>\s*<h2', page)  # no result yet


def test_another_users_job_and_an_unknown_job_are_the_same_404(auth, other, r):
    theirs = ended(other.group, test_jobs.returns, 1)
    for path in (
        f"/jobs/{theirs['id']}",
        f"/jobs/{theirs['id']}/output.txt",
        f"/jobs/{theirs['id']}/output.json",
        f"/jobs/{UNKNOWN_JOB}",
        f"/jobs/{UNKNOWN_JOB}/output.txt",
    ):
        response = auth.get(path)
        assert response.status == 404, path
        assert theirs["id"] not in response.text
    assert other.get(f"/jobs/{theirs['id']}").status == 200


def test_a_job_of_no_user_has_no_page_for_anyone(auth, r):
    job_id = submit_nouser(test_jobs.returns, 1)
    wait(job_id, timeout=30)
    assert auth.get(f"/jobs/{job_id}").status == 404


@pytest.mark.parametrize("suffix", ["", "/output.txt", "/output.json"])
def test_not_signed_in_goes_to_the_sign_in_page(client, r, suffix):
    path = f"/jobs/{UNKNOWN_JOB}{suffix}"
    response = client.get(path)
    assert response.status == 302
    assert response.location == f"/login?next={quote(path, safe='')}"


def test_download_has_all_the_output_as_text(auth, r):
    job = ended(auth.group, test_jobs.returns, 1)
    printed(r, job, ("stdout", "first"), ("stderr", "warning: <b>"), ("log", "logged é"))
    response = auth.get(f"/jobs/{job['id']}/output.txt")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="job-{job["id"]}.txt"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.text == "first\nwarning: <b>\nlogged é\n"


def test_download_of_a_job_that_printed_nothing_is_empty(auth, r):
    job = ended(auth.group, test_jobs.returns, 1)
    response = auth.get(f"/jobs/{job['id']}/output.txt")
    assert response.status == 200 and response.text == ""


def test_download_pages_through_long_output_and_notes_what_was_not_kept(auth, r):
    job = ended(auth.group, test_jobs.returns, 1)
    lines = [("stdout", f"line {i:05}") for i in range(12000)]
    for start in range(0, len(lines), 2000):
        printed(r, job, *lines[start : start + 2000], cap=200_000)
    text = auth.get(f"/jobs/{job['id']}/output.txt").text.splitlines()
    assert text[0] == "line 00000" and text[-1] == "line 11999"
    [note] = [line for line in text if "not kept" in line]
    gap = int(re.search(r"… ([\d,]+) lines", note).group(1).replace(",", ""))
    assert len(text) - 1 + gap == 12000
    numbers = [int(line.split()[1]) for line in text if line.startswith("line ")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_output_json_is_one_page_from_since(auth, r):
    job = ended(auth.group, test_jobs.returns, 1)
    printed(r, job, *[("stdout", f"l{i}") for i in range(5)])
    page = json.loads(auth.get(f"/jobs/{job['id']}/output.json?since=3").text)
    assert [line[0] for line in page["lines"]] == [3, 4]
    assert [line[3] for line in page["lines"]] == ["l3", "l4"]
    assert page["total"] == 5 and page["next"] == 5 and page["final"] is True
    assert auth.get(f"/jobs/{job['id']}/output.json?since=-1").status == 400
