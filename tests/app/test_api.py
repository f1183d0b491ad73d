"""The JSON API: each endpoint with a token and with the session cookie, and who may do what."""

from __future__ import annotations

import hashlib
import http.client
import json
import uuid

import pytest

from app.handlers.apibase import API_MAX_BODY
from app.tokens import TOKENS_MAX
from moi import keys
from moi.exceptions import ClusterError
from moi.job import wait
from tests.app.apiclient import Api, make_token
from tests.app.conftest import Client, error_message, group_of

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"
"""A job ID no test stores (fixed, so every test run collects the same tests)."""


@pytest.fixture
def token(auth) -> str:
    """An API token of alice's, made on her account page."""
    return make_token(auth)[0]


@pytest.fixture(params=["token", "cookie"])
def api(request, server, auth) -> Api:
    """alice's API access, once with a token and once with her browser's session."""
    if request.param == "token":
        return Api(server.url, token=make_token(auth)[0])
    return Api(server.url, browser=auth)


@pytest.fixture
def bob_api(server, other) -> Api:
    return Api(server.url, token=make_token(other)[0])


def alices_jobs(r) -> str:
    """The key of alice's job set: her account's group's."""
    return keys.group_jobs_key(group_of(r, "alice"))


def submit(api: Api, kind: str = "hello", **fields) -> dict:
    answer = api.post("/api/jobs", {"kind": kind, **fields})
    assert answer.status == 201, answer.text
    return answer.json


# -- jobs ----------------------------------------------------------------------------------


def test_submit_answers_the_job_its_page_and_where_to_find_it(api, server, r):
    made = submit(api, name="Ann")
    job_id = made["id"]
    assert made["job"]["id"] == job_id
    assert made["job"]["name"] == "Hello Ann"
    assert made["job"]["group"] == group_of(r, "alice") != "alice"
    assert made["url"] == f"{server.url}/result/hello/{job_id}"
    assert wait(job_id, timeout=30)["result"] == "Hello, Ann!"
    one = api.get(f"/api/jobs/{job_id}")
    assert one.status == 200
    assert one.json["status"] == "Success"
    assert one.json["result"] == "Hello, Ann!"
    assert one.headers["Cache-Control"] == "no-store"


def test_the_location_of_a_new_job_is_its_api_address(api):
    answer = api.post("/api/jobs", {"kind": "countdown", "seconds": 1})
    assert answer.status == 201
    assert answer.headers["Location"] == f"/api/jobs/{answer.json['id']}"


def test_a_batch_answers_every_job(api):
    made = submit(api, "batch", count=3)
    assert [job["job"]["name"] for job in made["jobs"]] == [
        f"Hello batch {number} of 3" for number in (1, 2, 3)
    ]
    assert all(job["url"].endswith(f"/result/hello/{job['id']}") for job in made["jobs"])


def test_list_my_jobs_newest_first(api):
    assert api.get("/api/jobs").json == {"jobs": [], "total": 0, "limit": 50, "offset": 0}
    first = submit(api, name="first")["id"]
    second = submit(api, name="second")["id"]
    listed = api.get("/api/jobs")
    assert listed.status == 200
    assert [job["id"] for job in listed.json["jobs"]] == [second, first]
    assert listed.json["total"] == 2


def test_cancel_a_running_job_then_once_more(api, r):
    job_id = submit(api, "countdown", seconds=30)["id"]
    answer = api.post(f"/api/jobs/{job_id}/cancel")
    assert answer.status == 200, answer.text
    assert answer.json["id"] == job_id
    assert answer.json["cancelled"] is True
    assert answer.json["job"]["status"] == "Cancelled"
    again = api.post(f"/api/jobs/{job_id}/cancel")
    assert again.status == 200
    assert again.json["cancelled"] is False


def test_delete_hides_the_job_from_my_list(api, r):
    job_id = submit(api, name="Ann")["id"]
    answer = api.delete(f"/api/jobs/{job_id}")
    assert answer.status == 204
    assert answer.text == ""
    assert answer.headers["Cache-Control"] == "no-store"
    assert api.get("/api/jobs").json["total"] == 0
    assert r.smembers(alices_jobs(r)) == set()
    assert api.get(f"/api/jobs/{job_id}").status == 200  # hidden, still hers


