"""What every measurement shares: private servers, repetition, and spotting ended jobs.

:class:`Bench` starts a redis-server and a local ipyparallel cluster on first use, both
children of this process under a temporary directory, hands each run a fresh client
(moi's or a bare one), and stops the servers by PID in :meth:`Bench.close`.
:func:`alternate` runs a measurement and its floor in turn, so drift on a shared machine
falls on both alike. :class:`EndedJobs` tells when jobs have ended from their notices
alone, without reading Redis meanwhile; :class:`CpuMeter` splits their CPU cost by
process.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import ipyparallel as ipp
import psutil
import redis

from moi import config, context, groupset, keys, record
from moi.embedded import LocalCluster, RedisServer, free_port
from moi.sync import SyncClient

REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A measurement could not be made (a job failed, or did not end in time)."""


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries the table alone."""
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line asked for; each measurement picks its sizes from ``quick``."""

    quick: bool = False
    repeat: int = 5


class Bench:
    """The servers the measurements run against, each started on first use.

    :param engines: engines in the local cluster (one per core of the bench machine).
    """

    def __init__(self, engines: int = 2) -> None:
        self.engines = engines
        self._tmp = tempfile.TemporaryDirectory(prefix="moi-bench-")
        self.workdir = Path(self._tmp.name)

    def start(self) -> None:
        """Start both servers, before any clock runs."""
        self.redis_server  # noqa: B018
        self.cluster  # noqa: B018

    @cached_property
    def redis_server(self) -> RedisServer:
        return RedisServer(free_port(), self.workdir / "redis").start()

    @cached_property
    def cluster(self) -> LocalCluster:
        # Engines must import bench.jobs by name, wherever this was started from.
        path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)
        cluster = LocalCluster(self.engines, self.workdir / "ipython")
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @cached_property
    def settings(self) -> config.Settings:
        """moi's defaults, but for where the servers are."""
        return config.Settings(
            redis_url=self.redis_server.url,
            ipp_connection_file=self.cluster.connection_file,
            ipp_engines=self.engines,
        )

    @contextlib.contextmanager
    def moi_context(self) -> Iterator[SyncClient]:
        """A fresh moi client, connected, installed as the one ``submit`` uses.

        One per run, and no other client connected meanwhile: every ipyparallel client
        receives every engine's broadcasts, so an idle one would tax the run. It takes
        its turn as the dispatcher (jobs wait in Redis until some process dispatches),
        and is yielded once a dispatcher is at work.
        """
        ctx = SyncClient(self.settings)
        previous = context.set_default(ctx)
        try:
            # A connection's handshake (Redis, cluster) is no job's cost.
            ctx.start(dispatch=True)
            self._wait_for_dispatcher(ctx)
            yield ctx
        finally:
            context.set_default(previous)
            ctx.close()

    def _wait_for_dispatcher(self, ctx: SyncClient, timeout: float = 30.0) -> None:
        """Until the lock's holder reported every engine: it is connected to the cluster.

        A report names the fence of its writer, so one left by the previous run's
        dispatcher (it lives a few seconds) does not count.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = ctx.cluster() or {}
            holder = self.redis.get(keys.DISPATCHER_LOCK)
            if holder and report.get("fence") == holder and report["engines"] >= self.engines:
                return
            time.sleep(0.01)
        raise BenchError(f"no dispatcher reported {self.engines} engines within {timeout:g} s")

    @contextlib.contextmanager
    def bare_client(self) -> Iterator[ipp.Client]:
        """A fresh ipyparallel client, for the floors that bypass moi (one per run)."""
        client = ipp.Client(self.cluster.connection_file)
        try:
            yield client
        finally:
            client.close()

    @cached_property
    def cpu(self) -> CpuMeter:
        return CpuMeter(self)

    @cached_property
    def redis(self) -> redis.Redis:
        """The bench's own client (decoded), apart from moi's.

        Its reads may wait a minute: redis-py's default (5 s) would cut a BLPOP's own
        timeout short, with an error that hides what did not happen.
        """
        url = self.redis_server.url
        return redis.Redis.from_url(url, decode_responses=True, socket_timeout=60)

    def close(self) -> None:
        """Close the clients, then stop the cluster and Redis by PID; idempotent."""
        made = self.__dict__
        if "redis" in made:
            made.pop("redis").close()
        try:
            if "cluster" in made:
                made.pop("cluster").stop()
        finally:
            if "redis_server" in made:
                made.pop("redis_server").stop()
            self._tmp.cleanup()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class CpuMeter:
    """CPU time of each part of the setup, to tell where a job's cost goes.

    The parts: this process (the submitting client), Redis, the ipyparallel controller
    (with its schedulers), and the engines (with their nannies and job processes); each
    process counts once.
    """

    def __init__(self, bench: Bench) -> None:
        # The cluster's PIDs: the controller first, then its children (the schedulers),
        # then each engine and its nanny. Each process counts once, in one part.
        controller, *others = bench.cluster.pids()
        controller_part = _with_children([controller])
        taken = {process.pid for process in controller_part}
        self._parts = {
            "client": [psutil.Process()],
            "controller": controller_part,
            "engines": [psutil.Process(pid) for pid in dict.fromkeys(others) if pid not in taken],
            "redis": [psutil.Process(bench.redis_server.pid)],
        }

    def read(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each part."""
        self._adopt_job_processes()
        return {part: sum(_cpu(p) for p in processes) for part, processes in self._parts.items()}

    def _adopt_job_processes(self) -> None:
        """Count the engines' children forked since (an engine forks its job process on
        its first job); one that ended meanwhile takes its CPU time with it."""
        engines = self._parts["engines"]
        known = {process.pid for process in engines}
        for engine in list(engines):
            with contextlib.suppress(psutil.Error):
                for child in engine.children(recursive=True):
                    if child.pid not in known:
                        known.add(child.pid)
                        engines.append(child)

    @staticmethod
    def per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> Sample:
        """``cpu_ms.<part>`` and ``cpu_ms`` (all parts): CPU milliseconds per job."""
        used = {f"cpu_ms.{part}": (after[part] - before[part]) / jobs * 1e3 for part in before}
        return {"cpu_ms": sum(used.values()), **used}


