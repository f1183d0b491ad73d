"""Live output (issue #25): a printed line to a follower, a loud job, and the job page.

Against the websocket server of items 3 to 5 (:mod:`bench.wsserver`, here with moi's job
page mounted too, :func:`serve`), each beside its floor in the same run:

``output.line.*``
    A job (:func:`bench.jobs.prints_stamps`) prints ``stamp <time.time()>`` every
    :data:`INTERVAL` s; a websocket client that follows it (``moi:follow``, in a process of
    its own, :class:`Follower`) takes the arrival time of each line minus its stamp (one
    machine, one clock). The stamps start only once the follower has the job's first line,
    so each one comes live. Floor: a plain redis-py PUBLISH of the same text, from this
    process to a redis-py subscriber in the follower's process (as :mod:`bench.latency`).
``output.line_slow.*``
    The same, lines :data:`SLOW_INTERVAL` apart: each is stored alone, at once, where
    lines 25 ms apart wait for the engine's next write (it writes a busy job's output at
    most every 50 ms).
``output.loud.*``
    A job prints :data:`LOUD_RATE` lines a second (:func:`bench.jobs.prints_fast`) while a
    client follows it, and meanwhile :data:`OTHERS` clients of another group receive a
    stamps job's status updates, as :mod:`bench.latency` measures them. Their p99 is set
    beside the same updates in a quiet run; the output stored beside the cap
    (``[jobs] max_output_bytes``); the lines a second the job printed beside the same
    function printing to a plain pipe, outside moi.
``output.browser.*``
    In headless Chromium, moi's job page (``/jobs/<id>``, ``moi_output.js``): frames a second
    while it follows the loud job, beside the same page following a job that prints
    nothing; and the time from navigation until the last of 1 MiB of stored lines is
    painted, beside a plain page that fetches the same pages of output and renders them
    in one loop. Without Chromium they are left out, with a note in the table.

``python -m bench.output --redis-url URL`` is the server; ``python -m bench.output``
alone, the follower (the load generator's commands, and following a job's output).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import tornado.web

from bench import browser, jobs, latency, loadgen, wsserver
from bench.children import LoadGenerator, WsServer, split, wait_for
from bench.harness import (
    REPO_ROOT,
    Bench,
    BenchError,
    Options,
    Sample,
    alternate,
    column,
    log,
    percentiles,
    store_jobs,
)
from bench.report import Figure, Goal
from moi import keys, record
from moi.job import get, submit, wait
from moi.output import Output, fragment

GROUP = "bench-output"
OTHER_GROUP = "bench-output-others"
INTERVAL = 0.025
SLOW_INTERVAL = 0.1
"""Lines further apart than the engine's least time between two writes
(:data:`moi.capture.FLUSH_SECONDS`): each is stored alone, at once."""
LOUD_RATE = 10_000
OTHERS_INTERVAL = 0.05
WAIT = 60
GRACE = 10
TTL = 3600
PAGE_TIMEOUT = browser.PAGE_TIMEOUT
FIRST_PAINT_BYTES = 1024 * 1024
LAST_LINE = "the last line of the stored output"
LINE_FLOOR = "raw redis-py PUBLISH to a redis-py subscriber in another process"


def sizes(options: Options) -> dict[str, Any]:
    if options.quick:
        return {"stamps": 20, "loud_s": 2.0, "others": 10, "floor_print_s": 0.5}
    return {"stamps": 200, "loud_s": 10.0, "others": 100, "floor_print_s": 3.0}


# -- the follower's side (a process of its own) --------------------------------------------


def client_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client must send it (RFC 6455)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def output_of(payload: bytes) -> dict | None:
    """The value of a ``moi:output`` message, else None."""
    if not payload.startswith(b'{"moi:output"'):
        return None
    return json.loads(payload)["moi:output"]


class Follower(loadgen.LoadGenerator):
    """The load generator's commands (the floor's subscriber among them), and one client
    that follows a job's output."""

    def __init__(self) -> None:
        super().__init__()
        self.follower: loadgen.Client | None = None
        self._parsed: list[tuple[float, dict]] = []
        self._seen = 0  # the follower's messages parsed so far

    def _messages(self) -> list[tuple[float, dict]]:
        """The ``moi:output`` messages so far, with their arrival times (each parsed once)."""
        if self.follower is not None:
            received = self.follower.messages
            for arrived, payload in received[self._seen :]:
                value = output_of(payload)
                if value is not None:
                    self._parsed.append((arrived, value))
            self._seen = len(received)
        return self._parsed

    async def cmd_follow(self, port: int, group: str, job_id: str, since: int = 0) -> dict:
        """Connect as ``group`` (once its list came) and follow the job's output."""
        await self.cmd_unfollow()
        loop = asyncio.get_running_loop()
        client = loadgen.Client(port, "/moi-ws/", group, output_of_kept)
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        await asyncio.wait_for(client.first, WAIT)
        self.follower = client
        message = {"moi:follow": {"id": job_id, "since": since}}
        assert client.transport is not None
        client.transport.write(client_frame(json.dumps(message).encode()))
        return {}

    async def cmd_output_wait(self, text: str, within: float) -> dict:
        """Until a line ``text`` came; an error message from the server fails it."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:  # noqa: ASYNC110 (frames fill it, unannounced)
            for _, value in self._messages():
                if any(line[3] == text for line in value["lines"]):
                    return {}
            if self.follower is None or self.follower.closed:
                break
            await asyncio.sleep(0.005)
        raise TimeoutError(f"no line {text!r} within {within:g} s: {self._errors()}")

    def _errors(self) -> list[str]:
        if self.follower is None:
            return ["not following"]
        return [p.decode()[:200] for _, p in self.follower.messages if p.startswith(b'{"error')]

    async def cmd_output_stamps(self, expect: int, within: float, quiet: float = 0.5) -> dict:
        """Wait for ``expect`` stamped lines; return ``[stamp, latency ms]`` pairs."""
        deadline = time.monotonic() + within
        count, changed = -1, time.monotonic()
        pairs: list[tuple[float, float]] = []
        while count < expect:
            now = time.monotonic()
            if now > deadline or now - changed > quiet:
                break
            await asyncio.sleep(0.01)
            pairs = [
                (float(line[3][6:]), (arrived - float(line[3][6:])) * 1e3)
                for arrived, value in self._messages()
                for line in value["lines"]
                if line[3].startswith(loadgen.STAMP)
            ]
            if len(pairs) != count:
                count, changed = len(pairs), time.monotonic()
        return {"samples": pairs}

    async def cmd_output_summary(self) -> dict:
        """What the follower got: lines, messages, bytes, and whether in order, each once."""
        numbers = [line[0] for _, value in self._messages() for line in value["lines"]]
        payloads = self.follower.messages if self.follower is not None else []
        return {
            "lines": len(numbers),
            "messages": len(self._messages()),
            "bytes": sum(len(payload) for _, payload in payloads),
            "in_order": all(a < b for a, b in zip(numbers, numbers[1:], strict=False)),
            "last": numbers[-1] if numbers else -1,
            "errors": self._errors(),
        }

    async def cmd_close(self) -> dict:
        await self.cmd_unfollow()
        return await super().cmd_close()

    async def cmd_unfollow(self) -> dict:
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        self._parsed, self._seen = [], 0
        await asyncio.sleep(0)
        return {}


def output_of_kept(payload: bytes) -> bool:
    """Keep output messages and errors; the group's list and updates are not looked at."""
    return payload.startswith((b'{"moi:output"', b'{"error"'))


