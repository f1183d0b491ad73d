"""Accounts that go (idle, or nobody came back to them), and what a name's next holder gets:
nothing of the account that had it before."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid

from app.accounts import hash_password
from app.keys import SIGNINS_KEY, UNUSED_KEY, USERS_KEY
from app.retention import USED_AFTER
from moi import group, keys
from moi.job import wait
from tests.app.apiclient import Api, make_token
from tests.app.conftest import PASSWORD, Client, group_of, serving
from tests.app.test_websocket import first_messages


def made_long_ago(r, name: str, seconds: float) -> None:
    """Date ``name``'s sign-up ``seconds`` back, in its record and in ``moi-app:unused``."""
    record = json.loads(r.hget(USERS_KEY, name))
    record["unused"] = int(time.time() - seconds)
    r.hset(USERS_KEY, name, json.dumps(record))
    r.zadd(UNUSED_KEY, {name: time.time() - seconds})


def someone_signs_in(server) -> None:
    """A sign-in of another account: each one removes the accounts whose time is up."""
    assert Client(server.url).login(f"x{uuid.uuid4().hex[:8]}").status == 303


def test_a_names_new_holder_inherits_nothing(server, r):
    """Issue 22's attack: an account removed after a year idle, its name signed up again,
    and the new holder saw the old jobs and results (API, result pages, websocket),
    because moi groups were user names. Now a group is the account's ID."""
    first = Client(server.url)
    assert first.register("ann").status == 303
    old_group = group_of(r, "ann")
    assert first.post("/jobs/hello", name="Old").status == 303
    [old] = group.jobs(old_group)
    assert wait(old["id"], timeout=30)["status"] == "Success"
    assert first.get(f"/result/hello/{old['id']}").status == 200

    r.zadd(SIGNINS_KEY, {"ann": 1})  # last signed in long ago: removed as the app does
    someone_signs_in(server)
    assert not r.hexists(USERS_KEY, "ann")

    new = Client(server.url)
    assert new.register("ann").status == 303
    assert group_of(r, "ann") not in (old_group, "ann")
    for api in (Api(server.url, browser=new), Api(server.url, token=make_token(new)[0])):
        assert api.get("/api/jobs").json["total"] == 0
        assert api.get(f"/api/jobs/{old['id']}").status == 404
        assert api.post(f"/api/jobs/{old['id']}/cancel").status == 404
    assert new.get(f"/result/hello/{old['id']}").status == 404
    assert asyncio.run(first_messages(new, 1)) == [{"add": []}]
    assert first.get("/").status == 302  # the old session names the old account
    # Nothing was deleted to get there: the old job is where it was, in its own group.
    assert r.sismember(keys.group_jobs_key(old_group), old["id"])


def test_an_account_made_before_ids_keeps_its_name_as_its_group(server, r):
    """Accounts stored before accounts had IDs keep seeing their jobs."""
    r.hset(USERS_KEY, "olive", json.dumps(hash_password(PASSWORD)))  # no "id"
    earlier = str(uuid.uuid4())
    info = {"id": earlier, "name": "Hello Earlier", "handler": "/result/hello", "group": "olive"}
    r.set(earlier, json.dumps({**info, "status": "Success", "result": "Hello, Earlier!"}))
    r.sadd(keys.group_jobs_key("olive"), earlier)
    olive = Client(server.url)
    assert olive.login("olive").status == 303
    assert group_of(r, "olive") == "olive"
    listed = Api(server.url, browser=olive).get("/api/jobs").json
    assert [job["id"] for job in listed["jobs"]] == [earlier]
    assert olive.get(f"/result/hello/{earlier}").status == 200
    assert asyncio.run(first_messages(olive, 1)) == [{"add": [earlier]}]
    assert olive.post("/jobs/hello", name="Later").status == 303
    assert len(group.jobs("olive")) == 2


def test_a_sign_up_nobody_came_back_to_goes_after_unused_account_days(server, r):
    kept_days = server.app.app_settings.unused_account_days
    assert kept_days == 7
    ghost = Client(server.url)
    assert ghost.register("ghost").status == 303
    assert json.loads(r.hget(USERS_KEY, "ghost"))["unused"] <= time.time()
    assert r.zscore(UNUSED_KEY, "ghost") is not None
    made_long_ago(r, "ghost", kept_days * 86400 - 60)  # a minute to go: still there
    someone_signs_in(server)
    assert r.hexists(USERS_KEY, "ghost")

    r.zadd(UNUSED_KEY, {"ghost": time.time() - kept_days * 86400 - 60})  # a minute past
    someone_signs_in(server)
    assert not r.hexists(USERS_KEY, "ghost")
    assert r.zscore(UNUSED_KEY, "ghost") is None and r.zscore(SIGNINS_KEY, "ghost") is None
    assert ghost.get("/").status == 302  # its session names no account any more


def test_signing_in_again_is_coming_back(server, r):
    back = Client(server.url)
    assert back.register("back").status == 303
    assert back.post("/logout").status == 303
    assert Client(server.url).login("back").status == 303
    assert "unused" not in json.loads(r.hget(USERS_KEY, "back"))
    assert r.zscore(UNUSED_KEY, "back") is None
    r.zadd(SIGNINS_KEY, {"back": time.time() - 30 * 86400})  # a month: far from idle
    someone_signs_in(server)
    assert r.hexists(USERS_KEY, "back")


def test_using_the_sign_ups_session_an_hour_later_is_coming_back(server, r):
    """A person who keeps the sign-up's session (30 days) and uses it keeps the account;
    the sign-up's own first pages do not count."""
    kept = Client(server.url)
    assert kept.register("kept").status == 303
    assert kept.get("/account").status == 200
    assert r.zscore(UNUSED_KEY, "kept") is not None  # within the first hour: not yet
    made_long_ago(r, "kept", USED_AFTER + 60)
    assert kept.get("/").status == 200
    assert "unused" not in json.loads(r.hget(USERS_KEY, "kept"))
    assert r.zscore(UNUSED_KEY, "kept") is None
    r.zadd(UNUSED_KEY, {"someone-else": 1})  # a sweep runs, and finds nothing of kept's
    someone_signs_in(server)
    assert kept.get("/").status == 200


def test_using_a_token_an_hour_later_is_coming_back(server, r):
    scripted = Client(server.url)
    assert scripted.register("scripted").status == 303
    token, _ = make_token(scripted)
    made_long_ago(r, "scripted", USED_AFTER + 60)
    assert Api(server.url, token=token).get("/api/jobs").status == 200
    assert r.zscore(UNUSED_KEY, "scripted") is None


def test_with_unused_account_days_0_a_sign_up_is_kept_as_any_other(
    settings, r, app_settings, caplog
):
    forever = dataclasses.replace(app_settings, unused_account_days=0)
    with serving(settings, forever, caplog) as served:
        assert Client(served.url).register("anyone").status == 303
        assert "unused" not in json.loads(r.hget(USERS_KEY, "anyone"))
        assert r.zcard(UNUSED_KEY) == 0
