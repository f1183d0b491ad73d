"""Signing in, creating an account, signing out, and what needs a login."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import urllib.request

import pytest

from app.accounts import USERS_KEY
from tests.app.conftest import PASSWORD, Client, error_message, serving, stored_keys

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"
"""A job ID no test stores (fixed, so every test run collects the same tests)."""


def test_login_page_renders_the_form(client):
    page = client.get("/login")
    assert page.status == 200
    assert 'id="login-form"' in page.text
    assert 'name="_xsrf"' in page.text
    assert 'href="/signup"' in page.text  # creating an account is a choice of its own


def test_signup_page_renders_the_form(client):
    page = client.get("/signup")
    assert page.status == 200
    assert 'id="signup-form"' in page.text and 'id="signup-confirm"' in page.text
    assert 'href="/login"' in page.text


def test_creating_an_account_stores_a_salted_hash_and_signs_in(client, r):
    response = client.register("Alice")
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
    assert client.register("alice").status == 303
    assert Client(client.base_url).register("bobby").status == 303
    alice, bobby = (json.loads(r.hget(USERS_KEY, name)) for name in ("alice", "bobby"))
    assert alice["salt"] != bobby["salt"]
    assert alice["hash"] != bobby["hash"]


def sign_in(client: Client, username: str, password: str = PASSWORD, **fields: str):
    """The sign-in form alone (``Client.login`` would make a missing account)."""
    return client.post("/login", username=username, password=password, **fields)


def test_returning_user_signs_in_with_the_right_password(client):
    assert client.register("alice").status == 303
    again = Client(client.base_url)
    assert sign_in(again, "Alice").status == 303
    assert again.get("/").status == 200


def test_signing_in_never_makes_an_account(client, r):
    response = sign_in(client, "newbie")
    assert response.status == 400
    assert error_message(response.text, "login-error") == "Wrong name or password."
    assert not r.exists(USERS_KEY)
    assert client.cookie("user") is None


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(client):
    assert Client(client.base_url).register("alice").status == 303
    wrong = sign_in(client, "alice", "not the password")
    unknown = sign_in(client, "alicf", "not the password")
    assert wrong.status == unknown.status == 400
    assert error_message(wrong.text, "login-error") == "Wrong name or password."
    # The same page but for the name typed (and the XSRF token, masked anew each time).
    assert without_xsrf(wrong.text).replace("alice", "alicf") == without_xsrf(unknown.text)
    assert client.cookie("user") is None
    assert client.get("/").status == 302


def without_xsrf(page: str) -> str:
    return re.sub(r'name="_xsrf" value="[^"]*"', "", page)


USERNAME_MESSAGES = [
    ("", "Enter a username."),
    ("   ", "Enter a username."),
    ("al", "A username is 3 to 32 characters long (this one has 2)."),
    ("a" * 33, "A username is 3 to 32 characters long (this one has 33)."),
    ("al ice", "A username may only contain letters a-z, digits, '-' and '_'."),
    ("al:jobs", "A username may only contain letters a-z, digits, '-' and '_'."),
    ("älice", "A username may only contain letters a-z, digits, '-' and '_'."),
    ("<b>x</b>", "A username may only contain letters a-z, digits, '-' and '_'."),
    ("1alice", "A username starts with a letter."),
    ("_alice", "A username starts with a letter."),
    ("no-user", "The username 'no-user' is reserved; choose another."),
]


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        *((name, PASSWORD, message) for name, message in USERNAME_MESSAGES),
        ("alice", "", "Enter a password."),
        ("alice", "x" * 1025, "A password is at most 1024 characters long."),
    ],
)
def test_sign_in_validation_messages(client, r, username, password, message):
    response = sign_in(client, username, password)
    assert response.status == 400
    assert error_message(response.text, "login-error") == message
    assert client.cookie("user") is None


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        *((name, PASSWORD, message) for name, message in USERNAME_MESSAGES),
        ("alice", "", "Choose a password of at least 8 characters."),
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
def test_signup_validation_messages(client, r, username, password, message):
    response = client.register(username, password)
    assert response.status == 400
    assert error_message(response.text, "signup-error").startswith(message)
    assert not r.exists(USERS_KEY)
    assert client.cookie("user") is None


def test_signup_asks_for_the_same_password_twice(client, r):
    response = client.register("alice", PASSWORD, confirm=PASSWORD + "!")
    assert response.status == 400
    assert error_message(response.text, "signup-error") == (
        "The two passwords differ: type the same password twice."
    )
    assert not r.exists(USERS_KEY)


def test_signup_refuses_a_taken_name_and_keeps_the_account(client, r):
    assert Client(client.base_url).register("alice").status == 303
    before = r.hget(USERS_KEY, "alice")
    response = client.register("Alice", "another good password")
    assert response.status == 400
    assert error_message(response.text, "signup-error") == (
        "The username alice is taken: choose another, or sign in."
    )
    assert r.hget(USERS_KEY, "alice") == before
    assert client.cookie("user") is None


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_a_refused_form_keeps_the_username_escaped(client, path):
    response = client.post(path, username="<b>x</b>", password=PASSWORD, confirm=PASSWORD)
    assert 'value="&lt;b&gt;x&lt;/b&gt;"' in response.text
    assert "<b>x</b>" not in response.text


def test_logout_clears_the_session(auth):
    page = auth.get("/logout")
    assert page.status == 200 and 'id="logout-page-form"' in page.text
    response = auth.post("/logout")
    assert response.status == 303
    assert response.location == "/login?notice=bye"
    assert auth.get("/").status == 302
    page = auth.get(response.location)
    assert '<p id="notice" class="notice" role="status">You are signed out.</p>' in page.text


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
    ["/", "/logout", f"/result/hello/{UNKNOWN_JOB}", f"/result/pi/{UNKNOWN_JOB}"],
)
def test_pages_redirect_to_login_when_logged_out(client, path):
    response = client.get(path)
    assert response.status == 302
    assert response.location.startswith("/login?next=")


@pytest.mark.parametrize("path", ["/jobs/hello", "/jobs/countdown", "/jobs/pi"])
def test_forms_posted_when_logged_out_lead_to_sign_in(client, r, path):
    response = client.post(path, name="x", seconds="1", samples="1000")
    assert response.status == 303
    assert response.location == "/login?next=%2F&notice=signed-out"
    assert stored_keys(r) == []
    page = client.get(response.location)
    assert error_message(page.text, "notice") == (
        "You were signed out, so that form was not sent. Sign in to go on."
    )


def test_a_stale_form_after_sign_out_leads_to_sign_in_then_back(auth, r):
    tab = Client(auth.base_url)  # another tab: the same cookies
    for cookie in auth.jar:
        tab.jar.set_cookie(cookie)
    assert auth.post("/logout").status == 303
    page = f"{auth.base_url}/account"
    stale = urllib.request.Request(
        f"{auth.base_url}/account/tokens",
        data=urllib.parse.urlencode({"name": "laptop", "_xsrf": tab.xsrf()}).encode(),
        headers={"Referer": page},
    )
    response = tab.request_object(stale)
    assert response.status == 303
    assert response.location == "/login?next=%2Faccount&notice=signed-out"
    assert r.keys("moi-app:token*") == []
    back = sign_in(tab, "alice", next="/account")
    assert back.status == 303 and back.location == "/account"


def test_a_referer_from_elsewhere_is_not_followed(client):
    request = urllib.request.Request(
        f"{client.base_url}/jobs/hello",
        data=urllib.parse.urlencode({"name": "x", "_xsrf": client.xsrf()}).encode(),
        headers={"Referer": "https://evil.example/steal"},
    )
    assert client.request_object(request).location == "/login?next=%2F&notice=signed-out"


def test_an_expired_sign_in_form_is_shown_again_with_a_notice(client):
    response = client.post("/login", xsrf=False, username="alice", password=PASSWORD)
    assert response.status == 303
    assert response.location.startswith("/login?") and "notice=expired" in response.location
    page = client.get(response.location)
    assert error_message(page.text, "notice") == "That form had expired. Please send it again."


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"username": "alice", "password": PASSWORD}),
        ("/signup", {"username": "bob", "password": PASSWORD, "confirm": PASSWORD}),
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
    assert r.keys("*:jobs") == []


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
@pytest.mark.parametrize("form", ["login", "signup"])
def test_next_only_leads_to_this_site(client, target, landing, form):
    if form == "login":
        assert Client(client.base_url).register("alice").status == 303
        response = sign_in(client, "alice", next=target)
    else:
        response = client.register("alice", next=target)
    assert response.status == 303
    assert response.location == landing


def test_login_page_carries_next_through(client):
    redirect = client.get("/result/hello/x")
    page = client.get(redirect.location)
    assert 'name="next" value="/result/hello/x"' in page.text
    assert 'href="/signup?next=/result/hello/x"' in page.text  # and so does creating an account
    signup = client.get("/signup?next=/result/hello/x")
    assert 'name="next" value="/result/hello/x"' in signup.text


def test_logged_in_user_visiting_login_goes_on(auth):
    response = auth.get("/login?next=/logout")
    assert response.status == 302
    assert response.location == "/logout"


def test_unknown_page_is_a_404_in_the_layout(auth):
    response = auth.get("/no/such/page")
    assert response.status == 404
    assert 'id="error-page"' in response.text
    assert 'id="current-user"' in response.text


BEHIND_TLS = pytest.mark.parametrize(
    ("trusted", "proto", "secure"),
    [
        (("127.0.0.1",), "https", True),
        (("127.0.0.1",), "http", False),
        ((), "https", False),  # a direct client's X-Forwarded-Proto is not believed
    ],
    ids=["proxy-https", "proxy-http", "direct-claims-https"],
)


@BEHIND_TLS
def test_the_login_cookie_is_http_only_and_secure_behind_tls(
    settings, r, app_settings, caplog, trusted, proto, secure
):
    ours = dataclasses.replace(app_settings, trusted_proxies=trusted)
    with serving(settings, ours, caplog) as served:
        client = Client(served.url)
        assert Client(served.url).register("alice").status == 303
        xsrf = client.xsrf()
        request = urllib.request.Request(
            served.url + "/login",
            data=urllib.parse.urlencode(
                {"username": "alice", "password": PASSWORD, "_xsrf": xsrf}
            ).encode(),
            headers={"X-Forwarded-Proto": proto},
        )
        response = client.request_object(request)
    cookies = {c.split("=")[0]: c for c in response.headers.get_all("Set-Cookie")}
    for name in ("user", "device"):
        flags = {part.strip().lower() for part in cookies[name].split(";")[1:]}
        assert "httponly" in flags and "samesite=lax" in flags
        assert ("secure" in flags) == secure


@BEHIND_TLS
def test_the_xsrf_cookie_is_secure_behind_tls(
    settings, r, app_settings, caplog, trusted, proto, secure
):
    ours = dataclasses.replace(app_settings, trusted_proxies=trusted)
    with serving(settings, ours, caplog) as served:
        fresh = Client(served.url)  # no _xsrf cookie yet: the page sets one
        request = urllib.request.Request(
            served.url + "/login", headers={"X-Forwarded-Proto": proto}
        )
        response = fresh.request_object(request)
    [cookie] = [c for c in response.headers.get_all("Set-Cookie") if c.startswith("_xsrf=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert ("secure" in flags) == secure


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
