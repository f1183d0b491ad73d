"""5. Big job lists: a group of 10,000 finished jobs, read, sent and rendered.

The jobs are stored directly, as an engine leaves them (one transaction,
:func:`bench.harness.store_jobs`). Then:

- ``moi.group.jobs()``, against one SMEMBERS + MGET of the same keys with redis-py;
- a new websocket client of the group (in a :mod:`bench.loadgen` process), timed from
  its connect until it has the ``add`` and all 10,000 updates, against the same
  SMEMBERS + MGET from that process;
- in headless Chromium (:mod:`bench.browser`): the list page loaded until every row is
  rendered, and kept live under :data:`RATE` updates a second.

Without Chromium the browser figures are left out, with a note in the table.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from bench import browser
from bench.children import LoadGenerator, WsServer
from bench.harness import Bench, BenchError, Options, Sample, alternate, column, store_jobs
from bench.report import Figure, Goal
from moi import context, group, keys, record
from moi.sync import SyncClient

GROUP = browser.GROUP
TTL = browser.TTL
RUNNING = 100
RATE = 1000
STREAM_S = 5.0
PAGE_TIMEOUT = browser.PAGE_TIMEOUT
REDIS_FLOOR = "one SMEMBERS + MGET with redis-py, no decoding"


def sizes(options: Options) -> dict[str, Any]:
    if options.quick:
        return {"jobs": 200, "running": 10, "rate": 100, "stream_s": 2.0}
    return {"jobs": 10_000, "running": RUNNING, "rate": RATE, "stream_s": STREAM_S}


def store(bench: Bench, count: int, status: str = "Success") -> list[dict]:
    """``count`` jobs of :data:`GROUP`, stored in one transaction and announced, as
    ``submit_many`` does (but queued nowhere)."""
    infos = []
    for index in range(count):
        info = record.new_info(GROUP, f"job {index}", "/result/bench")
        info.update(status=status, result=index if status == "Success" else None)
        if status == "Success":
            info.update(date_start=info["date_created"], date_end=record.now())
        infos.append(info)
    store_jobs(bench.redis, infos, TTL)
    return infos


@contextlib.contextmanager
def moi_default(bench: Bench) -> Iterator[SyncClient]:
    """A moi client on the bench's Redis (no cluster: only ``group.jobs`` runs)."""
    ctx = SyncClient(bench.settings)
    previous = context.set_default(ctx)
    try:
        ctx.jobs("no-such-group")  # connected: a handshake is no read's cost
        yield ctx
    finally:
        context.set_default(previous)
        ctx.close()


def group_jobs_figure(bench: Bench, options: Options, jobs: int) -> Figure:
    def ours() -> Sample:
        start = time.perf_counter()
        listed = group.jobs(GROUP)
        seconds = time.perf_counter() - start
        if len(listed) != jobs:
            raise BenchError(f"group.jobs listed {len(listed)} jobs of {jobs}")
        return {"ms": seconds * 1e3}

    def floor() -> Sample:
        start = time.perf_counter()
        ids = bench.redis.smembers(keys.group_jobs_key(GROUP))
        raws = bench.redis.mget([keys.job_key(i) for i in ids])
        seconds = time.perf_counter() - start
        if len(raws) != jobs:
            raise BenchError(f"the floor read {len(raws)} jobs of {jobs}")
        return {"ms": seconds * 1e3}

    with moi_default(bench):
        ours()  # connected, warm
        moi, raw = alternate(options.repeat, ours, floor, f"group.jobs ({jobs} jobs)")
    return Figure(
        "biglist.group_jobs",
        "ms",
        column(moi, "ms"),
        column(raw, "ms"),
        REDIS_FLOOR,
        detail={"jobs": jobs},
    )


def websocket_figure(
    bench: Bench, options: Options, jobs: int, server: WsServer, gen: LoadGenerator
) -> Figure:
    def ours() -> Sample:
        answer = gen.call("whole_list", port=server.port, group=GROUP, within=PAGE_TIMEOUT)
        if answer["jobs"] != jobs or answer["updates"] != jobs:
            raise BenchError(f"a new client got {answer['updates']} updates of {jobs}")
        return {"ms": answer["seconds"] * 1e3, "first.ms": answer["first_s"] * 1e3}

    def floor() -> Sample:
        answer = gen.call("read_redis", redis_url=bench.redis_server.url, group=GROUP)
        return {"ms": answer["seconds"] * 1e3}

    ours()
    moi, raw = alternate(options.repeat, ours, floor, f"websocket list ({jobs} jobs)")
    return Figure(
        "biglist.websocket",
        "ms",
        column(moi, "ms"),
        column(raw, "ms"),
        REDIS_FLOOR + ", from the load generator",
        Goal("value", "<=", 500),
        {"jobs": jobs, "first_message_ms": statistics.median(column(moi, "first.ms"))},
    )


def measure(bench: Bench, options: Options) -> list[Figure]:
    bench.start()
    size = sizes(options)
    bench.redis.delete(keys.group_jobs_key(GROUP))
    store(bench, size["jobs"])
    figures = [group_jobs_figure(bench, options, size["jobs"])]
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            WsServer(bench.workdir / "biglist-server.log", bench.redis_server.url)
        )
        gen = stack.enter_context(LoadGenerator(bench.workdir / "biglist-loadgen.log"))
        figures.append(websocket_figure(bench, options, size["jobs"], server, gen))
        figures += browser.figures(bench, server, gen, options, size, partial(store, bench))
    return figures
