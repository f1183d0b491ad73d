"""Signing in, registering on first sign-in, signing out, and what needs a login."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
import urllib.request
import uuid

import pytest

from app.accounts import USERS_KEY
from tests.app.conftest import PASSWORD, Client, error_message, serving, stored_keys


def test_login_page_renders_the_form(client):
    page = client.get("/login")
    assert page.status == 200
    assert 'id="login-form"' in page.text
    assert 'name="_xsrf"' in page.text


def test_first_login_registers_with_a_salted_hash(client, r):
    response = client.login("Alice")
    assert response.status == 303
    assert response.location == "/"
    record = json.loads(r.hget(USERS_KEY, "alice"))
    assert record["kdf"] == "scrypt"
    assert PASSWORD not in json.dumps(record)
    assert client.cookie("user")
    index = client.get("/")
    assert index.status == 200
    assert 'id="current-user"' in index.text and ">alice<" in index.text


def test_same_password_gets_a_different_salt(client, r):
    assert client.login("alice").status == 303
    assert Client(client.base_url).login("bobby").status == 303
    alice, bobby = (json.loads(r.hget(USERS_KEY, name)) for name in ("alice", "bobby"))
    assert alice["salt"] != bobby["salt"]
    assert alice["hash"] != bobby["hash"]


def test_returning_user_logs_in_with_the_right_password(client):
    assert client.login("alice").status == 303
    again = Client(client.base_url)
    assert again.login("alice").status == 303
    assert again.get("/").status == 200


def test_wrong_password_is_refused_on_the_form(client):
    assert client.login("alice").status == 303
    stranger = Client(client.base_url)
    response = stranger.login("alice", "not the password")
    assert response.status == 400
    assert error_message(response.text, "login-error") == "Wrong password for alice."
    assert stranger.cookie("user") is None
    assert stranger.get("/").status == 302


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", PASSWORD, "Enter a username."),
        ("   ", PASSWORD, "Enter a username."),
        ("al", PASSWORD, "A username is 3 to 32 characters long (this one has 2)."),
        ("a" * 33, PASSWORD, "A username is 3 to 32 characters long (this one has 33)."),
        ("al ice", PASSWORD, "A username may only contain letters a-z, digits, '-' and '_'."),
        ("al:jobs", PASSWORD, "A username may only contain letters a-z, digits, '-' and '_'."),
        ("älice", PASSWORD, "A username may only contain letters a-z, digits, '-' and '_'."),
        ("<b>x</b>", PASSWORD, "A username may only contain letters a-z, digits, '-' and '_'."),
        ("1alice", PASSWORD, "A username starts with a letter."),
        ("_alice", PASSWORD, "A username starts with a letter."),
        ("no-user", PASSWORD, "The username 'no-user' is reserved; choose another."),
        ("alice", "", "Enter a password."),
        ("alice", "short", "Choose a password of at least 8 characters."),
        ("alice", "x" * 1025, "A password is at most 1024 characters long."),
        (
            "alice",
            "password",
            "This password is too easy to guess. This is a top-10 common password. "
            "Add another word or two. Uncommon words are better.",
        ),
        (
            "alice",
            "12345678",
            "This password is too easy to guess. This is a top-10 common password. "
            "Add another word or two. Uncommon words are better.",
        ),
        ("carolann", "carolann1", "This password is too easy to guess."),  # the name itself
    ],
)
def test_login_validation_messages(client, r, username, password, message):
    response = client.login(username, password)
    assert response.status == 400
    assert error_message(response.text, "login-error").startswith(message)
    assert not r.exists(USERS_KEY)
    assert client.cookie("user") is None


def test_failed_login_keeps_the_username_escaped(client):
    response = client.login("<b>x</b>")
    assert 'value="&lt;b&gt;x&lt;/b&gt;"' in response.text
    assert "<b>x</b>" not in response.text


def test_logout_clears_the_session(auth):
    page = auth.get("/logout")
    assert page.status == 200 and 'id="logout-page-form"' in page.text
    response = auth.post("/logout")
    assert response.status == 303
    assert response.location == "/login"
    assert auth.get("/").status == 302


def test_a_forged_cookie_is_not_a_login(client):
    client.get("/login")
    forged = Client(client.base_url)
    forged.opener.addheaders = [("Cookie", "user=alice")]
    assert forged.get("/").status == 302


def test_a_deleted_account_is_logged_out(auth, r):
    r.hdel(USERS_KEY, "alice")
    assert auth.get("/").status == 302


@pytest.mark.parametrize(
    "path",
    ["/", "/logout", f"/result/hello/{uuid.uuid4()}", f"/result/pi/{uuid.uuid4()}"],
)
def test_pages_redirect_to_login_when_logged_out(client, path):
    response = client.get(path)
    assert response.status == 302
    assert response.location.startswith("/login?next=")


@pytest.mark.parametrize("path", ["/jobs/hello", "/jobs/countdown", "/jobs/pi"])
def test_forms_refuse_posts_when_logged_out(client, r, path):
    response = client.post(path, name="x", seconds="1", samples="1000")
    assert response.status == 403
    assert stored_keys(r) == []


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"username": "alice", "password": PASSWORD}),
        ("/logout", {}),
        ("/jobs/hello", {"name": "Ann"}),
        ("/jobs/countdown", {"seconds": "1"}),
        ("/jobs/fail", {"message": "x"}),
        ("/jobs/pi", {"samples": "1000"}),
        ("/jobs/batch", {"count": "2"}),
    ],
)
def test_every_form_refuses_a_post_without_xsrf(auth, r, path, fields):
    before = stored_keys(r)
    response = auth.post(path, xsrf=False, **fields)
    assert response.status == 403
    assert 'id="error-page"' in response.text
    assert stored_keys(r) == before
    assert auth.get("/").status == 200  # still signed in: logout was refused too


def test_a_wrong_xsrf_token_is_refused(auth, r):
    response = auth.request("/jobs/hello", {"name": "Ann", "_xsrf": "2|00|00|00"})
    assert response.status == 403
    assert r.scard("alice:jobs") == 0


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/result/hello/abc?x=1", "/result/hello/abc?x=1"),
        ("/", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/\t/evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_only_leads_to_this_site(client, target, landing):
    response = client.login("alice", next=target)
    assert response.status == 303
    assert response.location == landing


def test_login_page_carries_next_through(client):
    redirect = client.get("/result/hello/x")
    page = client.get(redirect.location)
    assert 'name="next" value="/result/hello/x"' in page.text


def test_logged_in_user_visiting_login_goes_on(auth):
    response = auth.get("/login?next=/logout")
    assert response.status == 302
    assert response.location == "/logout"


def test_unknown_page_is_a_404_in_the_layout(auth):
    response = auth.get("/no/such/page")
    assert response.status == 404
    assert 'id="error-page"' in response.text
    assert 'id="current-user"' in response.text


@pytest.mark.parametrize("proto", ["http", "https"])
def test_the_login_cookie_is_http_only_and_secure_behind_tls(client, proto):
    xsrf = client.xsrf()
    request = urllib.request.Request(
        client.base_url + "/login",
        data=urllib.parse.urlencode(
            {"username": "alice", "password": PASSWORD, "_xsrf": xsrf}
        ).encode(),
        headers={"X-Forwarded-Proto": proto},
    )
    response = client.request_object(request)
    [cookie] = [c for c in response.headers.get_all("Set-Cookie") if c.startswith("user=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags
    assert ("secure" in flags) == (proto == "https")


@pytest.mark.parametrize("proto", ["http", "https"])
def test_the_xsrf_cookie_is_secure_behind_tls(server, proto):
    fresh = Client(server.url)  # no _xsrf cookie yet: the page sets one
    request = urllib.request.Request(server.url + "/login", headers={"X-Forwarded-Proto": proto})
    response = fresh.request_object(request)
    [cookie] = [c for c in response.headers.get_all("Set-Cookie") if c.startswith("_xsrf=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert ("secure" in flags) == (proto == "https")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.2"])
def test_a_host_the_site_does_not_answer_to_is_refused(auth, host):
    for path in ("/", "/login", "/moi-ws/"):
        request = urllib.request.Request(auth.base_url + path, headers={"Host": host})
        response = auth.request_object(request)
        assert response.status == 400, path
        assert "evil" not in response.text  # nothing built from the name it was sent
    assert auth.get("/").status == 200  # the site's own names still work


def test_allowed_hosts_takes_other_names_and_a_wildcard(settings, r, app_settings, caplog):
    for allowed, host, status in [
        (("jobs.example",), "jobs.example", 200),
        (("jobs.example",), "other.example", 400),
        (("*",), "anything.example", 200),
    ]:
        ours = dataclasses.replace(app_settings, allowed_hosts=allowed)
        with serving(settings, ours, caplog) as served:
            request = urllib.request.Request(served.url + "/login", headers={"Host": host})
            assert Client(served.url).request_object(request).status == status, (allowed, host)
