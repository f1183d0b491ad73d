"""The demo's sample jobs: plain functions that run on ipyparallel engines.

moi calls each as ``func(*args, status_update=..., **kwargs)``. They travel to the
engines by reference, so this module must be importable there (it is, for the local
cluster; on other machines install the app next to moi). Keep job code free of web
imports: engines need neither Tornado nor the app's settings.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Callable

StatusUpdate = Callable[..., None]

PI_POINTS_KEPT = 500
"""Sampled points a pi job returns for its picture; enough to see the quarter circle."""
PI_PROGRESS_STEPS = 20
SIMULATE_WARN_EVERY = 5
"""A simulation prints a warning on stderr every this many steps."""

log = logging.getLogger(__name__)


class DemoFailure(RuntimeError):
    """What the fail job raises, so its traceback names an error of our own."""


def hello(name: str, *, status_update: StatusUpdate, **kwargs) -> str:
    """Greet ``name``: the smallest job there is, with one status of its own."""
    status_update("Saying hello")
    return f"Hello, {name}!"


def countdown(seconds: int, *, status_update: StatusUpdate, **kwargs) -> str:
    """Count down, one status update with progress each second, to show a live bar."""
    for left in range(seconds, 0, -1):
        status_update(f"{left} s to go", progress=(seconds - left) / seconds)
        time.sleep(1)
    status_update("Lift-off", progress=1.0)
    return f"Counted down from {seconds}."


def fail(message: str, *, status_update: StatusUpdate, **kwargs) -> None:
    """Raise on purpose, to show a ``Failed`` job, its traceback, and what it printed
    before it raised."""
    status_update("About to fail")
    print("Checking the input…", flush=True)
    print(f"Giving up: {message}", file=sys.stderr)
    raise DemoFailure(message)


def simulate(steps: int, delay_ms: int, *, status_update: StatusUpdate, **kwargs) -> dict:
    """Pretend to run a model ``steps`` steps long, ``delay_ms`` apart, printing as a
    scientist's job does, to show a job's live output: a line per step on stdout, a
    warning on stderr every :data:`SIMULATE_WARN_EVERY` steps, one ``logging`` record
    half way, and a status with progress each step.
    """
    rng = random.Random()
    energy = 1.0
    warnings = 0
    for step in range(1, steps + 1):
        time.sleep(delay_ms / 1000)
        energy *= rng.uniform(0.9, 0.99)
        print(f"step {step}/{steps}: energy {energy:.4f}", flush=True)
        if step % SIMULATE_WARN_EVERY == 0:
            residual = rng.uniform(0.001, 0.01)
            print(f"warning: step {step}: residual {residual:.4f} too high", file=sys.stderr)
            warnings += 1
        if step == (steps + 1) // 2:
            log.warning("half way, at step %d of %d: tolerance tightened", step, steps)
        status_update(f"step {step} of {steps}", progress=step / steps)
    print(f"done: {steps} steps, final energy {energy:.4f}, {warnings} warnings", flush=True)
    return {"steps": steps, "energy": energy, "warnings": warnings}


def pi(samples: int, *, status_update: StatusUpdate, **kwargs) -> dict:
    """Estimate pi by throwing ``samples`` random points at the unit square.

    The fraction landing inside the quarter circle tends to pi/4. The result holds what
    the result page draws: the first points thrown, and the estimate after 1, 2, 4, ...
    samples (and at the end), to show how slowly it settles.
    """
    rng = random.Random()
    inside = 0
    points: list[list[float]] = []
    convergence: list[list[float]] = []
    next_mark = 1
    step = max(1, samples // PI_PROGRESS_STEPS)
    for count in range(1, samples + 1):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            inside += 1
        if count <= PI_POINTS_KEPT:
            points.append([round(x, 4), round(y, 4)])
        if count == next_mark:
            convergence.append([count, 4 * inside / count])
            next_mark *= 2
        if count % step == 0 and count < samples:
            status_update(f"{count:,} of {samples:,} samples", progress=count / samples)
    if convergence[-1][0] != samples:
        convergence.append([samples, 4 * inside / samples])
    estimate = 4 * inside / samples
    return {
        "samples": samples,
        "inside": inside,
        "estimate": estimate,
        "error": estimate - math.pi,
        "points": points,
        "convergence": convergence,
    }