def test_paging(api):
    made = submit(api, "batch", count=7)["jobs"]
    newest_first = [
        job["id"] for job in sorted(made, key=lambda job: job["job"]["date_created"], reverse=True)
    ]
    everything = api.get("/api/jobs").json
    assert [job["id"] for job in everything["jobs"]] == newest_first
    page = api.get("/api/jobs?limit=3&offset=0").json
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 0)
    assert [job["id"] for job in page["jobs"]] == newest_first[:3]
    page = api.get("/api/jobs?limit=3&offset=6").json
    assert [job["id"] for job in page["jobs"]] == newest_first[6:]
    assert api.get("/api/jobs?offset=7").json["jobs"] == []
    assert api.get("/api/jobs?limit=0").json == {"jobs": [], "total": 7, "limit": 0, "offset": 0}
    assert len(api.get("/api/jobs?limit=500").json["jobs"]) == 7


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=501", {"limit": "limit must be a whole number from 0 to 500."}),
        ("limit=ten", {"limit": "limit must be a whole number from 0 to 500."}),
        ("limit=-1", {"limit": "limit must be a whole number from 0 to 500."}),
        ("offset=-1", {"offset": "offset must be a whole number from 0 to 1000000000."}),
        (
            "limit=1.5&offset=x",
            {
                "limit": "limit must be a whole number from 0 to 500.",
                "offset": "offset must be a whole number from 0 to 1000000000.",
            },
        ),
    ],
)
def test_bad_paging_is_refused_naming_the_parameter(api, query, fields):
    answer = api.get(f"/api/jobs?{query}")
    assert answer.status == 400
    assert answer.json["fields"] == fields
    assert answer.json["error"]


def test_status_filter(api, r):
    hello = submit(api, name="Ann")["id"]
    failing = submit(api, "fail", message="on purpose")["id"]
    assert wait(hello, timeout=30)["status"] == "Success"
    assert wait(failing, timeout=30)["status"] == "Failed"
    running = submit(api, "countdown", seconds=30)["id"]

    def ids(query: str) -> list[str]:
        found = api.get(f"/api/jobs?{query}").json
        assert found["total"] == len(found["jobs"])
        return [job["id"] for job in found["jobs"]]

    assert ids("status=Success") == [hello]
    assert ids("status=success") == [hello]  # whatever the case
    assert ids("status=Failed") == [failing]
    assert ids("status=active") == [running]
    assert ids("status=final") == [failing, hello]
    assert ids("status=Success&status=Failed") == [failing, hello]
    assert ids("status=Cancelled") == []
    assert ids("status=") == [running, failing, hello]  # empty: no filter
    assert api.post(f"/api/jobs/{running}/cancel").json["cancelled"] is True
    assert ids("status=Cancelled") == [running]
    assert ids("status=active") == []


# -- submitting: the forms' checks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("hello", "name", ""),
        ("hello", "name", "   "),
        ("hello", "name", "x" * 101),
        ("hello", "name", "two\nlines"),
        ("countdown", "seconds", "ten"),
        ("countdown", "seconds", "1.5"),
        ("countdown", "seconds", "0"),
        ("countdown", "seconds", "61"),
        ("pi", "samples", "99"),
        ("pi", "samples", "1e6"),
        ("pi", "samples", "9" * 40),
        ("batch", "count", "101"),
        ("fail", "message", "x" * 201),
    ],
)
def test_a_bad_field_is_refused_as_the_form_refuses_it(api, auth, r, kind, field, value):
    answer = api.post("/api/jobs", {"kind": kind, field: value})
    assert answer.status == 400
    form = auth.post(f"/jobs/{kind}", **{field: value})
    assert form.status == 400
    message = error_message(form.text, f"{kind}-error")
    assert answer.json == {"error": message, "fields": {field: message}}
    assert r.scard(alices_jobs(r)) == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "hello"}, {"name": "Name is required."}),
        (
            {"kind": "countdown", "seconds": 0},
            {"seconds": "Seconds must be from 1 to 60 (you asked for 0)."},
        ),
        (
            {"kind": "countdown", "seconds": 1.5},
            {"seconds": "Seconds must be a whole number from 1 to 60."},
        ),
        ({"kind": "countdown", "seconds": True}, {"seconds": "must be text or a number"}),
        ({"kind": "hello", "name": ["Ann"]}, {"name": "must be text or a number"}),
        (
            {"kind": "hello", "name": "Ann", "nmae": "Ann"},
            {"nmae": "unknown field (a hello job takes: name)"},
        ),
        ({"kind": "launch"}, {"kind": "unknown kind"}),
        ({"kind": 5}, {"kind": "unknown kind"}),
        ({"name": "Ann"}, {"kind": "required"}),
    ],
)
def test_a_bad_body_names_each_bad_field(api, r, body, fields):
    answer = api.post("/api/jobs", body)
    assert answer.status == 400
    assert answer.json["fields"] == fields
    assert answer.json["error"]
    assert r.scard(alices_jobs(r)) == 0