def _with_children(pids: list[int]) -> list[psutil.Process]:
    parents = [psutil.Process(pid) for pid in pids]
    return parents + [child for parent in parents for child in parent.children(recursive=True)]


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


Sample = dict[str, float]


def alternate(
    repeat: int, measured: Callable[[], Sample], floor: Callable[[], Sample], label: str
) -> tuple[list[Sample], list[Sample]]:
    """Run ``measured`` and ``floor`` ``repeat`` times each, in ABBA order.

    :returns: the samples of each, in run order.
    """
    ours: list[Sample] = []
    floors: list[Sample] = []
    for index in range(repeat):
        pair = [(measured, ours), (floor, floors)]
        for run, into in pair if index % 2 else reversed(pair):
            into.append(run())
        log(f"{label} {index + 1}/{repeat}: moi {_brief(ours[-1])} | floor {_brief(floors[-1])}")
    return ours, floors


def _brief(sample: Sample) -> str:
    return ", ".join(f"{key} {value:.4g}" for key, value in sample.items() if "." not in key)


def column(samples: list[Sample], key: str) -> list[float]:
    return [sample[key] for sample in samples]


STAMP_SLACK = 1e-3
"""Seconds to start looking before now for stamps: a stamp is written rounded to 1 µs."""


def percentiles(values: list[float]) -> Sample:
    """``p50``, ``p99`` (nearest rank) and ``max`` of ``values``."""
    if not values:
        raise BenchError("no samples")
    ordered = sorted(values)
    return {
        "p50": ordered[math.ceil(0.5 * len(ordered)) - 1],
        "p99": ordered[math.ceil(0.99 * len(ordered)) - 1],
        "max": ordered[-1],
    }


# Job channels only (a UUID's shape), not the groups' channels.
JOB_CHANNELS = keys.job_channel("????????-????-????-????-????????????")


class EndedJobs:
    """Counts jobs that ended, from the status notices on their channels alone.

    A job whose function sets no status of its own announces exactly two status
    changes: ``Running``, then its final status. The final notice is published in the
    same atomic step that stores the final state, so once it arrives the state is in
    Redis. Subscribe before submitting; :meth:`wait` returns when ``jobs`` jobs ended.
    """

    def __init__(self, redis_url: str, jobs: int, notices_per_job: int = 2) -> None:
        self.jobs = jobs
        self.notices_per_job = notices_per_job
        self.ended = 0
        self.ended_at: float | None = None
        self._counts: collections.Counter[bytes] = collections.Counter()
        self._done = threading.Event()
        self._stop = False
        self._client = redis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub()
        self._pubsub.psubscribe(JOB_CHANNELS)
        confirmed = self._pubsub.get_message(timeout=10)
        if confirmed is None or confirmed["type"] != "psubscribe":
            self.close()
            raise BenchError(f"no confirmation of the subscription to {JOB_CHANNELS}")
        self._thread = threading.Thread(target=self._listen, daemon=True, name="ended-jobs")
        self._thread.start()

    def _listen(self) -> None:
        status_notice = record.NOTICE_STATUS.encode()
        while not self._stop:
            message = self._pubsub.get_message(timeout=0.2)
            if message is None or message["data"] != status_notice:
                continue
            channel = message["channel"]
            self._counts[channel] += 1
            if self._counts[channel] == self.notices_per_job:
                self.ended += 1
                if self.ended == self.jobs:
                    self.ended_at = time.perf_counter()
                    self._done.set()

    def wait(self, timeout: float) -> float:
        """Block until every job ended; return the ``perf_counter()`` time it happened."""
        if not self._done.wait(timeout):
            raise BenchError(f"only {self.ended} of {self.jobs} jobs ended within {timeout:g} s")
        assert self.ended_at is not None
        return self.ended_at

    def close(self) -> None:
        self._stop = True
        if hasattr(self, "_thread"):
            self._thread.join()
        self._pubsub.close()
        self._client.close()

    def __enter__(self) -> EndedJobs:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def check_doubled(client: redis.Redis, ids: list[str]) -> None:
    """One MGET: every job ended ``Success`` with twice its index as its result."""
    infos = [record.decode(raw) for raw in client.mget([keys.job_key(i) for i in ids])]
    wrong = [
        (index, info)
        for index, info in enumerate(infos)
        if not info or info.get("status") != "Success" or info.get("result") != 2 * index
    ]
    if wrong:
        index, info = wrong[0]
        raise BenchError(f"{len(wrong)} of {len(ids)} jobs did not return 2x; job {index}: {info}")


def store_jobs(client: redis.Redis, infos: list[dict], ttl: int) -> None:
    """Store jobs of one group as they are (``ttl`` 0: for ever) and announce them, in one
    transaction; unlike ``Writer.create``, queue none: the bench writes their changes."""
    with client.pipeline() as pipe:
        for info in infos:
            pipe.set(keys.job_key(info["id"]), record.encode(info), ex=ttl or None)
        groupset.add(pipe, infos[0]["group"], [info["id"] for info in infos], ttl)
        pipe.execute()
