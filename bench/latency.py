"""3. Update latency: from ``status_update()`` on an engine to a websocket client.

A job (:func:`bench.jobs.stamps`) sets its status to ``stamp <time.time()>`` a number of
times; every client of its group receives each update, and its latency is the arrival
time minus the stamp (one machine, one clock). The server is :mod:`bench.wsserver` in
a process of its own; the clients are spread over two :mod:`bench.loadgen` processes.
Clients are all in one group (each update reaches every client), or spread over 100
groups, each with a job of its own. p50, p99 and max are taken over every client's copy
of every update of one run.

The floor, in the same run: a plain redis-py PUBLISH of ``stamp <time.time()>`` from
this process to a plain redis-py subscriber in a load generator.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import NamedTuple

import psutil

from bench import jobs
from bench.children import LoadGenerator, WsServer, split
from bench.harness import (
    STAMP_SLACK,
    Bench,
    BenchError,
    Options,
    Sample,
    alternate,
    column,
    percentiles,
)
from bench.report import Figure, Goal
from moi.job import get, submit, wait

FLOOR = "raw redis-py PUBLISH to a redis-py subscriber in another process"
FLOOR_CHANNEL = "bench-latency-floor"
FLOOR_STAMPS = 40
FLOOR_INTERVAL = 0.025
GENERATORS = 2
WAIT = 60
GRACE = 10  # for the last updates to arrive, once every job has ended


class Setup(NamedTuple):
    clients: int
    groups: int
    stamps: int
    """Updates each job sends in one run: one job per group."""
    interval: float


FULL = (
    Setup(1, 1, 20, 0.05),
    Setup(100, 1, 20, 0.05),
    Setup(100, 100, 2, 0.02),
    Setup(1000, 1, 20, 0.05),
    Setup(1000, 100, 2, 0.02),
)
QUICK = (Setup(1, 1, 5, 0.02), Setup(10, 1, 5, 0.02), Setup(10, 5, 2, 0.02))


def name(setup: Setup) -> str:
    return f"latency.c{setup.clients}_g{setup.groups}"


def moi_run(
    setup: Setup,
    groups: list[str],
    parts: list[list[str]],
    gens: list[LoadGenerator],
    server: WsServer,
) -> Sample:
    """One job per group sends its stamps; every client's copy of each is a sample."""
    for gen in gens:
        gen.call("reset")
    server.gc_pauses()
    cpu = psutil.Process(server.pid).cpu_times()
    start = time.time() - STAMP_SLACK
    ids = [
        submit(group, "stamps", None, jobs.stamps, setup.stamps, setup.interval) for group in groups
    ]
    for job_id in ids:
        if wait(job_id, timeout=WAIT)["status"] != "Success":
            raise BenchError(f"{name(setup)}: a stamps job failed: {get(job_id)}")
    samples = []
    for gen, part in zip(gens, parts, strict=True):
        answer = gen.call("latencies", expect=len(part) * setup.stamps, within=GRACE)
        samples += [ms for stamp, ms in answer["samples"] if stamp >= start]
    cpu_after = psutil.Process(server.pid).cpu_times()
    pauses = server.gc_pauses()
    expected = setup.clients * setup.stamps
    if len(samples) < expected / 2:
        raise BenchError(f"{name(setup)}: only {len(samples)} updates arrived of {expected}")
    used = cpu_after.user + cpu_after.system - cpu.user - cpu.system
    updates = setup.groups * setup.stamps
    return {
        **percentiles(samples),
        "server.cpu_ms": max(0.0, used / updates * 1e3),
        "hub.coalesced_pct": (expected - len(samples)) / expected * 100,
        "gc.count": len(pauses),
        "gc.max_ms": max(pauses, default=0.0),
    }


def floor_run(bench: Bench, gen: LoadGenerator) -> Sample:
    gen.call("reset")
    for _ in range(FLOOR_STAMPS):
        time.sleep(FLOOR_INTERVAL)
        bench.redis.publish(FLOOR_CHANNEL, f"stamp {time.time():.6f}")
    samples = [ms for _, ms in gen.call("floor", expect=FLOOR_STAMPS, within=WAIT)["samples"]]
    if len(samples) != FLOOR_STAMPS:
        raise BenchError(f"latency floor: {len(samples)} messages arrived of {FLOOR_STAMPS}")
    return percentiles(samples)


def measure_setup(
    bench: Bench,
    options: Options,
    setup: Setup,
    gens: list[LoadGenerator],
    server: WsServer,
) -> list[Figure]:
    groups = [f"bench-latency-{setup.clients}-{setup.groups}-{i}" for i in range(setup.groups)]
    clients = [groups[i % setup.groups] for i in range(setup.clients)]
    parts = split(clients, len(gens))
    started = time.perf_counter()
    for gen, part in zip(gens, parts, strict=True):
        gen.call("connect", timeout=120, port=server.port, groups=part)
    connect_s = time.perf_counter() - started
    try:
        ours, floor = alternate(
            options.repeat,
            lambda: moi_run(setup, groups, parts, gens, server),
            lambda: floor_run(bench, gens[0]),
            f"{name(setup)} ({setup.clients} clients, {setup.groups} groups)",
        )
    finally:
        for gen in gens:
            gen.call("close")
    detail = {
        "clients": setup.clients,
        "groups": setup.groups,
        "updates_per_run": setup.groups * setup.stamps,
        "samples_per_run": setup.clients * setup.stamps,
        "interval_s": setup.interval,
        "connect_s": round(connect_s, 3),
        "server_cpu_ms_per_update": statistics.median(column(ours, "server.cpu_ms")),
        # Stamps the hub read together with the next notice of their job: it sends the
        # current state, so the clients got the later one instead.
        "coalesced_pct": max(column(ours, "hub.coalesced_pct")),
        # Full collections in the server: nothing reaches any client while one runs.
        "server_full_gcs": sum(column(ours, "gc.count")),
        "server_full_gc_max_ms": max(column(ours, "gc.max_ms")),
        "floor_samples_per_run": FLOOR_STAMPS,
    }
    p99_goal = Goal("value", "<=", 25) if setup.clients == 1000 else None
    goals = {"p50": Goal("ratio", "<=", 2), "p99": p99_goal, "max": None}
    return [
        Figure(
            f"{name(setup)}.{stat}",
            "ms",
            column(ours, stat),
            column(floor, stat),
            FLOOR,
            goals[stat],
            detail,
        )
        for stat in ("p50", "p99", "max")
    ]


def measure(bench: Bench, options: Options) -> list[Figure]:
    bench.start()
    figures: list[Figure] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            WsServer(bench.workdir / "latency-server.log", bench.redis_server.url)
        )
        gens = [
            stack.enter_context(LoadGenerator(bench.workdir / f"latency-loadgen-{i}.log"))
            for i in range(GENERATORS)
        ]
        ctx = stack.enter_context(bench.moi_context())
        gens[0].call("subscribe", redis_url=bench.redis_server.url, channel=FLOOR_CHANNEL)
        # Engines import bench.jobs, the hub connects: none of it is latency.
        warm = Setup(1, 1, 2, 0.01)
        measure_setup(bench, Options(quick=True, repeat=1), warm, gens, server)
        for setup in QUICK if options.quick else FULL:
            figures += measure_setup(bench, options, setup, gens, server)
        ctx.drain(WAIT)
    return figures
