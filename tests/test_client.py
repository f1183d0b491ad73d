"""moi.client.Client on its own event loop: the async face of the library, and its faults."""

from __future__ import annotations

import pytest

from moi import keys, record
from moi.client import Client
from moi.exceptions import ClusterError
from tests import jobs
from tests.wsclient import run


@run
async def test_submit_get_wait_and_jobs_are_coroutines(r, settings):
    client = Client(settings)
    try:
        await client.start()
        job_id = await client.submit("ann", "hello", "/result/hello", jobs.hello, "Ann")
        assert (await client.get(job_id))["status"] in ("Queued", "Running", "Saying hello")
        info = await client.wait(job_id, timeout=30)
        assert (info["status"], info["result"]) == ("Success", "Hello, Ann!")
        assert [i["id"] for i in await client.jobs("ann")] == [job_id]
        await client.drain(30)
        assert client.outstanding == set()
    finally:
        await client.aclose()


@run
async def test_a_failed_send_ends_the_stored_jobs_failed_with_the_reason(r, settings):
    client = Client(settings)
    try:
        await client.start()
        # The controller connection goes away under the client: sending now fails for real.
        await client.dispatcher.run(client.dispatcher._client.close)
        with pytest.raises(Exception) as raised:
            await client.submit_many("ann", None, [("a", jobs.double, 1), ("b", jobs.double, 2)])
        ids = r.smembers(keys.group_jobs_key("ann"))
        assert len(ids) == 2  # stored (and announced) before the send...
        for job_id in ids:
            info = record.decode(r.get(job_id))
            assert info["status"] == "Failed"  # ...and never left Queued
            assert info["result"].startswith("The job could not be sent to the cluster:")
            assert type(raised.value).__name__ in info["result"]
    finally:
        await client.aclose()


@run
async def test_a_missing_controller_is_a_cluster_error_and_stores_nothing(r, settings, tmp_path):
    missing = str(tmp_path / "no-such-client.json")
    client = Client(type(settings)(redis_url=settings.redis_url, ipp_connection_file=missing))
    try:
        with pytest.raises(ClusterError, match="cannot connect to the ipyparallel controller"):
            await client.submit("ann", "hello", None, jobs.hello, "Ann")
        assert r.keys("*") == []
    finally:
        await client.aclose()
