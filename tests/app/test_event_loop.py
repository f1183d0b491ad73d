"""The event loop keeps serving while a form's jobs are being stored.

Behind a slowed :class:`~tests.redisproxy.RedisProxy` every Redis reply comes late. A
handler that waits on Redis synchronously holds the whole event loop for that time, and
every other request waits behind it; one that awaits lets the loop serve the others
meanwhile. So while a batch's create is on its way, a page that needs no Redis must
still come back at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from moi import keys, record
from tests.app.conftest import Client, group_of, serving, wait_for_status
from tests.redisproxy import RedisProxy

REPLY_DELAY = 0.5
"""How late each Redis reply reaches the app while the batch is posted: a loop blocked on
a round trip is blocked at least this long."""
FAST_ENOUGH = REPLY_DELAY / 2
"""A blocked loop cannot answer sooner than ``REPLY_DELAY``, however quiet the machine;
a free one answers ``GET /login`` in milliseconds, and the other half of the delay is
room for a busy machine's hiccups."""
BATCH = 100
CREATE = b"EVALSHA\r\n$40\r\n" + hashlib.sha1(record._CREATE_SCRIPT.encode()).hexdigest().encode()
"""The wire form of the call that stores new jobs (the script's SHA1 names it)."""


@pytest.fixture
def proxy(redis_server):
    running = RedisProxy(redis_server.url).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def proxied_settings(settings, proxy):
    """The app's Redis traffic goes through the proxy; the engines' does not (it is not
    what is measured, and a hundred jobs' updates would crawl)."""
    return dataclasses.replace(settings, redis_url=proxy.url, engine_redis_url=settings.redis_url)


@pytest.fixture
def proxied_server(proxied_settings, r, app_settings, caplog):
    """The app, and so the moi client it owns, on the proxied Redis; errors it logs fail
    the test."""
    with serving(proxied_settings, app_settings, caplog) as served:
        yield served


def timed_get(client: Client, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.get(path).status
    return status, time.perf_counter() - started


def test_a_page_is_served_while_a_batch_is_stored(proxied_server, proxy, r):
    alice = Client(proxied_server.url)
    assert alice.login("alice").status == 303
    visitor = Client(proxied_server.url)  # no cookie: its GET /login touches no Redis
    status, unloaded = timed_get(visitor, "/login")  # and the template is compiled now
    assert status == 200

    create = proxy.watch(CREATE)
    with proxy.slowed(REPLY_DELAY), ThreadPoolExecutor(1) as pool:
        batch = pool.submit(alice.post, "/jobs/batch", count=str(BATCH))
        assert create.wait(30), "the batch's create never went to Redis"
        status, loaded = timed_get(visitor, "/login")
        response = batch.result(timeout=60)

    assert status == 200
    assert loaded < FAST_ENOUGH, (
        f"GET /login took {loaded:.3f} s while the batch's create waited "
        f"{REPLY_DELAY} s for Redis (unloaded: {unloaded:.3f} s): the event loop was blocked"
    )
    assert response.status == 303, response.text
    alices = group_of(r, "alice")
    ids = r.smembers(keys.group_jobs_key(alices))
    assert len(ids) == BATCH
    for job_id in ids:
        assert wait_for_status(r, job_id, "Success", timeout=30)["group"] == alices
