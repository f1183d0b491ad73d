"""5, in the browser: the pages and helpers :mod:`bench.biglist` measures the list with.

:class:`Page` opens the bench's pages of :mod:`bench.wsserver` in headless Chromium:
``/list`` (``moi.js`` + ``moi_list.js``, windowed: only the rows in sight are in the DOM,
so the list's own count of jobs stands for "rendered") and the floor page that fetches
the same records as one JSON array. :func:`lag_figure` keeps the open list live: jobs of
the group run and their status is written :data:`~bench.biglist.RATE` times a second
for :data:`~bench.biglist.STREAM_S` seconds (moi's update script, as engines write it).
A probe in the page (``pages/probe.js``) reads, every frame, the newest update its rows
show: how far behind the rendered list is, per second of the stream, against how far
behind the same updates reach a raw websocket client of the group in the load generator.

Chromium's own counters (``Performance.getMetrics``: script, style, layout) are kept
with the figures, to tell where the page's time goes.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from bench.children import LoadGenerator, wait_for
from bench.harness import Bench, BenchError, Sample, log, percentiles
from bench.report import Figure
from moi import record

GROUP = "bench-biglist"
TTL = 3600
KEEP_UP_MS = 250
PAGE_TIMEOUT = 60
RENDERER_METRICS = {  # Chromium's Performance.getMetrics names, in seconds
    "busy": "TaskDuration",
    "script": "ScriptDuration",
    "style": "RecalcStyleDuration",
    "layout": "LayoutDuration",
}
PAGE_FLOOR = "the same records fetched as one JSON array, rendered in one loop"


def poll(driver, script: str, what: str, timeout: float = PAGE_TIMEOUT):
    """Run ``script`` in the page until it returns something other than null; that."""
    found: list = []

    def ready() -> bool:
        value = driver.execute_script(script)
        if value is not None:
            found.append(value)
        return bool(found)

    wait_for(ready, timeout, what, interval=0.02)
    return found[0]


class Page:
    """The bench's pages in one headless Chromium, logged in as :data:`GROUP`."""

    def __init__(self, driver, url: str) -> None:
        self.driver = driver
        self.url = url
        driver.get(f"{url}/login?user={GROUP}&next=/bench-static/blank.html")
        driver.execute_cdp_cmd("Performance.enable", {})

    def metrics(self) -> dict[str, float]:
        """The renderer's running totals: milliseconds of script, style and layout work."""
        got = self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        values = {metric["name"]: metric["value"] for metric in got}
        return {f"{key}.ms": values.get(name, 0.0) * 1e3 for key, name in RENDERER_METRICS.items()}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {key: after[key] - before[key] for key in before}

    def open(self, path: str) -> dict[str, float]:
        """Load ``path`` from a blank page of the same site, the old page gone.

        The same site keeps the same renderer process (no process start in the figure),
        and the pause lets the previous page, with its thousands of rows, be torn down
        before the clock of the next one starts.

        :returns: the renderer's :meth:`metrics` just before ``path`` was asked for.
        """
        self.driver.get(f"{self.url}/bench-static/blank.html")
        time.sleep(0.3)
        before = self.metrics()
        self.driver.get(f"{self.url}{path}")
        return before

    def wait(self, script: str, what: str, timeout: float = PAGE_TIMEOUT):
        """Poll ``script`` until it returns something; return that."""
        return poll(self.driver, script, what, timeout)

    def list_load(self) -> Sample:
        before = self.open("/list")
        rendered = self.wait("return benchProbe.renderedAt", "the list page rendering")
        added, arrived = self.driver.execute_script(
            "return [benchProbe.addAt, benchProbe.lastMessageAt]"
        )
        return {
            "ms": rendered,
            "add.ms": added,
            "messages.ms": arrived,
            **self.spent(before, self.metrics()),
        }

    def floor_load(self) -> Sample:
        self.open(f"/floor-list?group={GROUP}")
        return {"ms": self.wait("return window.benchFloor && benchFloor.renderedAt", "floor page")}

    def rows(self) -> int:
        """The jobs the list shows (its own count: the DOM holds only the rows in sight),
        or -1 while a row still waits for its info."""
        script = (
            "const list = window.benchProbe && benchProbe.list;"
            "return !list || list.el.getElementsByClassName('moi-job-pending').length ? -1"
            " : list.matchCount;"
        )
        return self.driver.execute_script(script)


Store = Callable[[int, str], list[dict]]


