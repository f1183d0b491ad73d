"""7. Bulk: many trivial jobs through ``moi.job.map``, against ipyparallel's own ``map``.

Each item is a full moi job (record, status, result), stored by ``map`` in a few script
calls; engines take short jobs of one group several at a time while no other group
waits. moi's clock runs from the ``map`` call until ``drain()`` returns, when every final
state is in Redis; one MGET afterwards checks every result. The floor is
``load_balanced_view().map(..., chunksize=CHUNKSIZE)`` of the same function on the same
cluster, from a client of its own, until every result is back. One group and no limits:
the fair queue's cost when nothing competes.
"""

from __future__ import annotations

import time

import moi.job
from bench import jobs
from bench.dispatch import cpu_parts, moi_throughput, throughput
from bench.harness import Bench, BenchError, Options, Sample, alternate, column
from bench.report import Figure, Goal

GROUP = "bench-bulk"
CHUNKSIZE = 100
WARMUP = 200
FLOOR = f"bare ipyparallel load_balanced_view().map(chunksize={CHUNKSIZE}), same function"


def sizes(options: Options) -> int:
    return 300 if options.quick else 10_000


def _timeout(jobs_count: int) -> float:
    return 60 + jobs_count / 100  # far beyond a slow run: 100 jobs/s


def moi_run(bench: Bench, count: int) -> Sample:
    """``count`` jobs in one ``map``; time until the final state of every one is stored."""
    return moi_throughput(
        bench,
        count,
        lambda: moi.job.map(GROUP, "double", None, jobs.double, range(count)),
        _timeout(count),
    )


def bare_run(bench: Bench, count: int) -> Sample:
    """The same ``count`` calls in one bare ipyparallel ``map``; time until all are back."""
    with bench.bare_client() as client:
        view = client.load_balanced_view()
        cpu_before = bench.cpu.read()
        start = time.perf_counter()
        mapped = view.map(jobs.double, range(count), chunksize=CHUNKSIZE, block=False)
        submitted = time.perf_counter()
        results = mapped.get(_timeout(count))
        finished = time.perf_counter()
        cpu = bench.cpu.per_job(cpu_before, bench.cpu.read(), count)
    if list(results) != [2 * index for index in range(count)]:
        raise BenchError("bare ipyparallel's map returned wrong results")
    return {**throughput(count, start, submitted, finished), **cpu}


def measure(bench: Bench, options: Options) -> list[Figure]:
    count = sizes(options)
    bench.start()
    moi_run(bench, WARMUP)  # engines import the job module, clients connect
    bare_run(bench, WARMUP)
    ours, floor = alternate(
        options.repeat,
        lambda: moi_run(bench, count),
        lambda: bare_run(bench, count),
        f"bulk ({count} jobs)",
    )
    detail = {"jobs": count, "engines": bench.engines, "chunksize": CHUNKSIZE}
    rate = column(ours, "jobs_per_s"), column(floor, "jobs_per_s")
    return [
        Figure("bulk.throughput", "jobs/s", *rate, FLOOR, Goal("ratio", ">=", 0.8), detail),
        Figure("bulk.jobs_per_s", "jobs/s", *rate, FLOOR, Goal("value", ">=", 5000), detail),
        Figure(
            "bulk.time",
            f"s/{count} jobs",
            column(ours, "seconds"),
            column(floor, "seconds"),
            FLOOR,
            detail=detail,
        ),
        Figure(
            "bulk.submit_call",
            "µs/job",
            column(ours, "submit_us"),
            column(floor, "submit_us"),
            "the bare map call (block=False), per item",
            detail=detail,
        ),
        Figure(
            "bulk.cpu",
            "CPU ms/job",
            column(ours, "cpu_ms"),
            column(floor, "cpu_ms"),
            "bare ipyparallel map; all processes (client, controller, engines, Redis)",
            detail={**detail, "moi_cpu_ms": cpu_parts(ours), "bare_cpu_ms": cpu_parts(floor)},
        ),
    ]
