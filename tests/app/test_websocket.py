"""The app's websocket: moi's handler, fed by the app's login cookie."""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.httpclient
import tornado.websocket

from moi import group
from moi.hub import Hub
from moi.job import wait
from moi.websocket import RETRY_AFTER
from tests.app.conftest import Client


def ws_url(client) -> str:
    return client.base_url.replace("http://", "ws://") + "/moi-ws/"


async def first_messages(client, count: int) -> list[dict]:
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    request = tornado.httpclient.HTTPRequest(ws_url(client), headers={"Cookie": cookies})
    connection = await tornado.websocket.websocket_connect(request)
    try:
        return [
            json.loads(await asyncio.wait_for(connection.read_message(), 10)) for _ in range(count)
        ]
    finally:
        connection.close()
        # Read to the end, so the socket is closed before this loop is.
        while await asyncio.wait_for(connection.read_message(), 10) is not None:
            pass


def test_the_socket_sends_the_users_jobs(auth, other):
    auth.post("/jobs/hello", name="Ann")
    other.post("/jobs/hello", name="Bob")
    [job] = group.jobs(auth.group)
    wait(job["id"], timeout=30)
    added, update = asyncio.run(first_messages(auth, 2))
    assert added == {"add": [job["id"]]}
    [info] = update["update"]  # the snapshot's infos come as lists (PROTOCOL.md 1.1)
    assert info["id"] == job["id"]
    assert info["result"] == "Hello, Ann!"


def test_the_socket_refuses_strangers(client):
    async def connect():
        await tornado.websocket.websocket_connect(ws_url(client))

    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        asyncio.run(connect())
    assert refused.value.code == 403


def test_the_socket_refuses_a_deleted_account(auth, r):
    r.hdel("moi-app:users", "alice")  # the cookie is still validly signed

    async def connect():
        cookies = "; ".join(f"{c.name}={c.value}" for c in auth.jar)
        request = tornado.httpclient.HTTPRequest(ws_url(auth), headers={"Cookie": cookies})
        await tornado.websocket.websocket_connect(request)

    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        asyncio.run(connect())
    assert refused.value.code == 403


def test_the_probe_says_ready_to_a_signed_in_page_and_signed_out_to_others(auth, server, r):
    ready = auth.get("/moi-ws/ready")
    assert (ready.status, ready.text) == (200, "ready")
    assert ready.headers["Cache-Control"] == "no-store"
    assert Client(server.url).get("/moi-ws/ready").status == 401  # no cookie
    # The cookie is still validly signed, but the server forgot the session (data lost).
    r.delete(*r.keys("moi-app:session:*"))
    assert auth.get("/moi-ws/ready").status == 401


def test_while_the_hub_waits_for_redis_the_probe_and_socket_ask_redis_nothing(
    auth, server, monkeypatch
):
    async def asked(session_id):
        raise AssertionError("the session store was asked while Redis is away")

    monkeypatch.setattr(Hub, "available", property(lambda hub: False))
    monkeypatch.setattr(server.app.sessions, "find", asked)
    away = auth.get("/moi-ws/ready")
    assert (away.status, away.text, away.headers["Retry-After"]) == (503, "away", str(RETRY_AFTER))

    async def connect():
        cookies = "; ".join(f"{c.name}={c.value}" for c in auth.jar)
        request = tornado.httpclient.HTTPRequest(ws_url(auth), headers={"Cookie": cookies})
        await tornado.websocket.websocket_connect(request)

    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        asyncio.run(connect())
    assert refused.value.code == 503
