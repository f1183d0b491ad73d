"""Figures, the table they are printed as, and the JSON file they are kept in.

A :class:`Figure` is one quantity measured ``repeat`` times, usually beside its floor
(the same work done the cheapest way, measured in the same run). The ratio is taken run
by run, value over floor, so slow drift on a shared machine falls on both sides of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Goal:
    """A target from the benchmark issue: ``on`` (``"ratio"`` or ``"value"``) ``op`` ``target``."""

    on: str
    op: str
    target: float

    def met(self, figure: Figure) -> bool | None:
        samples = figure.ratios if self.on == "ratio" else figure.values
        if not samples:
            return None
        got = statistics.median(samples)
        return got >= self.target if self.op == ">=" else got <= self.target

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.target:g}"


@dataclasses.dataclass
class Figure:
    """One measured quantity: a sample per repetition, and the floor's sample beside it."""

    name: str
    """``<measurement>.<figure>``, the key in the JSON file."""
    unit: str
    values: list[float]
    floor: list[float] | None = None
    floor_label: str = ""
    """What the floor is, in a few words (printed under the table)."""
    goal: Goal | None = None
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Anything else worth keeping in the JSON (breakdowns, sizes)."""
    note: str = ""
    """A few words for the goal column: a verdict, or why there are no values (skipped)."""

    @property
    def ratios(self) -> list[float]:
        if not self.floor:
            return []
        return [v / f if f else float("nan") for v, f in zip(self.values, self.floor, strict=True)]

    def as_json(self) -> dict[str, Any]:
        return rounded(self._as_json())

    def _as_json(self) -> dict[str, Any]:
        if not self.values:
            return {"unit": self.unit, "skipped": self.note or "not measured"}
        out: dict[str, Any] = {"unit": self.unit, **summary(self.values)}
        if self.floor:
            out["floor"] = {"what": self.floor_label, **summary(self.floor)}
            out["ratio"] = summary(self.ratios)
        if self.goal:
            out["goal"] = str(self.goal)
            out["goal_met"] = self.goal.met(self)
        if self.note:
            out["note"] = self.note
        if self.detail:
            out["detail"] = self.detail
        return out


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, extremes and relative spread ((max - min) / median) of ``samples``."""
    median = statistics.median(samples)
    low, high = min(samples), max(samples)
    return {
        "median": median,
        "min": low,
        "max": high,
        "spread": (high - low) / median if median else 0.0,
        "samples": list(samples),
    }


def rounded(value: Any) -> Any:
    """``value`` with every float cut to 6 significant digits, for a readable JSON file."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def number(value: float) -> str:
    """Three significant digits without exponents: 2345 -> 2345, 12.34 -> 12.3."""
    if value != value:  # NaN
        return "-"
    magnitude = abs(value)
    if magnitude >= 100 or magnitude == 0:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(samples: list[float]) -> tuple[str, str]:
    if not samples:
        return "", ""
    if len(samples) == 1:
        return number(samples[0]), ""
    return number(statistics.median(samples)), f"{number(min(samples))}–{number(max(samples))}"


HEADER = ("figure", "unit", "moi", "min–max", "floor", "min–max", "ratio", "min–max", "goal")


def table(figures: list[Figure]) -> str:
    """The figures as a plain-text table: medians with their ranges, and a floor legend."""
    rows = [HEADER]
    for figure in figures:
        goal = ""
        if figure.goal and figure.values:
            met = figure.goal.met(figure)
            goal = f"{figure.goal} {'met' if met else 'MISSED'}"
        goal = "; ".join(part for part in (goal, figure.note) if part)
        rows.append(
            (
                figure.name,
                figure.unit,
                *_cell(figure.values),
                *_cell(figure.floor or []),
                *_cell(figure.ratios),
                goal,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    floors = [f"  {names}: {label}" for label, names in _floor_legend(figures)]
    if floors:
        lines += ["", "floors (ratio = moi / floor, run by run):", *floors]
    return "\n".join(lines)


def _floor_legend(figures: list[Figure]) -> list[tuple[str, str]]:
    """Each floor once, with the figures beside it: up to 3 named, more as ``prefix.*``."""
    named: dict[str, list[str]] = {}
    for figure in figures:
        if figure.floor_label:
            named.setdefault(figure.floor_label, []).append(figure.name)
    legend = []
    for label, names in named.items():
        if len(names) <= 3:
            legend.append((label, ", ".join(names)))
            continue
        parts = [name.split(".") for name in names]
        common = []
        for level in zip(*parts, strict=False):
            if len(set(level)) > 1:
                break
            common.append(level[0])
        legend.append((label, f"{'.'.join(common) or ''}.* ({len(names)} figures)"))
    return legend


def write_json(path: Path, figures: list[Figure], run: dict[str, Any]) -> None:
    """Add this run's figures to ``path`` (one file per day), replacing same-named ones.

    A partial run (``--only``) so keeps the day's other figures; each figure records the
    run it came from. Written to a temporary file and renamed, so no reader sees half.
    """
    data: dict[str, Any] = {"runs": [], "figures": {}}
    if path.exists():
        with contextlib.suppress(ValueError):
            data = json.loads(path.read_text())
    data.setdefault("runs", []).append(run)
    run_index = len(data["runs"]) - 1
    for figure in figures:
        data.setdefault("figures", {})[figure.name] = {"run": run_index, **figure.as_json()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(partial, path)