def test_numbers_may_be_sent_as_numbers_or_text(api):
    assert submit(api, "countdown", seconds=1)["job"]["name"] == "Countdown from 1 s"
    assert submit(api, "pi", samples="1,000")["job"]["name"] == "Pi from 1,000 samples"
    assert submit(api, "fail", message=None)["job"]["name"] == "Fail on purpose"


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe\xfa", "application/json", 400),
        (b'["hello"]', "application/json", 400),
        (b'"hello"', "application/json", 400),
        (b'{"kind": "hello", "name": "Ann"}', "application/x-www-form-urlencoded", 415),
        (b'{"kind": "hello", "name": "Ann"}', "text/plain", 415),
    ],
)
def test_a_body_that_is_no_json_object_is_refused_as_json(api, r, raw, content_type, status):
    answer = api.post("/api/jobs", raw=raw, headers={"Content-Type": content_type})
    assert answer.status == status
    assert isinstance(answer.json["error"], str)
    assert r.scard(alices_jobs(r)) == 0


def test_json_with_a_charset_is_json(api):
    answer = api.post(
        "/api/jobs",
        raw=b'{"kind": "hello", "name": "Zo\xc3\xab"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status == 201
    assert answer.json["job"]["name"] == "Hello Zoë"


def test_a_body_over_the_limit_is_refused_before_it_is_read(server, token):
    def declared(length: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.putrequest("POST", "/api/jobs")
            connection.putheader("Authorization", f"Bearer {token}")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(length))
            connection.endheaders(b'{"kind": "hello", "name": "' + b"a" * 1024)
            return connection.getresponse().status
        finally:
            connection.close()

    assert declared(95 * 1024 * 1024) == 400
    assert declared(API_MAX_BODY + 1) == 400
    padded = json.dumps({"kind": "hello", "name": "Ann", "pad": " " * (API_MAX_BODY - 100)})
    # Under the limit, the body is read and checked: a field refused, not the size.
    answer = Api(server.url, token=token).post("/api/jobs", raw=padded.encode())
    assert answer.status == 400
    assert list(answer.json["fields"]) == ["pad"]


# -- who may ask ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", f"/api/jobs/{UNKNOWN_JOB}"),
        ("DELETE", f"/api/jobs/{UNKNOWN_JOB}"),
        ("POST", f"/api/jobs/{UNKNOWN_JOB}/cancel"),
        ("GET", "/api/tokens"),
        ("POST", "/api/tokens"),
        ("DELETE", "/api/tokens/0123456789abcdef"),
    ],
)
def test_nobody_gets_a_401_asking_for_a_bearer_token(server, r, method, path):
    answer = Api(server.url).call(method, path, {"kind": "hello", "name": "Ann"})
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in answer.json["error"]
    assert r.keys("*:jobs") == []


@pytest.mark.parametrize("header", ["Basic YWxpY2U6cGFzcw==", "Bearer", "Bearer ", "Token abc"])
def test_an_authorization_that_is_no_bearer_token_is_a_401(server, header):
    answer = Api(server.url).get("/api/jobs", headers={"Authorization": header})
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_a_401_even_with_a_good_session_cookie(server, auth):
    answer = Api(server.url, token="x" * 43, browser=auth).get("/api/jobs")
    assert answer.status == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert Api(server.url, browser=auth).get("/api/jobs").status == 200


def test_a_token_needs_no_xsrf_token(server, token, r):
    assert (
        Api(server.url, token=token).post("/api/jobs", {"kind": "hello", "name": "Ann"}).status
        == 201
    )


def test_a_cookie_write_without_the_xsrf_header_is_refused(server, auth, r):
    bare = Api(server.url, browser=auth, xsrf=False)
    job_id = submit(Api(server.url, browser=auth), "countdown", seconds=30)["id"]
    for method, path, body in [
        ("POST", "/api/jobs", {"kind": "hello", "name": "Ann"}),
        ("POST", f"/api/jobs/{job_id}/cancel", None),
        ("DELETE", f"/api/jobs/{job_id}", None),
        ("POST", "/api/tokens", {"name": "sneaky"}),
    ]:
        answer = bare.call(method, path, body)
        assert answer.status == 403, (method, path)
        assert "X-XSRFToken" in answer.json["error"]
    wrong = bare.call(
        "POST",
        "/api/jobs",
        {"kind": "hello", "name": "Ann"},
        headers={"X-XSRFToken": "2|abc|def|1"},
    )
    assert wrong.status == 403
    assert r.smembers(alices_jobs(r)) == {job_id}
    assert r.keys("moi-app:tokens:*") == []
    assert json.loads(r.get(job_id))["status"] != "Cancelled"
    assert bare.get("/api/jobs").status == 200  # reading needs none
    # Not left counting down on an engine into the next tests (a batch there waits on it).
    Api(server.url, browser=auth).post(f"/api/jobs/{job_id}/cancel")


