"""6. Cancel latency: from the request to ``Cancelled`` stored, and to the engine free.

Each cancel stops a running job, one that sleeps in 10 ms steps and, as the interrupt
makes it let go, pushes the time to Redis: the engine is free from then on (it only
sends its reply). Two such jobs run at a time, one per engine, and each is cancelled.

The floor does the same with bare ipyparallel on the same cluster: ``send_signal(SIGINT)``
through the engine's nanny (ipyparallel 7's way to interrupt a task), answered when the
nanny has sent the signal. moi's request is one Redis transaction; the engine hears it on
``moi:cancels`` and interrupts the job's process (:mod:`moi.jobprocess`).
"""

from __future__ import annotations

import signal
import time

from bench import jobs
from bench.harness import Bench, BenchError, Options, Sample, alternate, column, percentiles
from bench.report import Figure
from moi.job import submit

GROUP = "bench-cancel"
KEY = "bench-cancel:running"
TIMEOUT = 30
FLOOR = "bare ipyparallel: send_signal(SIGINT) through the nanny, the same sleeping task"


def sizes(options: Options) -> int:
    return 3 if options.quick else 25  # pairs: 50 cancels a run


def _both_running(bench: Bench) -> None:
    for _ in range(2):
        if bench.redis.blpop([KEY], timeout=TIMEOUT) is None:
            raise BenchError(f"a sleeper did not start within {TIMEOUT} s")


def _freed(bench: Bench) -> float:
    """When the next interrupted sleeper let go (its engine's clock: this machine's)."""
    pushed = bench.redis.blpop([f"{KEY}:freed"], timeout=TIMEOUT)
    if pushed is None:
        raise BenchError(f"an interrupted sleeper did not let go within {TIMEOUT} s")
    return float(pushed[1])


def _sample(stored: list[float], free: list[float]) -> Sample:
    ms = 1000
    return {
        **{f"stored.{k}": v * ms for k, v in percentiles(stored).items()},
        **{f"free.{k}": v * ms for k, v in percentiles(free).items()},
    }


def moi_run(bench: Bench, count: int) -> Sample:
    url = bench.redis_server.url
    stored, free = [], []
    bench.redis.flushdb()
    with bench.moi_context() as ctx:
        for _ in range(count):
            sleepers = [
                submit(GROUP, "sleeper", None, jobs.sleeps_until_interrupted, url, KEY)
                for _ in range(2)
            ]
            _both_running(bench)
            for job_id in sleepers:
                start = time.time()
                if not ctx.cancel(job_id):
                    raise BenchError("the running job had ended before it was cancelled")
                stored.append(time.time() - start)
                free.append(_freed(bench) - start)
            ctx.drain(TIMEOUT)  # both engines have answered: free for the next pair
            for job_id in sleepers:
                if ctx.get(job_id)["status"] != "Cancelled":
                    raise BenchError(f"job {job_id} did not end Cancelled")
    return _sample(stored, free)


def bare_run(bench: Bench, count: int) -> Sample:
    url = bench.redis_server.url
    stored, free = [], []
    bench.redis.delete(KEY)
    with bench.bare_client() as client:
        engines = client.ids[:2]
        for _ in range(count):
            sleepers = [
                client[engine].apply_async(jobs.sleeps_until_interrupted, url, KEY)
                for engine in engines
            ]
            _both_running(bench)
            for engine in engines:
                start = time.time()
                client.send_signal(signal.SIGINT, targets=[engine], block=True)
                stored.append(time.time() - start)
                free.append(_freed(bench) - start)
            for sleeper in sleepers:
                sleeper.wait(TIMEOUT)
                if not sleeper.done():
                    raise BenchError("an interrupted task did not come back")
    return _sample(stored, free)


def measure(bench: Bench, options: Options) -> list[Figure]:
    count = sizes(options)
    ours, floor = alternate(
        options.repeat, lambda: moi_run(bench, count), lambda: bare_run(bench, count), "cancel"
    )
    detail = {"cancels_per_run": 2 * count}
    return [
        Figure(
            f"cancel.{what}.{stat}",
            "ms",
            column(ours, key),
            column(floor, key),
            FLOOR,
            None,
            detail,
        )
        for what in ("stored", "free")
        for stat in ("p50", "p99")
        for key in [f"{what}.{stat}"]
    ]
