"""Run again on the demo: a sample job submitted again with its inputs, over the socket."""

from __future__ import annotations

import asyncio
import html
import json

import tornado.httpclient
import tornado.websocket

from app.keys import again_key
from moi import group
from moi.job import wait
from tests.app.test_websocket import ws_url
from tests.wsclient import WsClient


async def ask_again(client, job_id: str, until) -> list[dict]:
    """Open the client's socket, send ``moi:again`` for ``job_id`` after the list, and read
    until a message satisfies ``until``; every message after the list."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    request = tornado.httpclient.HTTPRequest(ws_url(client), headers={"Cookie": cookies})
    socket = WsClient(await tornado.websocket.websocket_connect(request))
    try:
        await socket.snapshot()
        await socket.send({"moi:again": job_id})
        return await socket.until(until, timeout=30)
    finally:
        await socket.aclose()


def test_a_hello_job_runs_again_with_the_same_name(auth, r):
    auth.post("/jobs/hello", name="Ann")
    [first] = group.jobs(auth.group)
    wait(first["id"], timeout=30)
    assert json.loads(r.get(again_key(first["id"]))) == {"kind": "hello", "fields": {"name": "Ann"}}
    assert r.ttl(again_key(first["id"])) > 0  # kept as long as the job
    seen = asyncio.run(ask_again(auth, first["id"], lambda message: "add" in message))
    [new_id] = seen[-1]["add"]
    assert new_id != first["id"]
    again = wait(new_id, timeout=30)
    assert (again["name"], again["result"], again["group"]) == (
        "Hello Ann",
        "Hello, Ann!",
        auth.group,
    )
    assert json.loads(r.get(again_key(new_id)))["fields"] == {"name": "Ann"}  # runs again too


def test_a_batch_job_runs_again_alone(auth, r):
    auth.post("/jobs/batch", count="2")
    jobs = group.jobs(auth.group)
    assert len(jobs) == 2
    seen = asyncio.run(ask_again(auth, jobs[0]["id"], lambda message: "add" in message))
    [new_id] = seen[-1]["add"]
    assert wait(new_id, timeout=30)["result"].startswith("Hello, batch ")


def test_another_users_job_and_a_job_without_inputs_are_refused(auth, other, r):
    other.post("/jobs/hello", name="Bob")
    [bobs] = group.jobs(other.group)
    seen = asyncio.run(ask_again(auth, bobs["id"], lambda message: "error" in message))
    assert seen[-1] == {"error": f"no job {bobs['id']} of yours to run again"}
    auth.post("/jobs/hello", name="Ann")
    [anns] = group.jobs(auth.group)
    r.delete(again_key(anns["id"]))  # expired, or submitted some other way
    seen = asyncio.run(ask_again(auth, anns["id"], lambda message: "error" in message))
    assert seen[-1] == {"error": "Hello Ann cannot run again: its inputs are not kept."}
    assert len(group.jobs(auth.group)) == 1 and len(group.jobs(other.group)) == 1


def test_the_index_names_the_handlers_whose_jobs_run_again(auth):
    page = auth.get("/").text
    start = page.index("data-again-handlers='") + len("data-again-handlers='")
    handlers = json.loads(html.unescape(page[start : page.index("'", start)]))
    assert handlers == [
        f"/result/{kind}" for kind in ("countdown", "fail", "hello", "pi", "simulate")
    ]
