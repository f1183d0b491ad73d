"""4. Fan-out capacity: websocket clients one server process holds, and their memory.

Clients of one group join :mod:`bench.wsserver` step by step (spread over two
:mod:`bench.loadgen` processes), and at each step one job update (stored and announced
by :class:`moi.record.Writer`, as an engine does) must reach every client: the p99 over
the clients of the time from the write to arrival, per update. The step-up stops at the
first step whose median p99 is over :data:`LIMIT_MS`; the capacity is the last step
that made it.

Floors, in the same run: the same server writes a raw PUBLISH's text to the same
sockets itself, without the hub (no lookup, no MGET, no lock); and the memory of a bare
Tornado websocket, with no hub and no login, in a server process of its own.

Memory per client is the server's RSS delta over the clients that joined, read while
they are idle, before the step's updates.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time

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
    store_jobs,
)
from bench.report import Figure, Goal
from bench.wsserver import RELAY_CHANNEL
from moi import record

GROUP = "bench-fanout"
FULL_STEPS = (1000, 2000, 5000, 10_000)
QUICK_STEPS = (10, 20)
LIMIT_MS = 250
GENERATORS = 2
CONNECT_TIMEOUT = 180
WAIT = 30
RELAY = "the same server relays a raw PUBLISH to the same sockets, without the hub"
BARE = "bare Tornado websocket (no hub, no login), server process of its own"


def steps(options: Options) -> tuple[int, ...]:
    return QUICK_STEPS if options.quick else FULL_STEPS


class Fleet:
    """The load generators and the clients they hold, dealt evenly between them."""

    def __init__(self, gens: list[LoadGenerator], server: WsServer, path: str = "/moi-ws/") -> None:
        self.gens = gens
        self.server = server
        self.port = server.port
        self.path = path
        self.held = [0] * len(gens)

    @property
    def clients(self) -> int:
        return sum(self.held)

    def grow(self, total: int) -> float:
        """Connect clients until there are ``total``; return the seconds it took."""
        start = time.perf_counter()
        new = split([GROUP] * (total - self.clients), len(self.gens))
        for index, (gen, groups) in enumerate(zip(self.gens, new, strict=True)):
            if groups:
                gen.call(
                    "connect",
                    timeout=CONNECT_TIMEOUT,
                    port=self.port,
                    groups=groups,
                    path=self.path,
                )
                self.held[index] += len(groups)
        return time.perf_counter() - start

    def arrivals(self, start: float) -> list[float]:
        """Latencies (ms) of every client's copy of the stamps sent since ``start``."""
        samples = []
        for gen, held in zip(self.gens, self.held, strict=True):
            answer = gen.call("latencies", expect=held, within=WAIT, quiet=2.0)
            if answer["closed"]:
                raise BenchError(f"the server closed {answer['closed']} clients")
            samples += [ms for stamp, ms in answer["samples"] if stamp >= start]
        if not samples:
            raise BenchError(f"no client got the update{self.server.tail()}")
        return samples

    def reset(self) -> None:
        for gen in self.gens:
            gen.call("reset")

    def close(self) -> None:
        for gen in self.gens:
            gen.call("close")
        self.held = [0] * len(self.gens)


def update_run(fleet: Fleet, writer: record.Writer, info: dict) -> Sample:
    fleet.reset()
    start = time.time() - STAMP_SLACK
    info["status"] = f"stamp {time.time():.6f}"
    writer.update(info, 0)
    return _sample(fleet, start)


def relay_run(bench: Bench, fleet: Fleet) -> Sample:
    fleet.reset()
    start = time.time() - STAMP_SLACK
    message = {"update": {"id": "relay", "status": f"stamp {time.time():.6f}"}}
    bench.redis.publish(RELAY_CHANNEL, json.dumps(message, separators=(",", ":")))
    return _sample(fleet, start)


def _sample(fleet: Fleet, start: float) -> Sample:
    samples = fleet.arrivals(start)
    return {**percentiles(samples), "missing.clients": fleet.clients - len(samples)}