# -- the server's side: bench.wsserver with moi's job page ---------------------------------

FLOOR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>output floor</title>
<link rel="stylesheet" href="/moi-static/moi.css"></head>
<body><div class="moi-output"><div class="moi-output-lines" id="lines"></div></div>
<script>
(async function () {
  const id = new URLSearchParams(location.search).get("id");
  const lines = [];
  let since = 0;
  for (;;) {
    const response = await fetch("/jobs/" + id + "/output.json?since=" + since);
    const page = await response.json();
    lines.push(...page.lines);
    if (!page.lines.length || page.next >= page.total) break;
    since = page.next;
  }
  const box = document.getElementById("lines");
  const fragment = document.createDocumentFragment();
  for (const line of lines) {
    const el = document.createElement("div");
    el.className = "moi-line moi-line-" + line[1];
    el.textContent = line[3];
    fragment.append(el);
  }
  box.append(fragment);
})();
</script></body></html>
"""


class FloorPage(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(FLOOR_PAGE)


def serve(redis_url: str) -> None:
    """:func:`bench.wsserver.serve`, its app with the job page and the floor page added."""
    from moi import config
    from moi.client import Client
    from moi.jobpage import JobOutputHandler, JobPageHandler

    make_app = wsserver.make_app

    def with_job_page(*args: Any) -> tornado.web.Application:
        app = make_app(*args)
        options = {"client": Client(config.Settings(redis_url=redis_url))}
        app.add_handlers(
            r".*",
            [
                (r"/jobs/([^/]+)/output\.(txt|json)", JobOutputHandler, options),
                (r"/jobs/([^/]+)", JobPageHandler, options),
                (r"/bench/output-floor", FloorPage),
            ],
        )
        return app

    wsserver.make_app = with_job_page
    wsserver.raise_fd_limit()
    asyncio.run(wsserver.serve(redis_url))


class OutputServer(WsServer):
    module = "bench.output"


class FollowerProcess(LoadGenerator):
    module = "bench.output"


# -- the bench's side ----------------------------------------------------------------------


def line_run(
    bench: Bench, follower: FollowerProcess, server: WsServer, count: int, interval: float
) -> Sample:
    """One stamps job, followed from its first line; each stamped line is a sample."""
    go = f"bench-output-go-{uuid.uuid4().hex}"
    url = bench.redis_server.url
    job_id = submit(GROUP, "prints stamps", None, jobs.prints_stamps, count, interval, url, go)
    follower.call("follow", port=server.port, group=GROUP, job_id=job_id)
    follower.call("output_wait", text="ready", within=WAIT)
    start = time.time()
    bench.redis.rpush(go, "go")
    if wait(job_id, timeout=WAIT + count * interval)["status"] != "Success":
        raise BenchError(f"output.line: a stamps job failed: {get(job_id)}")
    answer = follower.call("output_stamps", expect=count, within=GRACE)
    follower.call("unfollow")
    samples = [ms for stamp, ms in answer["samples"] if stamp >= start]
    if len(samples) != count:
        raise BenchError(f"output.line: {len(samples)} stamped lines arrived of {count}")
    return percentiles(samples)


def line_figures(
    bench: Bench,
    options: Options,
    server: WsServer,
    follower: FollowerProcess,
    name: str,
    count: int,
    interval: float,
    goals: bool,
) -> list[Figure]:
    """Stamped lines ``interval`` apart to a follower, beside the raw pub/sub floor."""
    ours, floor = alternate(
        options.repeat,
        lambda: line_run(bench, follower, server, count, interval),
        lambda: latency.floor_run(bench, follower),
        f"{name} ({count} lines, {interval * 1e3:g} ms apart)",
    )
    wanted = {"p50": Goal("value", "<=", 5), "p99": Goal("value", "<=", 50), "max": None}
    detail = {
        "lines_per_run": count,
        "interval_s": interval,
        "floor_messages_per_run": latency.FLOOR_STAMPS,
    }
    return [
        Figure(
            f"{name}.{stat}",
            "ms",
            column(ours, stat),
            column(floor, stat),
            LINE_FLOOR,
            wanted[stat] if goals else None,
            detail,
        )
        for stat in ("p50", "p99", "max")
    ]


def stored(bench: Bench, job_id: str) -> dict[str, int]:
    """The job's output as stored: lines ever printed, bytes kept, bytes dropped."""
    meta = bench.redis.hmget(
        keys.output_key(job_id), ["lines", "head_bytes", "tail_bytes", "dropped_bytes"]
    )
    lines, head, tail, dropped = (int(value or 0) for value in meta)
    return {"lines": lines, "bytes": head + tail, "dropped_bytes": dropped}


