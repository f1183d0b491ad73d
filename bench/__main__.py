"""``python -m bench``: run the measurements, print the table, write the JSON.

Run it from the repository root (``make bench``). It starts its own Redis and a
2-engine local cluster, and stops them when it ends.

Each measurement is a module with ``measure(bench, options) -> list[Figure]``; list new
ones in :data:`MEASUREMENTS`, in the order they should run. The websocket ones (latency,
fanout, biglist) also start a server (:mod:`bench.wsserver`), load generators
(:mod:`bench.loadgen`) and, for biglist, headless Chromium: each stopped by PID when its
measurement ends, however it ends.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ipyparallel
import redis

from bench import biglist, bulk, cancel, cost, dispatch, fanout, latency, output, scaling
from bench.harness import REPO_ROOT, Bench, Options, log
from bench.report import Figure, table, write_json

Measure = Callable[[Bench, Options], list[Figure]]

MEASUREMENTS: dict[str, Measure] = {
    "dispatch": dispatch.measure,
    "bulk": bulk.measure,
    "cost": cost.measure,
    "latency": latency.measure,
    "fanout": fanout.measure,
    "biglist": biglist.measure,
    "cancel": cancel.measure,
    "output": output.measure,
    "scaling": scaling.measure,
}

RESULTS = REPO_ROOT / "bench" / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="moi's benchmarks, each beside its floor."
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, for a smoke test (figures mean little)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(MEASUREMENTS),
        metavar="NAME",
        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each measurement (default 5, quick 2)"
    )
    parser.add_argument(
        "--engines", type=int, default=2, help="engines in the local cluster (default 2)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file to add the figures to "
        "(default bench/results/<date>.json, or <date>-quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.out is None:
        today = datetime.date.today().isoformat()
        args.out = RESULTS / f"{today}{'-quick' if args.quick else ''}.json"
    return args


def machine(bench: Bench, load_at_start: tuple[float, ...]) -> dict[str, object]:
    """What the figures were measured on: they mean little without it.

    The load averages hint at how much else ran on the machine meanwhile.
    """
    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in handle if "model name" in line), ""
            )
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "engines": bench.engines,
        "python": platform.python_version(),
        "redis_server": bench.redis.info("server")["redis_version"],
        "redis_py": redis.__version__,
        "ipyparallel": ipyparallel.__version__,
        "load_average_at_start": [round(load, 2) for load in load_at_start],
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
    }


def commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(quick=args.quick, repeat=args.repeat)
    names = args.only or list(MEASUREMENTS)
    started = time.monotonic()
    load_at_start = os.getloadavg()
    figures: list[Figure] = []
    with Bench(engines=args.engines) as bench:
        log(f"bench: starting Redis and {bench.engines} engines")
        bench.start()
        timings: dict[str, float] = {}
        for name in names:
            log(f"bench: {name}")
            began = time.monotonic()
            figures += MEASUREMENTS[name](bench, options)
            timings[name] = round(time.monotonic() - began, 1)
            log(f"bench: {name} took {timings[name]} s")
        run = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit(),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "quick": options.quick,
            "repeat": options.repeat,
            "seconds": round(time.monotonic() - started, 1),
            "seconds_per_measurement": timings,
            "machine": machine(bench, load_at_start),
        }
    print(table(figures))
    write_json(args.out, figures, run)
    log(f"bench: {len(figures)} figures in {run['seconds']} s, written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
