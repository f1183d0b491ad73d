"""API tokens expire (``[app] token_days``), and each lists its last use, written at most
once a minute. (Making, listing and revoking them: test_api.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

from app.keys import token_key
from moi.durations import parse_date
from tests.app.apiclient import Api, make_token
from tests.app.conftest import Client, serving

DAY = 86400


def stored(r, token: str) -> dict:
    return json.loads(r.get(token_key(hashlib.sha256(token.encode()).hexdigest())))


def restore(r, token: str, **changes) -> None:
    """Change fields of the token's record, keeping when Redis deletes it."""
    key = token_key(hashlib.sha256(token.encode()).hexdigest())
    r.set(key, json.dumps({**json.loads(r.get(key)), **changes}), keepttl=True)


def shown_on_the_page(page: str, token_id: str, kind: str) -> str:
    """The ISO date the account page shows as the token's ``kind`` (used, expires), or the
    text it shows instead."""
    card = page.split(f'data-token-id="{token_id}"', 1)[1]
    found = re.search(rf'class="token-{kind}">(.*?)</dd>', card, re.S)
    assert found, card[:500]
    when = re.search(r'<time datetime="([^"]+)"', found.group(1))
    return when.group(1) if when else found.group(1).strip()


def same_moment(shown: str, stored_date: str) -> bool:
    """Whether the page's date is the stored one (the page shows milliseconds)."""
    return abs(parse_date(shown) - parse_date(stored_date)) < timedelta(milliseconds=1)


def test_a_token_expires_token_days_after_it_is_made(server, auth, r):
    days = server.app.app_settings.token_days
    assert days == 90
    token, token_id = make_token(auth)
    record = stored(r, token)
    made, ends = parse_date(record["created"]), parse_date(record["expires"])
    assert ends - made == timedelta(days=days)
    key = token_key(hashlib.sha256(token.encode()).hexdigest())
    assert days * DAY - 60 < r.ttl(key) <= days * DAY  # Redis deletes it by itself then
    [listed] = Api(server.url, token=token).get("/api/tokens").json["tokens"]
    assert listed["expires"] == record["expires"]
    assert same_moment(
        shown_on_the_page(auth.get("/account").text, token_id, "expires"), record["expires"]
    )
    assert f"{days} days after it is made" in auth.get("/account").text


def test_an_expired_token_is_a_401_and_is_dropped(server, auth, r):
    token, token_id = make_token(auth)
    api = Api(server.url, token=token)
    assert api.get("/api/jobs").status == 200
    restore(r, token, expires=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    refused = api.get("/api/jobs")
    assert refused.status == 401
    assert "expired" in refused.json["error"]
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert r.keys("moi-app:token:*") == [] and r.hlen("moi-app:tokens:alice") == 0
    assert token_id not in auth.get("/account").text


def test_a_token_made_before_tokens_expired_lives_token_days_from_when_it_was_made(server, auth, r):
    old, _ = make_token(auth, "old")
    recent, _ = make_token(auth, "recent")
    long_ago = datetime.now(UTC) - timedelta(days=91)
    for token, created in ((old, long_ago), (recent, datetime.now(UTC))):
        record = stored(r, token)
        del record["expires"]
        record["created"] = created.isoformat()
        key = token_key(hashlib.sha256(token.encode()).hexdigest())
        r.set(key, json.dumps(record))  # as stored before: no date, no TTL
    assert Api(server.url, token=old).get("/api/jobs").status == 401
    listed = Api(server.url, token=recent).get("/api/tokens").json["tokens"]
    assert [item["name"] for item in listed] == ["recent"]
    assert parse_date(listed[0]["expires"]) > datetime.now(UTC) + timedelta(days=89)


def test_with_token_days_0_a_token_lives_until_it_is_revoked(settings, r, app_settings, caplog):
    forever = dataclasses.replace(app_settings, token_days=0)
    with serving(settings, forever, caplog) as served:
        browser = Client(served.url)
        assert browser.register("alice").status == 303
        token, token_id = make_token(browser)
        assert stored(r, token)["expires"] is None
        assert r.ttl(token_key(hashlib.sha256(token.encode()).hexdigest())) == -1
        assert Api(served.url, token=token).get("/api/jobs").status == 200
        assert shown_on_the_page(browser.get("/account").text, token_id, "expires") == "never"


def test_the_last_use_is_shown_and_written_at_most_once_a_minute(server, auth, r):
    token, token_id = make_token(auth)
    api = Api(server.url, token=token)
    assert shown_on_the_page(auth.get("/account").text, token_id, "used") == "never"
    key = token_key(hashlib.sha256(token.encode()).hexdigest())
    ttl = r.ttl(key)

    assert api.get("/api/jobs").status == 200
    first = stored(r, token)["last_used"]
    assert same_moment(shown_on_the_page(auth.get("/account").text, token_id, "used"), first)
    assert api.get("/api/jobs").status == 200
    assert stored(r, token)["last_used"] == first  # within the minute: not written again

    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    restore(r, token, last_used=two_minutes_ago)
    assert api.get("/api/jobs").status == 200
    again = stored(r, token)["last_used"]
    assert parse_date(again) > parse_date(first) - timedelta(seconds=1)
    assert again != two_minutes_ago
    assert ttl - 60 < r.ttl(key) <= ttl  # noting a use leaves the expiry as it was
