"""5. Big job lists: a group of 10,000 finished jobs, read, sent and rendered; then
100,000 (issue #26).

The jobs are stored directly, as an engine leaves them (one transaction,
:func:`bench.harness.store_jobs`). Then:

- ``moi.group.jobs()``, against one SMEMBERS + MGET of the same keys with redis-py;
- a new websocket client of the group (in a :mod:`bench.loadgen` process), timed from
  its connect until it has the ``add`` and all 10,000 infos (``update`` lists of up to
  1,000), against the same SMEMBERS + MGET from that process;
- in headless Chromium (:mod:`bench.browser`'s pages and helpers): the list page
  (``moi_list.js``, windowed) loaded until the whole list is in its model and view,
  against a page that renders every row from one fetch;
- with 100,000 jobs: the first rows and the whole list, and the page's JS heap, against
  a page that fetches the same records and renders the rows in sight; the list kept live
  under :data:`RATE` updates a second (lag p99 and frames a second); and a search of the
  100,000 names, against the same names filtered as a plain array in the same page.

Without Chromium the browser figures are left out, with a note in the table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from bench import browser
from bench.children import LoadGenerator, WsServer
from bench.harness import (
    Bench,
    BenchError,
    Options,
    Sample,
    alternate,
    column,
    log,
    store_jobs,
)
from bench.report import Figure, Goal
from moi import context, group, keys, record
from moi.sync import SyncClient

GROUP = browser.GROUP
TTL = browser.TTL
BIG = 100_000
RUNNING = 100
RATE = 1000
FIRST_ROWS = 40
"""Rows the 100,000-job floor renders: more than a screen of the list shows."""
QUERIES = ["job 9", "job 12", "job 4242", "job 99999", "no such job"]
"""Searches timed on the 100,000-job list: many matches, a few, one, none."""
STREAM_S = 5.0
PAGE_TIMEOUT = browser.PAGE_TIMEOUT
REDIS_FLOOR = "one SMEMBERS + MGET with redis-py, no decoding"


def sizes(options: Options) -> dict[str, Any]:
    if options.quick:
        return {"jobs": 200, "big": 2000, "running": 10, "rate": 100, "stream_s": 2.0}
    return {"jobs": 10_000, "big": BIG, "running": RUNNING, "rate": RATE, "stream_s": STREAM_S}


def store(bench: Bench, count: int, status: str = "Success", first: int = 0) -> list[dict]:
    """``count`` jobs of :data:`GROUP` ("job <first>" on), stored in one transaction and
    announced, as ``submit_many`` does (but queued nowhere)."""
    infos = []
    for index in range(first, first + count):
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
        if answer["jobs"] != jobs or answer["infos"] != jobs:
            raise BenchError(f"a new client got {answer['infos']} infos of {jobs} jobs")
        return {
            "ms": answer["seconds"] * 1e3,
            "first.ms": answer["first_s"] * 1e3,
            "messages": answer["update_messages"],
        }

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
        {
            "jobs": jobs,
            "update_messages": statistics.median(column(moi, "messages")),
            "first_message_ms": statistics.median(column(moi, "first.ms")),
        },
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
        figures += browser_figures(bench, server, gen, options, size, partial(store, bench))
    return figures


class WindowedPage(browser.Page):
    """:class:`bench.browser.Page` with what the 100,000-job figures add: the first rows'
    time, the JS heap, and the floor that renders only the rows in sight."""

    def heap_mb(self) -> float:
        """The page's JS heap in use after a garbage collection, in MB."""
        self.driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        got = self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        return next(m["value"] for m in got if m["name"] == "JSHeapUsedSize") / 1e6

    def list_load(self) -> Sample:
        sample = super().list_load()
        sample["first.ms"] = self.driver.execute_script("return benchProbe.firstRowsAt")
        sample["heap.mb"] = self.heap_mb()
        return sample

    def window_floor_load(self) -> Sample:
        """The floor of the 100,000-job list: one fetch, the first :data:`FIRST_ROWS` rows."""
        self.open(f"/floor-list?group={GROUP}&window={FIRST_ROWS}")
        ms = self.wait("return window.benchFloor && benchFloor.renderedAt", "floor page")
        return {"ms": ms, "heap.mb": self.heap_mb()}


def browser_figures(
    bench: Bench, server: WsServer, gen: LoadGenerator, options: Options, size: dict, store
) -> list[Figure]:
    """The 10,000-job render, then the 100,000-job figures; skipped without Chromium."""
    from tests.browser import chromium

    names = [
        ("biglist.browser_render", "ms"),
        ("biglist.browser_first_rows_100k", "ms"),
        ("biglist.browser_complete_100k", "ms"),
        ("biglist.browser_heap_100k", "MB"),
        ("biglist.browser_lag_p99_100k", "ms"),
        ("biglist.browser_fps_100k", "frames/s"),
        ("biglist.search_100k", "ms"),
    ]
    missing = chromium.missing()
    if missing:
        note = f"skipped: no {' or '.join(missing)} ({chromium.INSTALL_HINT})"
        log(f"biglist: browser figures {note}")
        return [Figure(name, unit, [], note=note) for name, unit in names]
    driver = chromium.start(bench.workdir / "chromium-profile", bench.workdir / "chromedriver.log")
    try:
        page = WindowedPage(driver, server.url)
        figures = [render_figure(page, options, size)]
        store(size["big"] - size["jobs"], "Success", first=size["jobs"])
        figures += big_list_figures(page, options, size)
        figures += live_figures(bench, page, gen, server.port, size, store)
        return figures
    finally:
        chromium.stop(driver)


