"""Scaling: the costs that grow with web processes and engines, on one Redis (issue #27).

``docs/scaling.md`` does the arithmetic for 100 web processes and 1,000 engines with
these figures; each is a cost per event, so it can be multiplied out:

- ``scaling.hub_notice.*``: CPU µs a hub process spends on a foreign job notice (a
  notice of a job none of its browsers shows, brought by its ``*:pubsub`` pattern and
  dropped), in bursts and paced at 1,000 a second. Floor: a bare redis-py asyncio
  subscriber of the same pattern, in a process of its own, reading the same notices.
- ``scaling.publish.<mode>.p<N>``: Redis main-thread CPU µs per PUBLISH of a job notice
  with N pattern subscribers (``PSUBSCRIBE *:pubsub``, a connection each, as N web
  processes' hubs have): one PUBLISH per turn of Redis's event loop (``alone``: a quiet
  Redis writes to each subscriber's socket for each notice), 16 connections publishing at
  once (``busy``: as many engines do), or 100 pipelined (``burst``: the most one turn
  shares). Floor: the same PUBLISHes with N plain subscribers, each on channels of its
  own, so each notice reaches the one that follows the job (a channel per hub).
- ``scaling.group_add.h<N>``: Redis CPU µs per ``add`` notice on a group's channel with
  N real moi hubs listening (several per process): each hub stores every group's
  actions it hears (:meth:`moi.hub.Hub._keep_sets`). Floor: N bare pattern subscribers.
  The hubs' own CPU per add is in the figure's detail.
- ``scaling.redis_per_job``: Redis CPU µs per trivial job through moi end to end
  (:func:`bench.dispatch.moi_run`). Floor: the protocol's three MULTI/EXECs per job.
- ``scaling.scheduler_per_job``: CPU µs of the busiest ipyparallel controller process
  (its task scheduler) per job through moi; floor: per bare ``load_balanced_view`` task
  (:func:`bench.dispatch.bare_run`), whose inverse is that scheduler's ceiling.

The subscribers and hubs live in ``python -m bench.scaling`` children (served by
:func:`bench.loadgen.serve`), stopped by PID however the measurement ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import selectors
import socket
import statistics
import threading
import time
import uuid
from typing import Any

import psutil
import redis
import redis.asyncio as aioredis

from bench import dispatch, loadgen
from bench.children import LoadGenerator
from bench.harness import Bench, BenchError, Options, Sample, alternate, column, log
from bench.report import Figure
from bench.wsserver import raise_fd_limit
from moi import config, keys, record

SUBSCRIBERS = (1, 10, 100)
PER_PROCESS = 25
"""Hubs (or raw connections) one child process holds."""
PLAIN_CHANNELS = 100
"""Channels each plain subscriber follows (its hub's jobs)."""
PACE = 1000
"""Notices a second in the paced hub run."""
BATCH = 100
CONCURRENT = 16
"""Publishing connections in the ``busy`` mode."""
WAIT = 120
# Channels shaped like a job's (36 characters and ":pubsub"), with a 12-digit counter.
CHANNEL = "bench000-scal-ing0-0000-{:012d}" + keys.CHANNEL_SUFFIX
GROUP = "bench-scaling"


def sizes(options: Options) -> dict[str, int]:
    if options.quick:
        return {"burst": 2000, "paced": 200, "alone": 500, "pipelined": 1000, "adds": 10}
    return {"burst": 50_000, "paced": 3000, "alone": 10_000, "pipelined": 20_000, "adds": 100}


# -- the children: hubs and subscribers ---------------------------------------------------


class Subscribers:
    """One child's command handler: hubs, a bare subscriber, or raw connections."""

    def __init__(self) -> None:
        self.hubs: list[Any] = []
        self.bare: tuple[aioredis.Redis, Any, asyncio.Task] | None = None
        self.received = 0
        self.sockets: list[socket.socket] = []
        self.drainer: threading.Thread | None = None
        self.draining = threading.Event()

    async def cmd_hubs(self, redis_url: str, count: int) -> dict:
        """Start ``count`` moi hubs, each listening (its own pattern subscription)."""
        from moi.hub import Hub

        ttl = config.Settings().key_ttl
        for _ in range(count):
            hub = Hub(redis_url, ttl)
            self.hubs.append(hub)
            await hub.start()
        return {}

    async def cmd_bare(self, redis_url: str) -> dict:
        """A bare redis-py subscriber of the hub's pattern, decoding as the hub does."""
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        pubsub = client.pubsub()
        await pubsub.psubscribe(keys.ALL_CHANNELS)
        confirmed = await pubsub.get_message(timeout=10)
        if confirmed is None or confirmed["type"] != "psubscribe":
            raise BenchError(f"no confirmation of the pattern: {confirmed!r}")
        self.bare = (client, pubsub, asyncio.ensure_future(self._read(pubsub)))
        return {}

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None and message["type"] == "pmessage":
                self.received += 1

    async def cmd_count(self) -> dict:
        """Notices received so far (hubs' and the bare subscriber's), and CPU seconds."""
        from prometheus_client import REGISTRY

        hubs = REGISTRY.get_sample_value("moi_hub_notices_total") or 0
        return {"notices": hubs + self.received, "cpu": time.process_time()}

    async def cmd_sockets(self, port: int, commands: list[list[str]], confirms: int) -> dict:
        """Open a raw connection per command (a SUBSCRIBE or PSUBSCRIBE), wait for its
        ``confirms`` confirmations, then read and drop whatever comes, in a thread."""
        for command in commands:
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            self.sockets.append(conn)
            conn.sendall(resp(command))
            seen = b""
            while seen.count(b"subscribe\r\n") < confirms:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    raise BenchError("Redis closed a subscriber's connection")
                seen += chunk
            conn.setblocking(False)
        self.draining.clear()
        self.drainer = threading.Thread(target=self._drain, daemon=True, name="drain")
        self.drainer.start()
        return {}

    def _drain(self) -> None:
        with selectors.DefaultSelector() as selector:
            for conn in self.sockets:
                selector.register(conn, selectors.EVENT_READ)
            while not self.draining.is_set():
                for key, _ in selector.select(timeout=0.1):
                    with contextlib.suppress(BlockingIOError):
                        key.fileobj.recv(1 << 20)  # type: ignore[union-attr]

    async def cmd_close(self) -> dict:
        self.draining.set()
        if self.drainer is not None:
            self.drainer.join(10)
            self.drainer = None
        for conn in self.sockets:
            conn.close()
        self.sockets.clear()
        for hub in self.hubs:
            await hub.close()
        self.hubs.clear()
        if self.bare is not None:
            client, pubsub, reader = self.bare
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await pubsub.aclose()
            await client.aclose()
            self.bare = None
        return {}

    async def cmd_unsubscribe(self) -> dict:
        return {}


def resp(command: list[str]) -> bytes:
    """``command`` in Redis's wire format."""
    parts = [f"*{len(command)}\r\n".encode()]
    for arg in command:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Child(LoadGenerator):
    module = "bench.scaling"


# -- the bench's side ----------------------------------------------------------------------


def redis_cpu(client: redis.Redis) -> float:
    """Seconds of CPU Redis's main thread used so far (user + system)."""
    info = client.info("cpu")
    return info["used_cpu_user_main_thread"] + info["used_cpu_sys_main_thread"]


def wait_count(children: list[Child], target: list[float]) -> list[dict]:
    """Each child's count, once it has received ``target`` notices (its own target)."""
    deadline = time.monotonic() + WAIT
    while True:
        counts = [child.call("count") for child in children]
        if all(c["notices"] >= t for c, t in zip(counts, target, strict=True)):
            return counts
        if time.monotonic() > deadline:
            got = [c["notices"] for c in counts]
            raise BenchError(f"subscribers received {got} notices, not {target}, in {WAIT} s")
        time.sleep(0.05)


def publish_foreign(client: redis.Redis, count: int, paced: bool) -> None:
    """``count`` status notices of jobs no one shows, each on its own job's channel."""
    notice = record.NOTICE_STATUS
    if paced:
        start = time.perf_counter()
        for index in range(count):
            while time.perf_counter() < start + index / PACE:
                pass
            client.publish(keys.job_channel(str(uuid.uuid4())), notice)
        return
    with client.pipeline(transaction=False) as pipe:
        for index in range(count):
            pipe.publish(keys.job_channel(str(uuid.uuid4())), notice)
            if len(pipe) >= 1000 or index == count - 1:
                pipe.execute()


def cpu_us(after: dict, before: dict, notices: int) -> float:
    return (after["cpu"] - before["cpu"]) / notices * 1e6


def hub_figures(bench: Bench, options: Options) -> list[Figure]:
    """A hub and a bare subscriber, each in a process of its own, read the same notices."""
    count = sizes(options)
    url = bench.redis_server.url
    samples: dict[str, tuple[list[float], list[float]]] = {"burst": ([], []), "paced": ([], [])}
    with (
        Child(bench.workdir / "scaling-hub.log") as hub,
        Child(bench.workdir / "scaling-bare.log") as bare,
    ):
        hub.call("hubs", redis_url=url, count=1)
        bare.call("bare", redis_url=url)
        for index in range(options.repeat):
            for mode in ("burst", "paced") if index % 2 else ("paced", "burst"):
                number = count[mode]
                before = [hub.call("count"), bare.call("count")]
                publish_foreign(bench.redis, number, mode == "paced")
                after = wait_count([hub, bare], [b["notices"] + number for b in before])
                ours, floor = (cpu_us(a, b, number) for a, b in zip(after, before, strict=True))
                samples[mode][0].append(ours)
                samples[mode][1].append(floor)
                log(f"scaling hub {mode} {index + 1}: hub {ours:.3g} µs | bare {floor:.3g} µs")
    bare_label = "bare redis-py asyncio PSUBSCRIBE *:pubsub reader, a process of its own"
    return [
        Figure(
            f"scaling.hub_notice.{mode}",
            "CPU µs/notice",
            ours,
            floor,
            bare_label,
            detail={"notices": count[mode], "rate": PACE if mode == "paced" else "pipelined"},
        )
        for mode, (ours, floor) in samples.items()
    ]


def subscriber_commands(subscribers: int, pattern: bool) -> list[list[str]]:
    """One (P)SUBSCRIBE per connection: the hubs' pattern, or channels of its own."""
    if pattern:
        return [["PSUBSCRIBE", keys.ALL_CHANNELS] for _ in range(subscribers)]
    return [
        ["SUBSCRIBE", *(CHANNEL.format(i * PLAIN_CHANNELS + k) for k in range(PLAIN_CHANNELS))]
        for i in range(subscribers)
    ]


def publish_alone(publishers: list[redis.Redis], channels: list[str], notice: str) -> int:
    """One connection, one PUBLISH at a time: each its own turn of Redis's event loop."""
    return sum(publishers[0].publish(channel, notice) for channel in channels)


def publish_busy(publishers: list[redis.Redis], channels: list[str], notice: str) -> int:
    """:data:`CONCURRENT` connections, one PUBLISH at a time each, all at once: as many
    engines write, so Redis serves several in one turn of its loop."""
    shares = [channels[index :: len(publishers)] for index in range(len(publishers))]
    with concurrent.futures.ThreadPoolExecutor(len(publishers)) as pool:
        futures = [
            pool.submit(publish_alone, [publisher], share, notice)
            for publisher, share in zip(publishers, shares, strict=True)
        ]
        return sum(future.result() for future in futures)


def publish_burst(publishers: list[redis.Redis], channels: list[str], notice: str) -> int:
    """One connection, :data:`BATCH` PUBLISHes pipelined: many in one turn of the loop."""
    received = 0
    with publishers[0].pipeline(transaction=False) as pipe:
        for start in range(0, len(channels), BATCH):
            for channel in channels[start : start + BATCH]:
                pipe.publish(channel, notice)
            received += sum(pipe.execute())
    return received


PUBLISHERS = {"alone": publish_alone, "busy": publish_busy, "burst": publish_burst}


def publish_run(bench: Bench, child: Child, subscribers: int, pattern: bool, mode: str, count: int):
    """Redis CPU µs per PUBLISH of ``count`` notices to ``subscribers`` connections."""
    client = bench.redis
    commands = subscriber_commands(subscribers, pattern)
    confirms = 1 if pattern else PLAIN_CHANNELS
    channels = [CHANNEL.format(i % (subscribers * PLAIN_CHANNELS)) for i in range(count)]
    connections = CONCURRENT if mode == "busy" else 1
    publishers = [redis.Redis.from_url(bench.redis_server.url) for _ in range(connections)]
    child.call("sockets", port=bench.redis_server.port, commands=commands, confirms=confirms)
    try:
        for publisher in publishers:
            publisher.ping()  # connected before the clock starts
        before = redis_cpu(client)
        received = PUBLISHERS[mode](publishers, channels, record.NOTICE_STATUS)
        used = redis_cpu(client) - before
    finally:
        child.call("close")
        for publisher in publishers:
            publisher.close()
    expected = count * (subscribers if pattern else 1)
    if received != expected:
        raise BenchError(f"PUBLISH reached {received} subscribers, not {expected}")
    return {"us": used / count * 1e6}


def publish_figures(bench: Bench, options: Options) -> list[Figure]:
    figures = []
    size = sizes(options)
    with Child(bench.workdir / "scaling-subscribers.log") as child:
        for mode in PUBLISHERS:
            count = size["pipelined" if mode == "burst" else "alone"]
            for subscribers in SUBSCRIBERS:
                ours, floor = alternate(
                    options.repeat,
                    lambda: publish_run(bench, child, subscribers, True, mode, count),  # noqa: B023
                    lambda: publish_run(bench, child, subscribers, False, mode, count),  # noqa: B023
                    f"scaling publish {mode} ({subscribers} subscribers)",
                )
                figures.append(
                    Figure(
                        f"scaling.publish.{mode}.p{subscribers}",
                        "Redis CPU µs/PUBLISH",
                        column(ours, "us"),
                        column(floor, "us"),
                        "the same PUBLISHes, plain subscribers on channels of their own "
                        "(each notice reaches one)",
                        detail={
                            "publishes": count,
                            "subscribers": subscribers,
                            "connections": CONCURRENT if mode == "busy" else 1,
                            "batch": BATCH if mode == "burst" else 1,
                        },
                    )
                )
    return figures


def group_add_run(bench: Bench, children: list[Child], subscribers: int, hubs: bool, count: int):
    """Redis CPU µs per ``add`` notice heard by ``subscribers`` hubs (or bare patterns),
    published ``max(2, subscribers / 20)`` ms apart, so each listener deals with each alone.

    Hubs' CPU per add and per hub (``listener_us``) counts their processes' whole CPU,
    idle hubs and the bench's questions included: a bound, close at 10 hubs and more."""
    client = bench.redis
    client.flushdb()
    shares = [min(PER_PROCESS, subscribers - start) for start in range(0, subscribers, PER_PROCESS)]
    url, port = bench.redis_server.url, bench.redis_server.port
    try:
        for child, share in zip(children, shares, strict=False):
            if hubs:
                child.call("hubs", redis_url=url, count=share)
            else:
                commands = subscriber_commands(share, True)
                child.call("sockets", port=port, commands=commands, confirms=1)
        gap = max(0.002, subscribers / 20_000)
        sadds = sadd_calls(client)
        cpu_before = sum(child.call("count")["cpu"] for child in children)
        before = redis_cpu(client)
        channel = keys.group_channel(GROUP)
        for _ in range(count):
            received = client.publish(channel, f'{{"add": ["{uuid.uuid4()}"]}}')
            if received != subscribers:
                raise BenchError(f"an add reached {received} listeners, not {subscribers}")
            time.sleep(gap)
        if hubs:  # until every hub stored every add
            deadline = time.monotonic() + WAIT
            while sadd_calls(client) < sadds + count * subscribers:
                if time.monotonic() > deadline:
                    raise BenchError(f"{subscribers} hubs did not store {count} adds in {WAIT} s")
                time.sleep(0.05)
        used = redis_cpu(client) - before
        listeners = sum(child.call("count")["cpu"] for child in children) - cpu_before
    finally:
        for child in children:
            child.call("close")
    return {"us": used / count * 1e6, "listener_us": listeners / count / subscribers * 1e6}


def sadd_calls(client: redis.Redis) -> int:
    return client.info("commandstats").get("cmdstat_sadd", {}).get("calls", 0)


def group_add_figures(bench: Bench, options: Options) -> list[Figure]:
    figures = []
    count = sizes(options)["adds"]
    processes = -(-max(SUBSCRIBERS) // PER_PROCESS)
    with contextlib.ExitStack() as stack:
        children = [
            stack.enter_context(Child(bench.workdir / f"scaling-hubs-{i}.log"))
            for i in range(processes)
        ]
        for subscribers in SUBSCRIBERS:
            ours, floor = alternate(
                options.repeat,
                lambda: group_add_run(bench, children, subscribers, True, count),  # noqa: B023
                lambda: group_add_run(bench, children, subscribers, False, count),  # noqa: B023
                f"scaling group add ({subscribers} hubs)",
            )
            figures.append(
                Figure(
                    f"scaling.group_add.h{subscribers}",
                    "Redis CPU µs/add",
                    column(ours, "us"),
                    column(floor, "us"),
                    "the same adds to as many bare PSUBSCRIBE connections (no set writes)",
                    detail={
                        "adds": count,
                        "hubs": subscribers,
                        "per_process": PER_PROCESS,
                        "hub_cpu_us_per_add": statistics.median(column(ours, "listener_us")),
                        "bare_cpu_us_per_add": statistics.median(column(floor, "listener_us")),
                    },
                )
            )
    return figures


def controller_processes(bench: Bench) -> list[psutil.Process]:
    """The ipyparallel controller and its children (schedulers), as :class:`CpuMeter`."""
    controller = psutil.Process(bench.cluster.pids()[0])
    return [controller, *controller.children(recursive=True)]


def cpu_each(processes: list[psutil.Process]) -> list[float]:
    times = []
    for process in processes:
        try:
            used = process.cpu_times()
            times.append(used.user + used.system)
        except psutil.Error:
            times.append(0.0)
    return times


def jobs_run(bench: Bench, processes: list[psutil.Process], run, count: int) -> Sample:
    """``run()``'s sample, with the CPU µs per job of the controller's busiest process
    (``scheduler_us``) and of Redis's main thread (``redis_us``, the client's connecting
    and closing included: a few commands against thousands)."""
    before, redis_before = cpu_each(processes), redis_cpu(bench.redis)
    sample = run()
    redis_us = (redis_cpu(bench.redis) - redis_before) / count * 1e6
    busiest = max(a - b for a, b in zip(cpu_each(processes), before, strict=True))
    return {**sample, "scheduler_us": busiest / count * 1e6, "redis_us": redis_us}


def protocol_floor(bench: Bench, count: int) -> float:
    """Redis CPU µs per job of the protocol's least writes: Queued (SET, SADD, PUBLISH to
    the group), Running and Success (SET, PUBLISH each), each a MULTI/EXEC."""
    client = bench.redis
    client.flushdb()
    before = redis_cpu(client)
    for index in range(count):
        info = record.new_info(GROUP, "double", None)
        job, channel = keys.job_key(info["id"]), keys.job_channel(info["id"])
        with client.pipeline(transaction=True) as pipe:
            pipe.set(job, record.encode(info))
            pipe.sadd(keys.group_jobs_key(GROUP), info["id"])
            pipe.publish(keys.group_channel(GROUP), f'{{"add": ["{info["id"]}"]}}')
            pipe.execute()
        for status in ("Running", "Success"):
            info.update(status=status, result=2 * index if status == "Success" else None)
            with client.pipeline(transaction=True) as pipe:
                pipe.set(job, record.encode(info))
                pipe.publish(channel, record.NOTICE_STATUS)
                pipe.execute()
    return (redis_cpu(client) - before) / count * 1e6


def job_figures(bench: Bench, options: Options) -> list[Figure]:
    count = dispatch.sizes(options)
    dispatch.moi_run(bench, dispatch.WARMUP)
    dispatch.bare_run(bench, dispatch.WARMUP)
    processes = controller_processes(bench)
    moi_scheduler, bare_scheduler, moi_redis, floor_redis = [], [], [], []
    rates: dict[str, list[float]] = {"moi": [], "bare": []}
    for index in range(options.repeat):
        runs = ["moi", "bare", "floor"]
        for name in runs if index % 2 else reversed(runs):
            if name == "moi":
                sample = jobs_run(bench, processes, lambda: dispatch.moi_run(bench, count), count)
                moi_scheduler.append(sample["scheduler_us"])
                moi_redis.append(sample["redis_us"])
                rates["moi"].append(sample["jobs_per_s"])
            elif name == "bare":
                sample = jobs_run(bench, processes, lambda: dispatch.bare_run(bench, count), count)
                bare_scheduler.append(sample["scheduler_us"])
                rates["bare"].append(sample["jobs_per_s"])
            else:
                floor_redis.append(protocol_floor(bench, count))
        log(
            f"scaling jobs {index + 1}: Redis {moi_redis[-1]:.3g} µs/job "
            f"(floor {floor_redis[-1]:.3g}), scheduler {moi_scheduler[-1]:.3g} µs/job "
            f"(bare {bare_scheduler[-1]:.3g} µs/task)"
        )
    detail = {
        "jobs": count,
        "engines": bench.engines,
        "moi_jobs_per_s": statistics.median(rates["moi"]),
        "bare_tasks_per_s": statistics.median(rates["bare"]),
    }
    return [
        Figure(
            "scaling.redis_per_job",
            "Redis CPU µs/job",
            moi_redis,
            floor_redis,
            "the protocol's least writes: 3 MULTI/EXECs of SET+PUBLISH (+SADD), redis-py",
            detail=detail,
        ),
        Figure(
            "scaling.scheduler_per_job",
            "CPU µs/job",
            moi_scheduler,
            bare_scheduler,
            "bare load_balanced_view().apply_async: the busiest controller process per task",
            detail=detail,
        ),
    ]


def measure(bench: Bench, options: Options) -> list[Figure]:
    bench.start()
    return [
        *hub_figures(bench, options),
        *publish_figures(bench, options),
        *group_add_figures(bench, options),
        *job_figures(bench, options),
    ]


def main() -> None:
    raise_fd_limit()
    asyncio.run(loadgen.serve(Subscribers()))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
