"""``python -m app`` (what ``make run`` starts) killed with SIGKILL: its servers die too.

A killed process cannot stop what it started; its watchdog does. And a second start on
the same data directory while a Redis still runs there is refused, never a second Redis.
"""

from __future__ import annotations

import signal

import psutil
import pytest

from app.keys import USERS_KEY
from moi.embedded import EmbeddedError, RedisServer, free_port
from tests.app.conftest import Client
from tests.app.test_main import alive, launch, private_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.faults


def test_a_killed_demo_leaves_no_server_running_and_starts_again(launch, tmp_path):  # noqa: F811
    config = f"[ipyparallel]\nengines = 1\n[app]\nvar_dir = {tmp_path / 'var'}\n"
    app = launch(config)
    app.wait_ready()
    assert Client(app.url).login("alice").status == 303  # an account, in the AOF
    children = app.descendants()
    assert any(p.name() == "redis-server" for p in children)
    assert len(children) >= 4  # Redis, controller, engine, its nanny

    app.process.send_signal(signal.SIGKILL)
    app.wait(10)
    _, left = psutil.wait_procs(alive(children), timeout=30)
    assert alive(left) == [], [p.cmdline() for p in alive(left)]

    again = launch(config)
    again.wait_ready()
    store = private_redis(again)
    try:
        assert store.hexists(USERS_KEY, "alice")  # the account made before the kill
    finally:
        store.close()
    assert again.stop() == 0


def test_a_second_redis_on_the_same_data_is_refused(tmp_path):
    with RedisServer(free_port(), tmp_path, persist=True) as first:
        second = RedisServer(free_port(), tmp_path, persist=True)
        with pytest.raises(EmbeddedError, match=f"another Redis \\(pid {first.pid}\\)"):
            second.start()
        assert second.process is None
    # Stopped: the directory is free again.
    with RedisServer(free_port(), tmp_path, persist=True) as third:
        assert third.pid is not None