def render_figure(page: WindowedPage, options: Options, size: dict) -> Figure:
    page.list_load()  # warm: the browser's caches, the server's code paths
    page.floor_load()
    ours, floor = alternate(
        options.repeat, page.list_load, page.floor_load, f"browser list ({size['jobs']} jobs)"
    )
    return Figure(
        "biglist.browser_render",
        "ms",
        column(ours, "ms"),
        column(floor, "ms"),
        browser.PAGE_FLOOR,
        Goal("value", "<=", 300),
        {
            "jobs": size["jobs"],
            "first_rows_ms": statistics.median(column(ours, "first.ms")),
            "list_at_page_ms": statistics.median(column(ours, "add.ms")),
            "last_update_at_page_ms": statistics.median(column(ours, "messages.ms")),
            "renderer_ms": {
                key: statistics.median(column(ours, f"{key}.ms"))
                for key in browser.RENDERER_METRICS
            },
            "browser": page.driver.capabilities.get("browserVersion", ""),
        },
    )


def big_list_figures(page: WindowedPage, options: Options, size: dict) -> list[Figure]:
    """The 100,000-job list: first rows, complete, heap; and a search of its names."""
    jobs = size["big"]
    floor_label = f"the same records fetched as one JSON array, the first {FIRST_ROWS} rendered"
    page.list_load()
    page.window_floor_load()
    ours, floor = alternate(
        options.repeat, page.list_load, page.window_floor_load, f"browser list ({jobs} jobs)"
    )
    detail = {
        "jobs": jobs,
        "list_at_page_ms": statistics.median(column(ours, "add.ms")),
        "last_update_at_page_ms": statistics.median(column(ours, "messages.ms")),
        "renderer_ms": {
            key: statistics.median(column(ours, f"{key}.ms")) for key in browser.RENDERER_METRICS
        },
    }
    search = search_figure(page, options, jobs)
    return [
        Figure(
            "biglist.browser_first_rows_100k",
            "ms",
            column(ours, "first.ms"),
            column(floor, "ms"),
            floor_label,
            Goal("value", "<=", 500),
            detail,
        ),
        Figure(
            "biglist.browser_complete_100k",
            "ms",
            column(ours, "ms"),
            column(floor, "ms"),
            floor_label,
            Goal("value", "<=", 2000),
            {"jobs": jobs, "complete_means": "every job in the list's model and view, drawn"},
        ),
        Figure(
            "biglist.browser_heap_100k",
            "MB",
            column(ours, "heap.mb"),
            column(floor, "heap.mb"),
            floor_label + ", the array kept",
            detail={"jobs": jobs, "what": "CDP Performance.getMetrics JSHeapUsedSize after a GC"},
        ),
        search,
    ]


def search_figure(page: WindowedPage, options: Options, jobs: int) -> Figure:
    """A search from nothing to each of :data:`QUERIES`: the list's setSearch + flush
    (its view made again and its window drawn), against a plain array filter."""
    page.list_load()
    ours: list[float] = []
    floor: list[float] = []
    matches: dict[str, int] = {}
    for _ in range(options.repeat):
        runs = page.driver.execute_script("return benchProbe.search(arguments[0])", QUERIES)
        for query, (ms, floor_ms, found, floor_found) in zip(QUERIES, runs, strict=True):
            if found != floor_found:
                raise BenchError(
                    f"search {query!r}: the list found {found}, the floor {floor_found}"
                )
            ours.append(ms)
            floor.append(floor_ms)
            matches[query] = found
    log(f"biglist: search of {jobs} names: max {max(ours):.1f} ms, floor max {max(floor):.1f} ms")
    return Figure(
        "biglist.search_100k",
        "ms",
        ours,
        floor,
        "the same names, lower-cased, filtered as a plain array in the same page",
        Goal("value", "<=", 16),
        {"jobs": jobs, "queries": matches, "max_ms": max(ours), "samples": "each query, each run"},
    )


def live_figures(
    bench: Bench, page: WindowedPage, gen: LoadGenerator, port: int, size: dict, store
) -> list[Figure]:
    """:func:`bench.browser.lag_figure` on the 100,000-job list: lag p99 and frames a second."""
    big = {**size, "jobs": size["big"]}
    lag = browser.lag_figure(bench, page, gen, port, big, store)
    fps = lag.detail["frames_per_s"]
    return [
        dataclasses.replace(
            lag, name="biglist.browser_lag_p99_100k", goal=Goal("value", "<=", 100)
        ),
        Figure(
            "biglist.browser_fps_100k",
            "frames/s",
            [fps],
            goal=Goal("value", ">=", 50),
            detail={"jobs_listed": lag.detail["jobs_listed"], "during": "the update stream"},
        ),
    ]