class Others:
    """Clients of another group and their stamps job, measured as :mod:`bench.latency` does."""

    def __init__(self, gens: list[LoadGenerator], server: WsServer, clients: int, stamps: int):
        self.gens = gens
        self.server = server
        self.setup = latency.Setup(clients, 1, stamps, OTHERS_INTERVAL)
        self.groups = [OTHER_GROUP]
        self.parts = split([OTHER_GROUP] * clients, len(gens))
        for gen, part in zip(gens, self.parts, strict=True):
            gen.call("connect", timeout=120, port=server.port, groups=part)

    def run(self) -> Sample:
        return latency.moi_run(self.setup, self.groups, self.parts, self.gens, self.server)

    def close(self) -> None:
        for gen in self.gens:
            gen.call("close")


def loud_run(
    bench: Bench, follower: FollowerProcess, server: WsServer, others: Others, size: dict
) -> Sample:
    """The loud job, followed; the others' stamps while it prints."""
    job_id = submit(GROUP, "prints fast", None, jobs.prints_fast, LOUD_RATE, size["loud_s"])
    follower.call("follow", port=server.port, group=GROUP, job_id=job_id)
    wait_for(lambda: stored(bench, job_id)["lines"] > 0, WAIT, "the loud job's first line")
    sample = others.run()
    info = wait(job_id, timeout=WAIT + size["loud_s"])
    if info["status"] != "Success":
        raise BenchError(f"output.loud: the loud job failed: {info}")
    kept = stored(bench, job_id)
    printed = info["result"]["lines"]
    if kept["lines"] != printed:
        raise BenchError(f"output.loud: {kept['lines']} lines stored of {printed} printed")
    wait_for(
        lambda: follower.call("output_summary")["last"] >= printed - 1,
        WAIT,
        "the follower's last line of the loud job",
    )
    got = follower.call("output_summary")
    follower.call("unfollow")
    if not got["in_order"] or got["lines"] != printed:
        raise BenchError(f"output.loud: the follower got {got} of {printed} lines")
    return {
        **sample,
        "lines_per_s": printed / info["result"]["seconds"],
        "stored_bytes": kept["bytes"],
        "x.lines": printed,
        "x.dropped_bytes": kept["dropped_bytes"],
        "x.messages": got["messages"],
        "x.ws_bytes": got["bytes"],
    }