def test_another_users_job_is_a_404_as_an_unknown_one(api, bob_api, r):
    bobs = submit(bob_api, "countdown", seconds=30)["id"]
    unknown = str(uuid.uuid4())
    for job_id in (bobs, unknown, "not-a-job-id", "alice:jobs"):
        for method, path in [
            ("GET", f"/api/jobs/{job_id}"),
            ("POST", f"/api/jobs/{job_id}/cancel"),
            ("DELETE", f"/api/jobs/{job_id}"),
        ]:
            answer = api.call(method, path)
            assert answer.status == 404, (method, path)
            assert answer.json == {"error": "No such job."}
    assert json.loads(r.get(bobs))["status"] != "Cancelled"
    assert r.smembers(keys.group_jobs_key(group_of(r, "bob"))) == {bobs}
    assert api.get("/api/jobs").json["total"] == 0
    # Not left counting down into the next tests: after their reset its engine's next
    # write would store the job again (an engine restores a record that expired).
    assert bob_api.post(f"/api/jobs/{bobs}/cancel").json["cancelled"] is True


def test_other_addresses_and_methods_answer_json(api):
    for path in ("/api", "/api/", "/api/nothing", "/api/jobs/a/b/c"):
        answer = api.get(path)
        assert answer.status == 404, path
        assert "error" in answer.json
    answer = api.call("PUT", "/api/jobs", {"kind": "hello"})
    assert answer.status == 405
    assert answer.json == {"error": "Method Not Allowed"}


# -- tokens --------------------------------------------------------------------------------


def test_the_account_page_needs_a_signed_in_user(client):
    answer = client.get("/account")
    assert answer.status == 302
    assert answer.location.startswith("/login?next=%2Faccount")


def test_a_token_is_shown_once_and_stored_only_hashed(server, auth, r):
    empty = auth.get("/account")
    assert empty.status == 200
    assert 'id="token-form"' in empty.text and 'id="token-list-empty"' in empty.text
    page = auth.post("/account/tokens", name="laptop")
    assert page.headers["Cache-Control"] == "no-store"
    token, token_id = make_token(auth, "phone")
    assert len(token) == 43
    everything = [
        f"{key}={value}"
        for key in r.scan_iter("moi-app:*")
        if r.type(key) in ("string", "hash")
        for value in ([r.get(key)] if r.type(key) == "string" else r.hgetall(key).items())
    ]
    assert all(token not in item for item in everything)
    token_digest = hashlib.sha256(token.encode()).hexdigest()
    record = json.loads(r.get(f"moi-app:token:{token_digest}"))
    assert record["user"] == "alice" and record["name"] == "phone" and record["id"] == token_id
    assert record["account_id"] == json.loads(r.hget("moi-app:users", "alice"))["id"]
    assert r.hget("moi-app:tokens:alice", token_id) == token_digest
    later = auth.get("/account").text
    assert token not in later
    assert later.count('class="token card"') == 2
    assert "laptop" in later and "phone" in later
    listed = Api(server.url, token=token).get("/api/tokens")
    assert token not in listed.text
    assert [item["name"] for item in listed.json["tokens"]] == ["laptop", "phone"]


def test_a_tokens_last_use_is_noted(server, auth):
    token, token_id = make_token(auth)
    assert 'class="token-used">never' in auth.get("/account").text
    [before] = Api(server.url, browser=auth).get("/api/tokens").json["tokens"]
    assert before["last_used"] is None
    assert Api(server.url, token=token).get("/api/jobs").status == 200
    [after] = Api(server.url, browser=auth).get("/api/tokens").json["tokens"]
    assert after["id"] == token_id and after["last_used"] is not None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "A token's name is required."),
        ("x" * 61, "A token's name is at most 60 characters long (this one has 61)."),
    ],
)
def test_a_bad_token_name_is_refused_on_the_page(auth, r, name, message):
    page = auth.post("/account/tokens", name=name)
    assert page.status == 400
    assert error_message(page.text, "token-error") == message
    assert r.keys("moi-app:token*") == []


