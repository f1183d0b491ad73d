"""Run again over the websocket (``moi:again``): the app's hook, and every refusal."""

from __future__ import annotations

import asyncio

import pytest

from moi.again import AgainRefused
from tests.test_group import store_jobs
from tests.wsclient import run, serve

UNKNOWN_JOB = "2f728b1a-d03b-4c94-b176-4217c8bc7bf9"


class Hook:
    """An app's ``moi_again``: records each ask; answers with a new ID or refuses."""

    def __init__(self, refuse: str | None = None) -> None:
        self.asked: asyncio.Queue = asyncio.Queue()
        self.refuse = refuse

    async def __call__(self, group: str, job_id: str, info: dict) -> str:
        await self.asked.put((group, job_id, info))
        if self.refuse is not None:
            raise AgainRefused(self.refuse)
        return UNKNOWN_JOB


@run
async def test_again_asks_the_apps_hook_and_replies_nothing(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    hook = Hook()
    async with serve(settings.redis_url, moi_again=hook) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"moi:again": job_id})
        group, asked, info = await asyncio.wait_for(hook.asked.get(), 10)
        assert (group, asked, info["id"], info["name"]) == ("ann", job_id, job_id, "job 0")
        await client.send({"get": None})  # the next message is the list: no reply came
        assert set(await client.snapshot()) == {job_id}
        await client.aclose()


@run
async def test_the_apps_refusal_is_the_error(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    hook = Hook(refuse="This job's inputs are not kept.")
    async with serve(settings.redis_url, moi_again=hook) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"moi:again": job_id})
        assert await client.next() == {"error": "This job's inputs are not kept."}
        await client.aclose()


@pytest.mark.parametrize("whose", ["another group's", "unknown"])
@run
async def test_another_groups_job_is_refused_as_an_unknown_one(r, settings, whose):
    (bob_job,) = store_jobs(r, "bob", 1)
    job_id = bob_job if whose == "another group's" else UNKNOWN_JOB
    hook = Hook()
    async with serve(settings.redis_url, moi_again=hook) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"moi:again": job_id})
        assert await client.next() == {"error": f"no job {job_id} of yours to run again"}
        assert hook.asked.empty()
        await client.aclose()


@run
async def test_a_site_without_the_hook_says_so(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    async with serve(settings.redis_url) as served:
        client = await served.connect("ann")
        await client.snapshot()
        await client.send({"moi:again": job_id})
        assert await client.next() == {"error": "this site does not run jobs again"}
        await client.send({"moi:again": "not-a-job"})
        assert await client.next() == {"error": "moi:again takes a job ID (a UUID4 string)"}
        await client.aclose()