def print_floor(seconds: float) -> float:
    """Lines a second of :func:`bench.jobs.prints_fast` in a plain process, its stdout a
    pipe this process reads."""
    code = (
        "import json, sys; from bench import jobs; "
        f"sys.stderr.write(json.dumps(jobs.prints_fast({LOUD_RATE}, {seconds})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=seconds + 60,
        check=True,
    )
    result = json.loads(done.stderr)
    return result["lines"] / result["seconds"]


def quiet_run(others: Others, size: dict) -> Sample:
    """The others' stamps with nothing else running; then the printing floor."""
    sample = others.run()
    return {**sample, "lines_per_s": print_floor(size["floor_print_s"])}


def loud_figures(
    bench: Bench,
    options: Options,
    server: WsServer,
    follower: FollowerProcess,
    gens: list[LoadGenerator],
    size: dict,
) -> list[Figure]:
    stamps = int(size["loud_s"] * 0.75 / OTHERS_INTERVAL)
    others = Others(gens, server, size["others"], stamps)
    try:
        others.run()  # warm
        ours, quiet = alternate(
            options.repeat,
            lambda: loud_run(bench, follower, server, others, size),
            lambda: quiet_run(others, size),
            f"output.loud ({LOUD_RATE} lines/s for {size['loud_s']:g} s)",
        )
    finally:
        others.close()
    cap = bench.settings.max_output_bytes
    detail = {
        "rate_asked": LOUD_RATE,
        "seconds": size["loud_s"],
        "lines_printed": statistics.median(column(ours, "x.lines")),
        "dropped_bytes": statistics.median(column(ours, "x.dropped_bytes")),
        "follower_messages": statistics.median(column(ours, "x.messages")),
        "follower_bytes": statistics.median(column(ours, "x.ws_bytes")),
        "others": {
            "clients": size["others"],
            "groups": 1,
            "stamps": stamps,
            "interval_s": OTHERS_INTERVAL,
            "p50_ms_loud": statistics.median(column(ours, "p50")),
            "p50_ms_quiet": statistics.median(column(quiet, "p50")),
        },
    }
    return [
        Figure(
            "output.loud.others_p99",
            "ms",
            column(ours, "p99"),
            column(quiet, "p99"),
            "the same updates to the same clients in a quiet run",
            Goal("ratio", "<=", 1.2),
            detail,
        ),
        Figure(
            "output.loud.stored",
            "bytes",
            column(ours, "stored_bytes"),
            [float(cap)] * len(ours),
            "[jobs] max_output_bytes, the cap",
            Goal("ratio", "<=", 1),
            {"max_output_bytes": cap},
        ),
        Figure(
            "output.loud.lines_per_s",
            "lines/s",
            column(ours, "lines_per_s"),
            column(quiet, "lines_per_s"),
            "the same printing loop in a plain process, its stdout a pipe",
            detail={"rate_asked": LOUD_RATE, "floor_seconds": size["floor_print_s"]},
        ),
    ]


