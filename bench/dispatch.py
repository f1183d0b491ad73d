"""1. Dispatch throughput: trivial jobs through ``moi.job.submit`` against bare ipyparallel.

moi's clock runs from the first ``submit`` until the client has every task back, as a
script's ``drain()`` waits; an engine returns a job's task only after it stored the
job's final state (and published its notice), so the state is in Redis then, and one
MGET afterwards checks every result. The floor sends the same function with
``load_balanced_view().apply_async`` on the same cluster, from a client of its own, and
its clock stops when every result is back: the same event on both sides, each waited
on, never polled. (Until 2026-11-30 moi's clock stopped at the last final notice, heard
by a pub/sub listener in the submitting process: the bench's own listener, which the
floor does not carry, cost that process about a tenth of its CPU.)
"""

from __future__ import annotations

import concurrent.futures
import statistics
import time

from bench import jobs
from bench.harness import (
    Bench,
    BenchError,
    Options,
    Sample,
    alternate,
    check_doubled,
    column,
)
from bench.report import Figure, Goal
from moi.job import submit

GROUP = "bench-dispatch"
WARMUP = 20
FLOOR = "bare ipyparallel load_balanced_view().apply_async, same function and cluster"


def sizes(options: Options) -> int:
    return 40 if options.quick else 2000


def _timeout(jobs_count: int) -> float:
    return 60 + jobs_count / 10  # far beyond a slow run: 10 jobs/s


def moi_run(bench: Bench, count: int) -> Sample:
    """Submit ``count`` jobs through moi; time until every one is back, its end stored."""
    bench.redis.flushdb()
    with bench.moi_context() as ctx:
        cpu_before = bench.cpu.read()
        start = time.perf_counter()
        ids = [submit(GROUP, "double", None, jobs.double, index) for index in range(count)]
        submitted = time.perf_counter()
        ctx.drain(_timeout(count))
        finished = time.perf_counter()
        cpu = bench.cpu.per_job(cpu_before, bench.cpu.read(), count)
    check_doubled(bench.redis, ids)
    return {**_sample(count, start, submitted, finished), **cpu}


def bare_run(bench: Bench, count: int) -> Sample:
    """Send the same ``count`` calls with bare ipyparallel; time until every result is back."""
    with bench.bare_client() as client:
        view = client.load_balanced_view()
        cpu_before = bench.cpu.read()
        start = time.perf_counter()
        futures = [view.apply_async(jobs.double, index) for index in range(count)]
        submitted = time.perf_counter()
        _, pending = concurrent.futures.wait(futures, timeout=_timeout(count))
        finished = time.perf_counter()
        cpu = bench.cpu.per_job(cpu_before, bench.cpu.read(), count)
        if pending:
            raise BenchError(f"{len(pending)} of {count} bare tasks not back in time")
        results = [future.result() for future in futures]
    if results != [2 * index for index in range(count)]:
        raise BenchError("bare ipyparallel returned wrong results")
    return {**_sample(count, start, submitted, finished), **cpu}


def _sample(count: int, start: float, submitted: float, finished: float) -> Sample:
    return {
        "jobs_per_s": count / (finished - start),
        "seconds": finished - start,
        "submit_us": (submitted - start) / count * 1e6,
    }


def measure(bench: Bench, options: Options) -> list[Figure]:
    count = sizes(options)
    bench.start()
    moi_run(bench, WARMUP)  # engines import the job module, clients connect
    bare_run(bench, WARMUP)
    ours, floor = alternate(
        options.repeat,
        lambda: moi_run(bench, count),
        lambda: bare_run(bench, count),
        f"dispatch ({count} jobs)",
    )
    detail = {"jobs": count, "engines": bench.engines}
    cpu_detail = {
        **detail,
        "moi_cpu_ms": _parts(ours),
        "bare_cpu_ms": _parts(floor),
    }
    return [
        Figure(
            "dispatch.throughput",
            "jobs/s",
            column(ours, "jobs_per_s"),
            column(floor, "jobs_per_s"),
            FLOOR,
            Goal("ratio", ">=", 0.9),
            detail,
        ),
        Figure(
            "dispatch.time",
            f"s/{count} jobs",
            column(ours, "seconds"),
            column(floor, "seconds"),
            FLOOR,
            detail=detail,
        ),
        Figure(
            "dispatch.submit_call",
            "µs/call",
            column(ours, "submit_us"),
            column(floor, "submit_us"),
            "one apply_async call (the floor's submit)",
            detail=detail,
        ),
        Figure(
            "dispatch.cpu",
            "CPU ms/job",
            column(ours, "cpu_ms"),
            column(floor, "cpu_ms"),
            "bare ipyparallel; all processes (client, controller, engines, Redis)",
            detail=cpu_detail,
        ),
    ]


def _parts(samples: list[Sample]) -> dict[str, float]:
    """Median CPU ms per job of each process part."""
    names = sorted(key for key in samples[0] if key.startswith("cpu_ms."))
    return {n.removeprefix("cpu_ms."): statistics.median(column(samples, n)) for n in names}