def rss_per_client(server: WsServer, base: int, clients: int, reads: int) -> list[float]:
    """KiB of server RSS per client over ``base``, read ``reads`` times 0.2 s apart."""
    values = []
    for _ in range(reads):
        time.sleep(0.2)
        values.append((server.rss() - base) / clients / 1024)
    return values


def idle_baseline(server: WsServer, fleet: Fleet) -> tuple[int, int]:
    """One client per generator (the hub connected, the code paths warm), and the RSS then."""
    fleet.grow(len(fleet.gens))
    time.sleep(0.5)
    return fleet.clients, server.rss()


def measure(bench: Bench, options: Options) -> list[Figure]:
    bench.start()
    info = record.new_info(GROUP, "fan-out", None)
    info.update(status="Running", date_start=record.now())
    store_jobs(bench.redis, [info], 0)
    writer = record.Writer(bench.redis)
    per_step: dict[int, dict] = {}
    figures: list[Figure] = []
    held = relay_held = 0
    with contextlib.ExitStack() as stack:
        log_dir = bench.workdir
        server = stack.enter_context(
            WsServer(log_dir / "fanout-server.log", bench.redis_server.url)
        )
        gens = [
            stack.enter_context(LoadGenerator(log_dir / f"fanout-loadgen-{i}.log"))
            for i in range(GENERATORS)
        ]
        fleet = Fleet(gens, server)
        base_clients, base_rss = idle_baseline(server, fleet)
        for step in steps(options):
            connect_s = fleet.grow(step)
            memory = rss_per_client(server, base_rss, step - base_clients, options.repeat)
            server.gc_pauses()
            ours, floor = alternate(
                options.repeat,
                lambda: update_run(fleet, writer, info),
                lambda: relay_run(bench, fleet),
                f"fanout ({step} clients)",
            )
            p99, relay_p99 = (
                statistics.median(column(ours, "p99")),
                statistics.median(column(floor, "p99")),
            )
            per_step[step] = {
                "connect_s": round(connect_s, 2),
                "memory_kib_per_client": statistics.median(memory),
                **{f"{k}_ms": statistics.median(column(ours, k)) for k in ("p50", "p99", "max")},
                **{
                    f"relay_{k}_ms": statistics.median(column(floor, k))
                    for k in ("p50", "p99", "max")
                },
                "missing_clients": max(column(ours, "missing.clients")),
                "server_full_gc_ms": server.gc_pauses(),
            }
            figures.append(
                Figure(
                    f"fanout.p99.c{step}",
                    "ms",
                    column(ours, "p99"),
                    column(floor, "p99"),
                    RELAY,
                    Goal("value", "<=", LIMIT_MS),
                    {"clients": step, **per_step[step]},
                )
            )
            if relay_held == held and relay_p99 <= LIMIT_MS:
                relay_held = step
            if p99 > LIMIT_MS:
                break
            held = step
        fleet.close()
        bare_memory = bare_floor(bench, gens, step, options)
    return [
        Figure(
            "fanout.clients",
            "clients",
            [float(held)],
            [float(relay_held)],
            "clients the relay floor held (steps up to the first the hub missed)",
            Goal("value", ">=", steps(options)[-1]),
            {"steps": per_step, "limit_ms": LIMIT_MS, "group": "one, all clients"},
        ),
        *figures,
        Figure(
            "fanout.memory_per_client",
            "KiB/client",
            memory,
            bare_memory,
            BARE,
            Goal("value", "<=", 50),
            {
                "clients": step,
                "kib_per_step": {n: d["memory_kib_per_client"] for n, d in per_step.items()},
            },
        ),
    ]


def bare_floor(
    bench: Bench, gens: list[LoadGenerator], clients: int, options: Options
) -> list[float]:
    """KiB of RSS per idle client of a bare Tornado websocket, in a fresh server process."""
    log_path = bench.workdir / "fanout-bare-server.log"
    with WsServer(log_path, bench.redis_server.url) as server:
        fleet = Fleet(gens, server, "/bare-ws/")
        try:
            base_clients, base_rss = idle_baseline(server, fleet)
            fleet.grow(clients)
            return rss_per_client(server, base_rss, clients - base_clients, options.repeat)
        finally:
            fleet.close()