# -- in the browser --------------------------------------------------------------------------

PROBE = """
window.benchFrames = [];
window.benchPaint = null;
(function frame() {
  requestAnimationFrame(function (now) {
    benchFrames.push(now);
    if (benchPaint === null) {
      const box = document.querySelector(".moi-output-lines");
      const last = box && box.lastElementChild;
      if (last && last.textContent === LAST_LINE) benchPaint = performance.now();
    }
    frame();
  });
})();
""".replace("LAST_LINE", json.dumps(LAST_LINE))


class Browser:
    """Headless Chromium logged in as :data:`GROUP`, with a frame counter in every page."""

    def __init__(self, bench: Bench, url: str) -> None:
        from tests.browser import chromium

        self.chromium = chromium
        self.url = url
        self.driver = chromium.start(
            bench.workdir / "output-chromium", bench.workdir / "output-chromedriver.log"
        )
        try:
            self.driver.get(f"{url}/login?user={GROUP}&next=/bench-static/blank.html")
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
        except BaseException:
            self.close()
            raise

    def open(self, path: str) -> None:
        """``path`` from a blank page of the same site (the same renderer, the old page
        gone before the clock starts)."""
        self.driver.get(f"{self.url}/bench-static/blank.html")
        time.sleep(0.3)
        self.driver.get(f"{self.url}{path}")

    def wait(self, script: str, what: str):
        return browser.poll(self.driver, script, what, PAGE_TIMEOUT)

    def fps(self, bench: Bench, rate: int, seconds: float) -> Sample:
        """Frames a second of the job page while its job prints ``rate`` lines a second."""
        job_id = submit(GROUP, "prints fast", None, jobs.prints_fast, rate, seconds)
        self.open(f"/jobs/{job_id}")
        if rate:
            wait_for(lambda: stored(bench, job_id)["lines"] > 0, WAIT, "the loud job's output")
        else:
            wait_for(lambda: get(job_id)["status"] == "Running", WAIT, "the quiet job running")
        began = self.driver.execute_script("return performance.now()")
        info = wait(job_id, timeout=WAIT + seconds)
        ended = self.driver.execute_script("return performance.now()")
        frames = self.driver.execute_script(
            "return benchFrames.filter(t => t >= arguments[0] && t <= arguments[1]).length",
            began,
            ended,
        )
        if info["status"] != "Success":
            raise BenchError(f"output.browser: the job failed: {info}")
        return {"fps": frames / ((ended - began) / 1e3)}

    def first_paint(self, path: str) -> Sample:
        self.open(path)
        return {"ms": self.wait("return window.benchPaint", f"the last line on {path}")}

    def close(self) -> None:
        self.chromium.stop(self.driver)


def store_big_output(bench: Bench) -> str:
    """A finished job of :data:`GROUP` with :data:`FIRST_PAINT_BYTES` of stored lines."""
    info = record.new_info(GROUP, "big output", None)
    info.update(status="Success", result=None, date_start=info["date_created"])
    info["date_end"] = record.now()
    store_jobs(bench.redis, [info], TTL)
    output = Output(bench.redis)
    now = int(time.time() * 1000)
    batch: list[str] = []
    size = index = 0
    while size < FIRST_PAINT_BYTES:
        line = fragment("stdout", now, f"line {index:>9} of a long stored output, for the page")
        batch.append(line)
        size += len(line) + len(str(index)) + 3  # stored as "[n," ... "]"
        index += 1
        if len(batch) == 1000:
            output.append(info["id"], 1, batch, TTL, 0)
            batch = []
    output.append(info["id"], 1, [*batch, fragment("stdout", now, LAST_LINE)], TTL, 0)
    return info["id"]


