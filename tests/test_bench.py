"""bench: a smoke run with tiny sizes, so ``make bench`` cannot rot unnoticed.

The figures of a ``--quick`` run mean nothing; only their presence and shape are checked,
and a sign only where noise cannot flip it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from bench import biglist, fanout
from bench.harness import Options
from bench.report import Figure, Goal, table, write_json
from tests.browser import chromium

REPO_ROOT = Path(__file__).resolve().parent.parent
QUICK = Options(quick=True, repeat=2)

BIGLIST_BROWSER = {
    "biglist.browser_render",
    "biglist.browser_first_rows_100k",
    "biglist.browser_complete_100k",
    "biglist.browser_heap_100k",
    "biglist.search_100k",
    "biglist.browser_lag_p99_100k",
    "biglist.browser_fps_100k",
}
LATENCY = {
    f"latency.{setup}.{stat}"
    for setup in ("c1_g1", "c10_g1", "c10_g5")
    for stat in ("p50", "p99", "max")
}
FIGURES = {
    "dispatch.throughput",
    "dispatch.time",
    "dispatch.submit_call",
    "dispatch.cpu",
    "dispatch.round_trip.p50",
    "dispatch.round_trip.p99",
    "bulk.throughput",
    "bulk.jobs_per_s",
    "bulk.time",
    "bulk.submit_call",
    "bulk.cpu",
    "cost.commands",
    "cost.round_trips",
    "cost.bytes",
    "cost.keyspace_memory",
    *LATENCY,
    "fanout.clients",
    "fanout.p99.c10",
    "fanout.p99.c20",
    "fanout.memory_per_client",
    "biglist.group_jobs",
    "biglist.websocket",
    *BIGLIST_BROWSER,
    *(f"cancel.{what}.{stat}" for what in ("stored", "free") for stat in ("p50", "p99")),
    *(f"output.{what}.{stat}" for what in ("line", "line_slow") for stat in ("p50", "p99", "max")),
    "output.loud.others_p99",
    "output.loud.stored",
    "output.loud.lines_per_s",
    "output.browser.fps",
    "output.browser.first_paint",
    *(f"scaling.hub_notice.{mode}" for mode in ("burst", "paced")),
    *(
        f"scaling.publish.{mode}.p{subscribers}"
        for mode in ("alone", "busy", "burst")
        for subscribers in (1, 10, 100)
    ),
    *(f"scaling.group_add.h{hubs}" for hubs in (1, 10, 100)),
    "scaling.redis_per_job",
    "scaling.scheduler_per_job",
}
BROWSER = {*BIGLIST_BROWSER, "output.browser.fps", "output.browser.first_paint"}
ONE_SAMPLE = {"fanout.clients"}  # one step-up per run
NO_FLOOR = {"biglist.browser_fps_100k"}
"""The page's frames a second over one live stream: one sample, and no floor (the
display's refresh caps it; the goal is a rate)."""
SAMPLES = {
    "biglist.search_100k": QUICK.repeat * len(biglist.QUERIES),  # each query, each run
    "biglist.browser_lag_p99_100k": round(biglist.sizes(QUICK)["stream_s"]),  # each second
}
"""Figures with other than one sample a run: this many in all."""
MEMORY = {"cost.keyspace_memory", "fanout.memory_per_client"}
"""Differences of memory readings (RSS, used_memory): noise can flip a small one's sign."""
TICKS = {"bulk.cpu", "scaling.scheduler_per_job", "biglist.search_100k"}
"""Coarse clocks. CPU times count in 10-ms ticks: a quick bulk floor (300 trivial items)
may read 0, and so may the controller's share of a quick run's 40 jobs through moi; and a
search of a quick run's 2,000 names may take less than the page clock's 0.1-ms step."""
CAPACITY = "fanout.clients"
"""The last step of the step-up that kept under the limit, or 0: asserted to be a step."""


def expected_figures(data: dict) -> set[str]:
    """Every figure but the fan-out steps after the first one over the limit (never run)."""
    held = data["figures"][CAPACITY]["median"]
    assert held in (0, *fanout.QUICK_STEPS), held
    never_run = [step for step in fanout.QUICK_STEPS if step > held][1:]
    return FIGURES - {f"fanout.p99.c{step}" for step in never_run}


