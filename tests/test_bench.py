"""bench: a smoke run with tiny sizes, so ``make bench`` cannot rot unnoticed.

The figures of a ``--quick`` run mean nothing; only their presence and shape are checked.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench.report import Figure, Goal, table, write_json

REPO_ROOT = Path(__file__).resolve().parent.parent

FIGURES = {
    "dispatch.throughput",
    "dispatch.time",
    "dispatch.submit_call",
    "dispatch.cpu",
    "cost.commands",
    "cost.round_trips",
    "cost.bytes",
    "cost.keyspace_memory",
}


def test_quick_run_prints_the_table_and_writes_every_figure(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeat", "2", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header = done.stdout.splitlines()[0].split()
    assert header[:3] == ["figure", "unit", "moi"]
    for name in FIGURES:
        assert name in done.stdout
    data = json.loads(out.read_text())
    assert set(data["figures"]) == FIGURES
    assert data["runs"][0]["quick"] is True
    for name, figure in data["figures"].items():
        assert len(figure["samples"]) == 2, name
        assert figure["median"] > 0 and math.isfinite(figure["median"]), name
        assert figure["ratio"]["median"] > 0, name
    assert data["figures"]["dispatch.throughput"]["goal"] == "ratio >= 0.9"


def test_a_partial_run_keeps_the_days_other_figures(tmp_path):
    path = tmp_path / "day.json"
    first = Figure("a.x", "s", [1.0, 3.0], [2.0, 2.0], "floor", Goal("ratio", "<=", 1.0))
    write_json(path, [first, Figure("a.y", "s", [5.0])], {"run": 1})
    write_json(path, [Figure("a.y", "s", [7.0])], {"run": 2})
    data = json.loads(path.read_text())
    assert data["figures"]["a.x"]["run"] == 0
    assert data["figures"]["a.x"]["ratio"]["samples"] == [0.5, 1.5]
    assert data["figures"]["a.x"]["goal_met"] is True
    assert data["figures"]["a.y"] == {
        "run": 1,
        "unit": "s",
        "median": 7.0,
        "min": 7.0,
        "max": 7.0,
        "spread": 0.0,
        "samples": [7.0],
    }
    assert [run["run"] for run in data["runs"]] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))


def test_table_shows_medians_ranges_and_the_goal():
    figure = Figure(
        "d.t", "jobs/s", [90.0, 100.0, 120.0], [100.0] * 3, "bare", Goal("ratio", ">=", 0.9)
    )
    text = table([figure])
    row = text.splitlines()[2].split()
    assert row[:8] == ["d.t", "jobs/s", "100", "90.0–120", "100", "100–100", "1.00", "0.900–1.20"]
    assert text.splitlines()[2].endswith("ratio >= 0.9 met")
    assert "d.t: bare" in text
