"""A burst of load is served later, never refused: the site's Redis pool waits for a
free connection instead of failing at its cap.

Issue 22's attack, on main at 5663ba5: 600 simultaneous websocket upgrades got 411
answers 503, and 1,500 API requests from 200 threads 592, each logged as "Redis cannot
be reached (Too many connections)": the pool was capped at 100 and failed at the cap.
The p99 latencies these tests print are the ones quoted in the issue's closing note.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request

import pytest
import tornado.httpclient
import tornado.web
import tornado.websocket

from app.handlers.base import USER_COOKIE
from app.keys import USERS_KEY
from moi import keys
from tests.app.conftest import serving

SOCKETS = 600
API_REQUESTS = 1500
API_THREADS = 200
DEADLINE = 80
"""Seconds either burst may take in all; each test must end well inside 90 s."""


def on_app(server, coroutine):
    """Run ``coroutine`` on the app's event loop and return its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, server.loop).result(30)


def make_accounts(r, count: int) -> list[tuple[str, str]]:
    """``count`` accounts, records with an ID and no password (nobody signs in with one
    here: no slow hashing): their names and account IDs."""
    made = [(f"load{number}", secrets.token_hex(16)) for number in range(count)]
    r.hset(USERS_KEY, mapping={name: json.dumps({"id": id_}) for name, id_ in made})
    return made


def cookies_of(server, accounts: list[tuple[str, str]]) -> list[str]:
    """A signed-in browser's ``Cookie`` header for each account: a session each."""

    async def open_all() -> list[str]:
        return [await server.app.sessions.open(name, id_) for name, id_ in accounts]

    secret = server.app.settings["cookie_secret"]
    return [
        f"{USER_COOKIE}={tornado.web.create_signed_value(secret, USER_COOKIE, sid).decode()}"
        for sid in on_app(server, open_all())
    ]


async def read_to_the_end(socket: tornado.websocket.WebSocketClientConnection) -> None:
    """Read until the socket is closed, so it is closed before the test's loop is."""
    while await socket.read_message() is not None:
        pass


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def no_outage_logged(caplog) -> None:
    said = [rec.getMessage() for rec in caplog.records if "cannot be reached" in rec.getMessage()]
    assert not said, said[:3]


def test_600_simultaneous_websocket_upgrades_are_all_answered(server, r, caplog):
    """Each of 600 sockets (600 accounts, so 600 groups the hub starts at once) is upgraded
    and gets its snapshot, and none holds a Redis connection of its own; 411 of them
    were refused with a 503 before."""
    accounts = make_accounts(r, SOCKETS)
    job_id = "9a1f2c4e-8b7d-4e21-9c3a-5d6e7f8a9b0c"  # one group with a job in its snapshot
    r.set(job_id, json.dumps({"id": job_id, "status": "Success", "group": accounts[0][1]}))
    r.sadd(keys.group_jobs_key(accounts[0][1]), job_id)
    url = server.url.replace("http://", "ws://") + "/moi-ws/"
    headers = cookies_of(server, accounts)

    connected: list[int] = []

    async def burst() -> tuple[list[float], list[dict], list[str]]:
        go = asyncio.Event()
        sockets: list[tornado.websocket.WebSocketClientConnection] = []

        async def one(cookie: str) -> tuple[float, dict]:
            await go.wait()
            start = time.monotonic()
            request = tornado.httpclient.HTTPRequest(
                url, headers={"Cookie": cookie}, connect_timeout=DEADLINE
            )
            socket = await tornado.websocket.websocket_connect(request)
            sockets.append(socket)
            first = await socket.read_message()
            return time.monotonic() - start, json.loads(first) if first else {}

        tasks = [asyncio.ensure_future(one(cookie)) for cookie in headers]
        go.set()
        try:
            done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE)
            # Every socket open: none holds a Redis connection of its own.
            connected.append(len(await asyncio.to_thread(r.client_list)))
        finally:
            for socket in sockets:
                socket.close()
            await asyncio.wait_for(asyncio.gather(*map(read_to_the_end, sockets)), 30)
        answered = [item for item in done if isinstance(item, tuple)]
        failed = [repr(item) for item in done if not isinstance(item, tuple)]
        return [took for took, _ in answered], [first for _, first in answered], failed

    took, firsts, failed = asyncio.run(burst())
    assert failed == [], f"{len(failed)} of {SOCKETS} refused, e.g. {failed[:3]}"
    assert firsts.count({"add": [job_id]}) == 1
    assert firsts.count({"add": []}) == SOCKETS - 1
    assert connected[0] < SOCKETS // 2, f"{connected[0]} connections to Redis for {SOCKETS} sockets"
    no_outage_logged(caplog)
    p50, p99 = percentile(took, 0.5), percentile(took, 0.99)
    print(
        f"\n{SOCKETS} upgrades to the snapshot: p50 {p50:.3f} s, p99 {p99:.3f} s; "
        f"{connected[0]} connections to Redis while they were open"
    )


def test_1500_api_requests_from_200_threads_are_all_answered(server, r, caplog):
    """Every request of 200 threads at once (each with its own account's token) gets a
    200; 592 of 1,500 were refused with a 503 before."""
    accounts = make_accounts(r, API_THREADS)

    async def make_tokens() -> list[str]:
        return [(await server.app.tokens.create(name, id_, "load"))[1] for name, id_ in accounts]

    tokens = on_app(server, make_tokens())
    statuses: list[int | str] = []
    took: list[float] = []
    lock = threading.Lock()
    left = [API_REQUESTS]
    start = threading.Barrier(API_THREADS)

    def client(token: str) -> None:
        start.wait(30)
        while True:
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            request = urllib.request.Request(
                server.url + "/api/jobs", headers={"Authorization": f"Bearer {token}"}
            )
            began = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=DEADLINE) as answer:
                    status = answer.status
                    answer.read()
            except urllib.error.HTTPError as error:
                status = error.code
                error.close()
            except OSError as error:  # refused or reset: counted, not lost with the thread
                status = repr(error)
            with lock:
                statuses.append(status)
                took.append(time.monotonic() - began)

    threads = [threading.Thread(target=client, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "the burst took too long"
    assert len(statuses) == API_REQUESTS
    refused = {status: statuses.count(status) for status in set(statuses) if status != 200}
    assert refused == {}, f"answered other than 200: {refused}"
    no_outage_logged(caplog)
    p50, p99 = percentile(took, 0.5), percentile(took, 0.99)
    print(f"\n{API_REQUESTS} API requests, {API_THREADS} threads: p50 {p50:.3f} s, p99 {p99:.3f} s")


@pytest.fixture
def small_pool(app_settings):
    """Two connections for the site's own Redis client, so any burst fills it."""
    return dataclasses.replace(app_settings, redis_connections=2, redis_wait=5)


def test_a_full_pool_makes_a_burst_wait_its_turn(settings, r, small_pool, caplog):
    """With 2 connections, 200 session reads at once are all answered, never on more
    than 2 connections: the 198 others waited for one."""
    with serving(settings, small_pool, caplog) as served:
        pool = served.app.redis.connection_pool

        async def burst() -> tuple[list, int]:
            most = 0

            async def find(number: int):
                nonlocal most
                found = await served.app.sessions.find(f"nobody{number}")
                most = max(most, len(pool._in_use_connections) + len(pool._available_connections))
                return found

            return await asyncio.gather(*(find(n) for n in range(200))), most

        found, most = on_app(served, burst())
    assert found == [None] * 200
    assert most <= 2
    logged = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert logged == []
