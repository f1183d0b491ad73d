"""``GET /api/jobs/<id>/output``: a page of what the job printed, for its owner only.

The output is made as an engine stores it (:meth:`moi.output.Output.append`), on jobs
stored as an engine leaves them, so nothing waits on the cluster.
"""

from __future__ import annotations

import pytest

from app.keys import USERS_KEY
from moi import record
from moi.output import Output, fragment
from tests.app.apiclient import Api, make_token
from tests.app.conftest import group_of
from tests.conftest import store_infos

T = 1_764_524_567_301
UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"


@pytest.fixture(params=["token", "cookie"])
def api(request, server, auth) -> Api:
    """alice's API access, once with a token and once with her browser's session."""
    if request.param == "token":
        return Api(server.url, token=make_token(auth)[0])
    return Api(server.url, browser=auth)


def stored_job(r, user: str, status: str = "Running") -> str:
    """A job of ``user``'s (an account's, or else a group of that name), stored as its
    engine would leave it (nothing runs it)."""
    group = group_of(r, user) if r.hexists(USERS_KEY, user) else user
    info = record.new_info(group, "printer", None)
    info.update(status=status, attempt=1)
    store_infos(r, [info])
    return info["id"]


def printed(r, job_id: str, count: int, cap: int = 0) -> list[list]:
    """``count`` lines appended to the job's output; the arrays they are stored as."""
    lines = [("stderr" if n % 3 == 2 else "stdout", f"step {n}: <b>x</b>") for n in range(count)]
    fragments = [fragment(stream, T, text) for stream, text in lines]
    assert Output(r).append(job_id, 1, fragments, 3600, cap) == count
    return [[n, stream, T, text] for n, (stream, text) in enumerate(lines)]


def test_a_job_that_printed_nothing_has_an_empty_page(api, r):
    job_id = stored_job(r, "alice", status="Queued")
    answer = api.get(f"/api/jobs/{job_id}/output")
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json == {
        "id": job_id,
        "status": "Queued",
        "lines": [],
        "total": 0,
        "next": 0,
        "dropped": None,
    }


def test_the_lines_come_a_page_at_a_time(api, r):
    job_id = stored_job(r, "alice")
    lines = printed(r, job_id, 7)
    everything = api.get(f"/api/jobs/{job_id}/output").json
    assert (everything["lines"], everything["total"], everything["next"]) == (lines, 7, 7)
    assert everything["status"] == "Running"
    page = api.get(f"/api/jobs/{job_id}/output?since=2&limit=3").json
    assert (page["lines"], page["total"], page["next"]) == (lines[2:5], 7, 5)
    last = api.get(f"/api/jobs/{job_id}/output?since={page['next']}").json
    assert (last["lines"], last["next"]) == (lines[5:], 7)
    beyond = api.get(f"/api/jobs/{job_id}/output?since=100").json
    assert (beyond["lines"], beyond["next"]) == ([], 7)


def test_a_page_says_which_lines_were_not_kept(api, r):
    job_id = stored_job(r, "alice", status="Success")
    lines = printed(r, job_id, 100, cap=1500)
    page = api.get(f"/api/jobs/{job_id}/output").json
    dropped = page["dropped"]
    assert dropped is not None and dropped["bytes"] > 0
    assert page["lines"] == lines[: dropped["from"]] + lines[dropped["to"] :]
    inside = api.get(f"/api/jobs/{job_id}/output?since={dropped['from'] + 1}&limit=1").json
    assert inside["lines"] == [lines[dropped["to"]]]  # the read goes on past the range
    assert inside["next"] == dropped["to"] + 1


def test_the_most_lines_a_page_holds_is_5000(api, r):
    job_id = stored_job(r, "alice")
    printed(r, job_id, 5001)
    page = api.get(f"/api/jobs/{job_id}/output").json
    assert (len(page["lines"]), page["next"], page["total"]) == (5000, 5000, 5001)
    assert len(api.get(f"/api/jobs/{job_id}/output?limit=5000&since=1").json["lines"]) == 5000


SINCE = "since must be a whole number from 0 to 1000000000."
LIMIT = "limit must be a whole number from 1 to 5000."


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("since=-1", {"since": SINCE}),
        ("since=ten", {"since": SINCE}),
        ("since=1.5", {"since": SINCE}),
        ("since=1000000001", {"since": SINCE}),
        ("limit=0", {"limit": LIMIT}),
        ("limit=5001", {"limit": LIMIT}),
        ("limit=", {"limit": LIMIT}),
        ("since=x&limit=y", {"since": SINCE, "limit": LIMIT}),
    ],
)
def test_bad_paging_is_refused_naming_the_parameter(api, r, query, fields):
    job_id = stored_job(r, "alice")
    answer = api.get(f"/api/jobs/{job_id}/output?{query}")
    assert answer.status == 400
    assert answer.json == {"error": "Bad paging parameters.", "fields": fields}


def test_another_users_job_is_a_404_as_an_unknown_one(api, other, r):
    bobs = stored_job(r, "bob")
    printed(r, bobs, 3)
    for job_id in (bobs, UNKNOWN_JOB, "not-a-job-id", "alice:jobs"):
        answer = api.get(f"/api/jobs/{job_id}/output")
        assert answer.status == 404, job_id
        assert answer.json == {"error": "No such job."}
    assert Api(other.base_url, browser=other).get(f"/api/jobs/{bobs}/output").json["total"] == 3


def test_nobody_gets_a_401(server, r):
    job_id = stored_job(r, "nobody")
    printed(r, job_id, 1)
    answer = Api(server.url).get(f"/api/jobs/{job_id}/output")
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "step" not in answer.text