def test_revoking_on_the_page_refuses_the_token_at_once(server, auth):
    token, token_id = make_token(auth)
    api = Api(server.url, token=token)
    assert api.get("/api/jobs").status == 200
    revoked = auth.post(f"/account/tokens/{token_id}/revoke")
    assert revoked.status == 303 and revoked.location == "/account?notice=revoked"
    refused = api.get("/api/jobs")
    assert refused.status == 401
    assert "revoked" in refused.json["error"]
    assert auth.post(f"/account/tokens/{token_id}/revoke").location == "/account?notice=gone"


def test_tokens_through_the_api(api, server, auth, r):
    made = Api(server.url, browser=auth).post("/api/tokens", {"name": "ci"})
    assert made.status == 201
    assert set(made.json) == {"id", "name", "created", "last_used", "expires", "token"}
    assert made.headers["Location"] == f"/api/tokens/{made.json['id']}"
    new = Api(server.url, token=made.json["token"])
    assert new.get("/api/jobs").status == 200
    assert made.json["id"] in [item["id"] for item in api.get("/api/tokens").json["tokens"]]
    assert api.delete(f"/api/tokens/{made.json['id']}").status == 204
    assert new.get("/api/jobs").status == 401
    assert api.delete(f"/api/tokens/{made.json['id']}").status == 404
    assert api.delete("/api/tokens/nonsense").status == 404


def test_a_token_cannot_make_tokens(server, token, r):
    answer = Api(server.url, token=token).post("/api/tokens", {"name": "more"})
    assert answer.status == 403
    assert r.hlen("moi-app:tokens:alice") == 1


@pytest.mark.parametrize(
    ("body", "field"), [({"name": ""}, "name"), ({"name": 5}, "name"), ({}, "name")]
)
def test_a_bad_token_name_is_refused_by_the_api(server, auth, body, field):
    answer = Api(server.url, browser=auth).post("/api/tokens", body)
    assert answer.status == 400
    assert list(answer.json["fields"]) == [field]


def test_a_user_cannot_revoke_anothers_token(server, auth, other):
    token, token_id = make_token(auth)
    assert Api(server.url, browser=other).delete(f"/api/tokens/{token_id}").status == 404
    assert other.post(f"/account/tokens/{token_id}/revoke").location == "/account?notice=gone"
    assert Api(server.url, token=token).get("/api/jobs").status == 200


def test_a_token_does_not_pass_to_a_remade_account_of_the_same_name(server, auth, r):
    token, _ = make_token(auth)
    r.hdel("moi-app:users", "alice")  # the account is gone (idle too long, say)
    assert Client(server.url).login("alice", "someone else entirely").status == 303
    assert Api(server.url, token=token).get("/api/jobs").status == 401
    assert r.keys("moi-app:token:*") == []  # and its records went with it


def test_a_token_of_a_removed_account_is_refused(server, auth, r):
    token, _ = make_token(auth)
    r.hdel("moi-app:users", "alice")
    assert Api(server.url, token=token).get("/api/jobs").status == 401


def test_an_account_holds_a_bounded_number_of_tokens(server, auth, r):
    for number in range(TOKENS_MAX):
        make_token(auth, f"token {number}")
    page = auth.post("/account/tokens", name="one too many")
    assert page.status == 400
    assert "revoke one" in error_message(page.text, "token-error")
    answer = Api(server.url, browser=auth).post("/api/tokens", {"name": "one too many"})
    assert answer.status == 400
    assert "revoke one" in answer.json["error"]
    assert "fields" not in answer.json, "no field is at fault: the name was fine"
    assert r.hlen("moi-app:tokens:alice") == TOKENS_MAX


# -- when the cluster is away or has no engines ---------------------------------------------


def test_a_cluster_that_cannot_be_reached_is_a_503_in_json(server, token, monkeypatch):
    async def unreachable(*args, **kwargs):
        raise ClusterError("the controller does not answer")

    monkeypatch.setattr(server.app.moi, "submit", unreachable)
    answer = Api(server.url, token=token).post("/api/jobs", {"kind": "hello", "name": "Ann"})
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "10"
    assert answer.json == {
        "error": "The compute cluster cannot be reached at the moment. Try again in a moment."
    }


def test_a_job_submitted_with_no_engine_running_says_it_waits(server, token, monkeypatch):
    async def no_engines():
        return 0

    monkeypatch.setattr(server.app.moi, "engines", no_engines)
    made = submit(Api(server.url, token=token), name="Ann")
    assert made["notice"].startswith("The cluster has no engines at the moment")