def lag_figure(
    bench: Bench, page: Page, gen: LoadGenerator, port: int, size: dict, store: Store
) -> Figure:
    """Stream updates to the open list page; how far behind its rows are, per second.

    Beside it, how far behind the same updates reach a raw client of the same group
    (in the load generator): what the server and the network leave to the page.
    """
    page.list_load()
    running = store(size["running"], "Running")
    total = size["jobs"] + size["running"]
    wait_for(lambda: page.rows() == total, PAGE_TIMEOUT, f"{total} rows on the page")
    gen.call("connect", timeout=PAGE_TIMEOUT, port=port, groups=[GROUP])
    try:
        gen.call("reset")
        page.driver.execute_script("benchProbe.startLag(arguments[0])", [i["id"] for i in running])
        time.sleep(0.3)
        before = page.metrics()
        sent = stream(bench, running, size["rate"], size["stream_s"])
        spent = page.spent(before, page.metrics())
        time.sleep(1.0)
        lag = page.driver.execute_script("return benchProbe.stopLag()")
        raw = gen.call("latencies", expect=sent["updates"], within=PAGE_TIMEOUT, quiet=1.0)
    finally:
        gen.call("close")
    seconds = round(size["stream_s"])
    start = sent["start"]
    frames = windows(
        lag["frames"], start, seconds, lambda now, newest: now - newest if newest else None
    )
    at_page = windows(lag["arrivals"], start, seconds, lambda _now, late: late)
    at_client = windows(
        [[stamp * 1e3, late] for stamp, late in raw["samples"]], start, seconds, lambda _t, x: x
    )
    catch_up = next(
        (now - sent["last_ms"] for now, newest in lag["frames"] if newest >= sent["last_ms"]),
        float("nan"),
    )
    kept_up = catch_up <= KEEP_UP_MS
    during = [now for now, _ in lag["frames"] if start <= now <= sent["end"]]
    fps = len(during) / ((sent["end"] - start) / 1e3)
    verdict = "kept up" if kept_up else "FELL BEHIND"
    log(
        f"biglist: {sent['updates']} updates at {sent['rate']:.0f}/s; page {verdict}, "
        f"caught up {catch_up:.0f} ms after the last, {fps:.1f} frames/s"
    )
    p50 = [percentiles(window)["p50"] for window in frames]
    return Figure(
        "biglist.browser_lag_p99",
        "ms",
        [percentiles(window)["p99"] for window in frames],
        [percentiles(window)["p99"] for window in at_client],
        "the same updates at a raw websocket client of the group",
        note=f"{verdict}: caught up {catch_up:.0f} ms after the last update, {fps:.0f} frames/s",
        detail={
            "samples": f"p99 of each second of a {seconds} s stream",
            "jobs_listed": total,
            "jobs_updated": size["running"],
            "updates": sent["updates"],
            "rate_per_s": round(sent["rate"]),
            "rendered_lag_p50_ms": statistics.median(p50),
            "arrival_at_page_p99_ms": statistics.median(
                percentiles(window)["p99"] for window in at_page
            ),
            "frames_per_s": round(fps, 1),
            "renderer_ms_per_s": {
                key: spent[f"{key}.ms"] / size["stream_s"] for key in RENDERER_METRICS
            },
            "catch_up_ms": catch_up,
            "kept_up": kept_up,
            "kept_up_means": f"the last update shown within {KEEP_UP_MS} ms of being written",
        },
    )


def stream(bench: Bench, infos: list[dict], rate: float, seconds: float) -> dict[str, float]:
    """Write ``stamp <time>`` statuses round-robin at ``rate`` per second, from a thread."""
    writer = record.Writer(bench.redis)
    count = int(rate * seconds)
    out: dict[str, float] = {}

    def run() -> None:
        start = time.perf_counter()
        out["start"] = time.time() * 1e3
        for index in range(count):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            info = infos[index % len(infos)]
            info["status"] = f"stamp {time.time():.6f}"
            writer.update(info, TTL)
        out["end"] = time.time() * 1e3
        out["last_ms"] = float(infos[(count - 1) % len(infos)]["status"][6:]) * 1e3
        out["rate"] = count / (time.perf_counter() - start)

    thread = threading.Thread(target=run, name="update-stream")
    thread.start()
    thread.join(seconds * 10 + 30)
    if thread.is_alive() or "rate" not in out:
        raise BenchError("the update stream did not finish")
    return {**out, "updates": count}


def windows(pairs: list[list[float]], start_ms: float, seconds: int, value) -> list[list[float]]:
    """``value(time, x)`` of ``[time ms, x]`` pairs, one list per second from ``start_ms``.

    None values are left out.
    """
    out: list[list[float]] = [[] for _ in range(seconds)]
    for now, x in pairs:
        index = int((now - start_ms) // 1000)
        if 0 <= index < seconds and (y := value(now, x)) is not None:
            out[index].append(y)
    if not all(out):
        raise BenchError("a second of the stream has no samples from the page")
    return out