def browser_figures(bench: Bench, options: Options, server: WsServer, size: dict) -> list[Figure]:
    from tests.browser import chromium

    missing = chromium.missing()
    if missing:
        note = f"skipped: no {' or '.join(missing)} ({chromium.INSTALL_HINT})"
        log(f"output: browser figures {note}")
        return [
            Figure("output.browser.fps", "frames/s", [], goal=Goal("value", ">=", 30), note=note),
            Figure(
                "output.browser.first_paint", "ms", [], goal=Goal("value", "<=", 500), note=note
            ),
        ]
    browser = Browser(bench, server.url)
    try:
        seconds = size["loud_s"]
        browser.fps(bench, LOUD_RATE, 1.0)  # warm
        loud, quiet = alternate(
            options.repeat,
            lambda: browser.fps(bench, LOUD_RATE, seconds),
            lambda: browser.fps(bench, 0, seconds),
            f"output.browser fps ({LOUD_RATE} lines/s for {seconds:g} s)",
        )
        job_id = store_big_output(bench)
        page, floor = f"/jobs/{job_id}", f"/bench/output-floor?id={job_id}"
        browser.first_paint(page)  # warm
        browser.first_paint(floor)
        ours, plain = alternate(
            options.repeat,
            lambda: browser.first_paint(page),
            lambda: browser.first_paint(floor),
            "output.browser first paint (1 MiB stored)",
        )
        version = browser.driver.capabilities.get("browserVersion", "")
    finally:
        browser.close()
    lines = stored(bench, job_id)
    return [
        Figure(
            "output.browser.fps",
            "frames/s",
            column(loud, "fps"),
            column(quiet, "fps"),
            "the same page following a job that prints nothing",
            Goal("value", ">=", 30),
            {"rate": LOUD_RATE, "seconds": seconds, "browser": version},
        ),
        Figure(
            "output.browser.first_paint",
            "ms",
            column(ours, "ms"),
            column(plain, "ms"),
            "the same pages of output fetched by a plain page, rendered in one loop",
            Goal("value", "<=", 500),
            {"stored_bytes": lines["bytes"], "lines": lines["lines"], "browser": version},
        ),
    ]


def measure(bench: Bench, options: Options) -> list[Figure]:
    bench.start()
    size = sizes(options)
    figures: list[Figure] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            OutputServer(bench.workdir / "output-server.log", bench.redis_server.url)
        )
        follower = stack.enter_context(FollowerProcess(bench.workdir / "output-follower.log"))
        gens = [
            stack.enter_context(LoadGenerator(bench.workdir / f"output-loadgen-{i}.log"))
            for i in range(latency.GENERATORS)
        ]
        ctx = stack.enter_context(bench.moi_context())
        url = bench.redis_server.url
        follower.call("subscribe", redis_url=url, channel=latency.FLOOR_CHANNEL)
        line_run(bench, follower, server, 4, INTERVAL)  # warm: imports, the hub's subscription
        figures += line_figures(
            bench, options, server, follower, "output.line", size["stamps"], INTERVAL, True
        )
        slow = size["stamps"] // 2
        figures += line_figures(
            bench, options, server, follower, "output.line_slow", slow, SLOW_INTERVAL, False
        )
        follower.call("unsubscribe")
        figures += loud_figures(bench, options, server, follower, gens, size)
        figures += browser_figures(bench, options, server, size)
        ctx.drain(WAIT)
    return figures


def main() -> None:
    if "--redis-url" in sys.argv:
        serve(sys.argv[sys.argv.index("--redis-url") + 1])
        return
    loadgen.raise_fd_limit()
    asyncio.run(loadgen.serve(Follower()))


if __name__ == "__main__":
    main()
