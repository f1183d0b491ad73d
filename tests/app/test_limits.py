"""Request size limits: refused before the body is read, and nothing of a flood echoed back."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from app.handlers.auth import SIGN_IN_MAX_BODY
from app.handlers.jobs import JOB_FORM_MAX_BODY


def declared_only(url: str, path: str, length: int, cookie: str = "") -> int:
    """POST headers declaring ``length`` bytes, and 1 KiB of them: the status answered."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(length))
        if cookie:
            connection.putheader("Cookie", cookie)
        connection.endheaders(b"username=" + b"a" * 1024)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "limit"), [("/login", SIGN_IN_MAX_BODY), ("/jobs/hello", JOB_FORM_MAX_BODY)]
)
def test_a_body_over_the_limit_is_refused_before_it_is_read(auth, path, limit):
    cookie = "; ".join(f"{c.name}={c.value}" for c in auth.jar)
    # 95 MB declared, 1 KiB sent: refused at once, the rest never waited for.
    assert declared_only(auth.base_url, path, 95 * 1024 * 1024, cookie) == 400
    assert declared_only(auth.base_url, path, limit + 1, cookie) == 400
    assert auth.get("/").status == 200  # the server is fine


def test_a_long_username_is_refused_and_not_echoed(client):
    flood = "b" * 2000
    response = client.post("/login", username=flood, password="long enough password")
    assert response.status == 400
    assert "this one has 2000" in response.text
    assert flood not in response.text


def test_a_long_job_field_is_refused_and_not_echoed(auth, r):
    flood = "c" * 5000
    response = auth.post("/jobs/hello", name=flood)
    assert response.status == 400
    assert flood not in response.text
    assert r.keys("*:jobs") == []


def test_forms_within_the_limit_still_work(auth):
    body = urllib.parse.urlencode({"name": "d" * 100})
    assert len(body) < JOB_FORM_MAX_BODY
    assert auth.post("/jobs/hello", name="d" * 100).status == 303
