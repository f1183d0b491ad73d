"""The app's websocket: moi's handler, fed by the app's login cookie."""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.httpclient
import tornado.websocket

from moi import group
from moi.job import wait


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
    [job] = group.jobs("alice")
    wait(job["id"], timeout=30)
    added, update = asyncio.run(first_messages(auth, 2))
    assert added == {"add": [job["id"]]}
    assert update["update"]["id"] == job["id"]
    assert update["update"]["result"] == "Hello, Ann!"


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
