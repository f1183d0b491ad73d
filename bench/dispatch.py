"""1. Dispatch: trivial jobs through ``moi.job.submit``, one call each, against bare ipyparallel.

Throughput: moi's clock runs from the first ``submit`` until ``drain()`` returns, when
the final state of every job the client submitted is in Redis (``submit`` stores a job
in moi's queue; the client, as the dispatcher, keeps a task on each engine that takes
jobs from there). One MGET afterwards checks every result. The floor sends the same
function with ``load_balanced_view().apply_async`` on the same cluster, from a client of
its own, and its clock stops when every result is back: the same event on both sides,
each waited on, never polled. (Until 2026-11-30 moi's clock stopped at the last final
notice, heard by a pub/sub listener in the submitting process: the bench's own
listener, which the floor does not carry, cost that process about a tenth of its CPU.)

Round trip: one job at a time, from ``submit`` until ``wait`` returns its final state,
against ``apply_async(...).get()``; p50 and p99 of each run's jobs.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import time
from collections.abc import Callable

from bench import jobs
from bench.harness import (
    Bench,
    BenchError,
    Options,
    Sample,
    alternate,
    check_doubled,
    column,
    percentiles,
)
from bench.report import Figure, Goal
from moi.job import submit, wait

GROUP = "bench-dispatch"
WARMUP = 20
FLOOR = "bare ipyparallel load_balanced_view().apply_async, same function and cluster"
ROUND_TRIP_FLOOR = "bare ipyparallel apply_async(...).get(), one job at a time"


def sizes(options: Options) -> int:
    return 40 if options.quick else 2000


def round_trips(options: Options) -> int:
    """Jobs, one after another, in each run of the round trip."""
    return 10 if options.quick else 200


def _timeout(jobs_count: int) -> float:
    return 60 + jobs_count / 10  # far beyond a slow run: 10 jobs/s


def moi_run(bench: Bench, count: int) -> Sample:
    """Submit ``count`` jobs through moi; time until every one is back, its end stored."""
    return moi_throughput(
        bench,
        count,
        lambda: [submit(GROUP, "double", None, jobs.double, index) for index in range(count)],
        _timeout(count),
    )


def moi_throughput(
    bench: Bench, count: int, submit_all: Callable[[], list[str]], timeout: float
) -> Sample:
    """Time ``submit_all()`` (``count`` jobs of :func:`jobs.double` through moi) and the
    wait until every job's end is stored; check their results; the CPU they cost."""
    bench.redis.flushdb()
    with bench.moi_context() as ctx:
        cpu_before = bench.cpu.read()
        start = time.perf_counter()
        ids = submit_all()
        submitted = time.perf_counter()
        ctx.drain(timeout)
        finished = time.perf_counter()
        cpu = bench.cpu.per_job(cpu_before, bench.cpu.read(), count)
    check_doubled(bench.redis, ids)
    return {**throughput(count, start, submitted, finished), **cpu}


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
    return {**throughput(count, start, submitted, finished), **cpu}


def moi_round_trips(bench: Bench, count: int) -> Sample:
    """``count`` jobs one at a time, each waited for until its final state is stored."""
    bench.redis.flushdb()
    times = []
    with bench.moi_context():
        for index in range(count):
            start = time.perf_counter()
            info = wait(submit(GROUP, "double", None, jobs.double, index), _timeout(1))
            times.append(time.perf_counter() - start)
            if info.get("status") != "Success" or info.get("result") != 2 * index:
                raise BenchError(f"job {index} did not return {2 * index}: {info}")
    return _round_trip(times)


def bare_round_trips(bench: Bench, count: int) -> Sample:
    """The same ``count`` calls with bare ipyparallel, each result back before the next."""
    times = []
    with bench.bare_client() as client:
        view = client.load_balanced_view()
        for index in range(count):
            start = time.perf_counter()
            result = view.apply_async(jobs.double, index).get(_timeout(1))
            times.append(time.perf_counter() - start)
            if result != 2 * index:
                raise BenchError(f"bare call {index} returned {result}, not {2 * index}")
    return _round_trip(times)


def _round_trip(seconds: list[float]) -> Sample:
    stats = percentiles([value * 1e3 for value in seconds])
    return {"p50_ms": stats["p50"], "p99_ms": stats["p99"]}


def throughput(count: int, start: float, submitted: float, finished: float) -> Sample:
    """``jobs_per_s``, ``seconds``, and ``submit_us``: the submitting calls' time per job."""
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
    singles = round_trips(options)
    ours_rt, floor_rt = alternate(
        options.repeat,
        lambda: moi_round_trips(bench, singles),
        lambda: bare_round_trips(bench, singles),
        f"dispatch round trip ({singles} jobs)",
    )
    rt_detail = {"jobs_per_run": singles, "engines": bench.engines}
    detail = {"jobs": count, "engines": bench.engines}
    cpu_detail = {
        **detail,
        "moi_cpu_ms": cpu_parts(ours),
        "bare_cpu_ms": cpu_parts(floor),
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
        *(
            Figure(
                f"dispatch.round_trip.{stat}",
                "ms",
                column(ours_rt, f"{stat}_ms"),
                column(floor_rt, f"{stat}_ms"),
                ROUND_TRIP_FLOOR,
                Goal("ratio", "<=", 1.5),
                rt_detail,
            )
            for stat in ("p50", "p99")
        ),
    ]


def cpu_parts(samples: list[Sample]) -> dict[str, float]:
    """Median CPU ms per job of each process part."""
    names = sorted(key for key in samples[0] if key.startswith("cpu_ms."))
    return {n.removeprefix("cpu_ms."): statistics.median(column(samples, n)) for n in names}
