"""moi.client.Client on its own event loop: the async face of the library, and its faults."""

from __future__ import annotations

from moi.client import Client
from tests import jobs
from tests.wsclient import run


@run
async def test_submit_get_wait_and_jobs_are_coroutines(r, settings):
    client = Client(settings)
    try:
        await client.start()
        job_id = await client.submit("ann", "hello", "/result/hello", jobs.hello, "Ann")
        assert (await client.get(job_id))["group"] == "ann"  # stored (it may have run already)
        info = await client.wait(job_id, timeout=30)
        assert (info["status"], info["result"]) == ("Success", "Hello, Ann!")
        assert [i["id"] for i in await client.jobs("ann")] == [job_id]
        await client.drain(30)
        assert client.outstanding == set()
    finally:
        await client.aclose()


@run
async def test_a_submit_needs_redis_only(r, settings, tmp_path):
    """A client whose controller is not there still takes jobs: they wait in Redis, and
    run once some process dispatches (here the session's client)."""
    missing = str(tmp_path / "no-such-client.json")
    client = Client(type(settings)(redis_url=settings.redis_url, ipp_connection_file=missing))
    try:
        job_id = await client.submit("ann", "hello", None, jobs.hello, "Ann")
        info = await client.wait(job_id, timeout=30)
        assert (info["status"], info["result"]) == ("Success", "Hello, Ann!")
    finally:
        await client.aclose()