def check_samples(name: str, figure: dict) -> None:
    """Both sides' samples are finite; counts and durations are positive, a capacity a step."""
    for samples in (figure["samples"], figure["floor"]["samples"]):
        assert all(math.isfinite(value) for value in samples), (name, samples)
        if name == CAPACITY:
            assert set(samples) <= {0, *fanout.QUICK_STEPS}, (name, samples)
        elif name in TICKS:
            assert all(value >= 0 for value in samples), (name, samples)
        elif name not in MEMORY:
            assert all(value > 0 for value in samples), (name, samples)


def leftovers(marker: str) -> list[str]:
    """Processes still alive that inherited ``MOI_BENCH_SMOKE=marker`` from the bench."""
    found = []
    for process in psutil.process_iter(["pid", "name"]):
        try:
            if process.environ().get("MOI_BENCH_SMOKE") == marker:
                found.append(f"{process.info['pid']} ({process.info['name']})")
        except psutil.Error:
            continue
    return found


@pytest.mark.timeout(260)
def test_quick_run_prints_the_table_and_writes_every_figure(tmp_path):
    marker = uuid.uuid4().hex  # every process the run starts inherits it
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeat", f"{QUICK.repeat}", "--out", out],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "MOI_BENCH_SMOKE": marker},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header = done.stdout.splitlines()[0].split()
    assert header[:3] == ["figure", "unit", "moi"]
    data = json.loads(out.read_text())
    expected = expected_figures(data)
    assert set(data["figures"]) == expected
    for name in expected:
        assert name in done.stdout
    assert data["runs"][0]["quick"] is True
    for name, figure in data["figures"].items():
        if name in BROWSER and chromium.missing():
            assert figure["skipped"].startswith("skipped: no "), name
            continue
        if name in NO_FLOOR:
            assert "floor" not in figure and len(figure["samples"]) == 1, name
            assert all(value > 0 for value in figure["samples"]), (name, figure)
            continue
        samples = 1 if name in ONE_SAMPLE else SAMPLES.get(name, QUICK.repeat)
        assert len(figure["samples"]) == len(figure["floor"]["samples"]) == samples, name
        check_samples(name, figure)
    assert data["figures"]["dispatch.throughput"]["goal"] == "ratio >= 0.9"
    assert data["figures"]["dispatch.round_trip.p50"]["goal"] == "ratio <= 1.5"
    assert data["figures"]["bulk.throughput"]["goal"] == "ratio >= 0.8"
    assert data["figures"]["bulk.jobs_per_s"]["goal"] == "value >= 5000"
    assert data["figures"]["latency.c1_g1.p50"]["goal"] == "ratio <= 2"
    assert data["figures"]["biglist.websocket"]["goal"] == "value <= 500"
    assert data["figures"]["output.line.p99"]["goal"] == "value <= 50"
    assert data["figures"]["output.loud.others_p99"]["goal"] == "ratio <= 1.2"
    stored = data["figures"]["output.loud.stored"]
    assert stored["goal_met"] is True, stored  # the cap holds, whatever the noise
    assert not leftovers(marker), "processes outlived the bench run"


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


def test_a_skipped_figure_shows_why_and_keeps_no_numbers(tmp_path):
    note = "skipped: no /usr/bin/chromium (apt-get install chromium chromium-driver)"
    figure = Figure("b.render", "ms", [], goal=Goal("value", "<=", 1000), note=note)
    row = table([figure]).splitlines()[2]
    assert row.startswith("b.render") and row.endswith(note)
    assert "MISSED" not in row
    path = tmp_path / "day.json"
    write_json(path, [figure], {"run": 1})
    assert json.loads(path.read_text())["figures"]["b.render"] == {
        "run": 0,
        "unit": "ms",
        "skipped": note,
    }


def test_the_floor_legend_names_each_floor_once():
    figures = [Figure(f"l.c{n}.p50", "ms", [1.0], [1.0], "raw") for n in range(5)]
    figures.append(Figure("l.other", "ms", [1.0], [1.0], "bare"))
    legend = table(figures).split("floors (ratio = moi / floor, run by run):\n")[1]
    assert legend.splitlines() == ["  l.* (5 figures): raw", "  l.other: bare"]
