"""The demo app while Redis or the cluster is away: a 503 that says which, and recovery.

Real faults only: the app's own Redis is stopped by PID and started again on the same
data; its controller (run as a deployment runs it) is killed with SIGKILL and started
again, with no engine at first.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import logging
import os
import time

import pytest

from moi import keys
from tests.app.conftest import Client, group_of, serving, wait_for_status
from tests.faults.cluster import BIN, connection_file

pytestmark = pytest.mark.faults

BOUND = 30


def upgrade(client: Client) -> int:
    """The status of a websocket upgrade request for the live list (101: upgraded)."""
    host, port = client.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "GET",
            "/moi-ws/",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Origin": client.base_url,
                "Cookie": "; ".join(f"{c.name}={c.value}" for c in client.jar),
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def logged(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_redis_away_gives_503_pages_one_log_line_and_the_site_recovers(
    settings, app_settings, own_redis, caplog
):
    caplog.set_level(logging.WARNING)
    ours = dataclasses.replace(settings, redis_url=own_redis.url)
    with serving(ours, app_settings, caplog) as served:
        client = Client(served.url)
        assert client.login("alice").status == 303
        assert upgrade(client) == 101

        own_redis.stop()
        for path in ("/", "/", "/result/hello/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12):
            page = client.get(path)
            assert page.status == 503, page.text
            assert "The job store (Redis) cannot be reached" in page.text
            assert page.headers["Retry-After"] == "10"
        assert upgrade(client) == 503
        assert logged(caplog, "Redis cannot be reached") == 1
        assert not [r for r in caplog.records if r.exc_info and "redis" in r.name + r.getMessage()]

        own_redis.start()  # same port, same data: alice's account is still there
        deadline = time.monotonic() + BOUND
        while client.get("/").status != 200:  # the site's own recovery: nothing to wait on
            assert time.monotonic() < deadline, "the site never recovered"
            time.sleep(0.2)
        while upgrade(client) != 101:  # the hub reconnects with its own backoff
            assert time.monotonic() < deadline, "the live list never came back"
            time.sleep(0.2)
    assert logged(caplog, "Redis cannot be reached") == 1


def test_a_lost_controller_takes_jobs_that_wait_and_run_on_the_new_one(
    settings, app_settings, commands, r, caplog, exclusive_dispatch
):
    """Jobs wait in moi, not in the controller: while it is away the form still takes
    them, saying they wait; a new controller with an engine runs every one."""
    caplog.set_level(logging.WARNING)
    controller = commands.controller()  # and no engine yet
    ours = dataclasses.replace(settings, ipp_connection_file=connection_file(commands), lease=2)
    with serving(ours, app_settings, caplog) as served:
        client = Client(served.url)
        assert client.login("alice").status == 303

        # No engine: the job is taken, and the user is told it waits.
        sent = client.post("/jobs/hello", name="Early")
        assert (sent.status, sent.location) == (303, "/?notice=no-engines")
        assert "The cluster has no engines" in client.get(sent.location).text
        alices = keys.group_jobs_key(group_of(r, "alice"))

        commands.kill(controller)
        deadline = time.monotonic() + 15
        while json.loads(r.get(keys.CLUSTER) or "{}").get("controller") is None:
            assert time.monotonic() < deadline, "the dispatcher never noticed"
            time.sleep(0.2)  # it probes every 2 s: nothing to wait on
        during = client.post("/jobs/hello", name="Ada Lovelace")
        assert (during.status, during.location) == (303, "/?notice=no-engines")
        waiting = set(r.smembers(alices))
        assert len(waiting) == 2
        assert {json.loads(r.get(job_id))["status"] for job_id in waiting} == {"Queued"}

        commands.controller()
        commands.start(str(BIN / "ipengine"))
        restarted = time.monotonic()
        results = {
            wait_for_status(r, job_id, "Success", timeout=BOUND)["result"] for job_id in waiting
        }
        assert results == {"Hello, Early!", "Hello, Ada Lovelace!"}
        assert time.monotonic() - restarted < BOUND
    assert logged(caplog, "moi lost the ipyparallel controller") == 1
