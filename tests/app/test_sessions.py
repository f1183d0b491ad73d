"""Server-side sessions: signing out reaches every tab, and nothing outlives its account."""

from __future__ import annotations

import asyncio
import copy
import time

import pytest
import tornado.httpclient
import tornado.websocket

from app.sessions import RECHECK_EVERY, SIGNED_OUT
from tests.app.conftest import Client
from tests.wsclient import close_and_wait


def second_tab(client: Client) -> Client:
    """Another tab of the same browser: the same cookies."""
    tab = Client(client.base_url)
    for cookie in client.jar:
        tab.jar.set_cookie(copy.copy(cookie))
    return tab


def test_signing_out_signs_out_every_tab_of_the_session(auth):
    tab = second_tab(auth)
    assert tab.get("/").status == 200
    assert auth.post("/logout").status == 303
    refused = tab.get("/")  # its cookie is still validly signed: the session is gone
    assert refused.status == 302 and refused.location.startswith("/login")


def test_sign_out_everywhere_ends_every_session_of_the_user(server, r):
    laptop, phone = Client(server.url), Client(server.url)
    assert laptop.login("alice").status == 303
    assert phone.login("alice").status == 303
    assert r.scard("moi-app:sessions:alice") == 2
    assert laptop.post("/logout", everywhere="1").status == 303
    assert phone.get("/").status == 302
    assert r.keys("moi-app:session:*") == []


def test_a_session_does_not_pass_to_a_remade_account_of_the_same_name(server, r):
    victim = Client(server.url)
    assert victim.login("alice").status == 303
    r.hdel("moi-app:users", "alice")  # the account is gone (Redis lost it, say)
    assert Client(server.url).login("alice", "someone else entirely").status == 303
    assert victim.get("/").status == 302  # the old session names the old account


def test_signing_out_closes_the_sessions_live_list_at_once(auth):
    cookies = "; ".join(f"{c.name}={c.value}" for c in auth.jar)

    async def watch_then_sign_out() -> int | None:
        url = auth.base_url.replace("http://", "ws://") + "/moi-ws/"
        request = tornado.httpclient.HTTPRequest(url, headers={"Cookie": cookies})
        socket = await tornado.websocket.websocket_connect(request)
        try:
            assert await asyncio.wait_for(socket.read_message(), 10) == '{"add":[]}'
            await asyncio.to_thread(auth.post, "/logout")
            while await asyncio.wait_for(socket.read_message(), 10) is not None:
                pass
            return socket.close_code
        finally:
            await close_and_wait(socket)

    assert asyncio.run(watch_then_sign_out()) == SIGNED_OUT


@pytest.mark.parametrize("forget", ["delete", "flush"])
def test_a_session_gone_without_a_sign_out_closes_its_live_list_too(auth, r, forget):
    """Expired, deleted, or lost with Redis's data: no sign-out is published, and the
    socket is closed 4401 all the same, within RECHECK_EVERY seconds."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in auth.jar)

    async def watch_then_forget() -> tuple[int | None, float]:
        url = auth.base_url.replace("http://", "ws://") + "/moi-ws/"
        request = tornado.httpclient.HTTPRequest(url, headers={"Cookie": cookies})
        socket = await tornado.websocket.websocket_connect(request)
        try:
            assert await asyncio.wait_for(socket.read_message(), 10) == '{"add":[]}'
            if forget == "delete":
                r.delete(*r.keys("moi-app:session:*"))
            else:
                r.flushdb()
            forgotten = time.monotonic()
            while await asyncio.wait_for(socket.read_message(), RECHECK_EVERY + 5) is not None:
                pass
            return socket.close_code, time.monotonic() - forgotten
        finally:
            await close_and_wait(socket)

    code, took = asyncio.run(watch_then_forget())
    assert code == SIGNED_OUT
    assert took < RECHECK_EVERY + 2


def test_an_account_idle_past_account_days_is_removed_at_the_next_sign_in(server, r):
    idle = Client(server.url)
    assert idle.login("bob").status == 303
    kept_days = server.app.app_settings.account_days
    assert kept_days > 0
    r.zadd("moi-app:signins", {"bob": 1})  # last signed in long ago
    assert Client(server.url).login("alice").status == 303
    assert not r.hexists("moi-app:users", "bob")
    assert r.zscore("moi-app:signins", "bob") is None
    assert r.zscore("moi-app:signins", "alice") is not None
    assert idle.get("/").status == 302  # its session names no account any more
