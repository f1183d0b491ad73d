"""Geometry for the pi result page's two SVG pictures, computed from the job's result.

The template draws; this module only turns numbers into coordinates. The result is
data from a job, so every number is checked before it is used, and anything that is
not a finite number where one is expected is left out rather than drawn wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SIZE = 300
"""Side of the square scatter plot, in SVG units."""
WIDTH, HEIGHT, MARGIN = 320, 200, 36
"""The convergence chart's box and the room left of and below it for labels."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _pair(item: Any) -> tuple[float, float] | None:
    if not isinstance(item, list | tuple) or len(item) != 2:
        return None
    a, b = _number(item[0]), _number(item[1])
    return None if a is None or b is None else (a, b)


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    inside: bool


def scatter(points: Any, size: int = SIZE) -> list[Dot]:
    """The sampled points in SVG coordinates (y grows downwards), marked inside or out."""
    dots = []
    for item in points if isinstance(points, list) else []:
        pair = _pair(item)
        if pair is None or not all(0 <= v <= 1 for v in pair):
            continue
        x, y = pair
        dots.append(Dot(round(x * size, 1), round((1 - y) * size, 1), x * x + y * y <= 1))
    return dots


def quarter_circle(size: int = SIZE) -> str:
    """Path of the quarter circle of radius 1 about the bottom-left corner."""
    return f"M 0 0 A {size} {size} 0 0 1 {size} {size}"


@dataclass(frozen=True)
class Convergence:
    path: str
    """The estimate as an SVG path, samples on a log scale."""
    pi_y: float
    """Where the line y = pi is drawn."""
    low: float
    high: float
    """The estimates at the bottom and top of the chart."""
    first: int
    last: int
    """The sample counts at the left and right ends."""


def convergence(series: Any) -> Convergence | None:
    """The estimate against the number of samples, or None with fewer than two points."""
    pairs = [p for p in map(_pair, series if isinstance(series, list) else []) if p]
    pairs = [(n, est) for n, est in pairs if n >= 1]
    if len(pairs) < 2:
        return None
    first, last = pairs[0][0], pairs[-1][0]
    span = max(0.05, *(abs(est - math.pi) for _, est in pairs))
    low, high = math.pi - span, math.pi + span
    log_first, log_range = math.log10(first), math.log10(last / first) or 1.0

    def x(n: float) -> float:
        return round(MARGIN + (math.log10(n) - log_first) / log_range * (WIDTH - MARGIN), 1)

    def y(value: float) -> float:
        return round((high - value) / (high - low) * (HEIGHT - MARGIN), 1)

    path = "M " + " L ".join(f"{x(n)} {y(est)}" for n, est in pairs)
    return Convergence(path, y(math.pi), low, high, int(first), int(last))


@dataclass(frozen=True)
class PiPicture:
    """Everything the pi result page shows, checked and laid out."""

    estimate: float
    error: float
    samples: int
    inside: int
    dots: list[Dot]
    quarter_circle: str
    convergence: Convergence | None


def pi_picture(result: Any) -> PiPicture | None:
    """The pi page's figures from a pi job's result, or None if it is not one."""
    if not isinstance(result, dict):
        return None
    estimate, samples, inside = (_number(result.get(k)) for k in ("estimate", "samples", "inside"))
    if estimate is None or samples is None or inside is None:
        return None
    return PiPicture(
        estimate=estimate,
        error=estimate - math.pi,
        samples=int(samples),
        inside=int(inside),
        dots=scatter(result.get("points")),
        quarter_circle=quarter_circle(),
        convergence=convergence(result.get("convergence")),
    )
