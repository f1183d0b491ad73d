"""The sample job functions, called here directly (the form tests run them on engines)."""

from __future__ import annotations

import math

import pytest

from app import jobs


class Recorder:
    """Stands in for moi's ``status_update``: remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, float | None]] = []

    def __call__(self, status: str | None = None, *, progress: float | None = None) -> None:
        self.calls.append((status, progress))


def test_hello_sets_a_status_then_greets():
    status = Recorder()
    assert jobs.hello("Ann", status_update=status) == "Hello, Ann!"
    assert status.calls == [("Saying hello", None)]


def test_countdown_updates_status_and_progress_each_second(monkeypatch):
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    status = Recorder()
    assert jobs.countdown(3, status_update=status) == "Counted down from 3."
    assert slept == [1, 1, 1]
    assert status.calls == [
        ("3 s to go", 0.0),
        ("2 s to go", pytest.approx(1 / 3)),
        ("1 s to go", pytest.approx(2 / 3)),
        ("Lift-off", 1.0),
    ]


def test_fail_raises_its_own_error():
    with pytest.raises(jobs.DemoFailure, match="boom"):
        jobs.fail("boom", status_update=Recorder())


@pytest.mark.parametrize("samples", [100, 1000, 4096])
def test_pi_estimates_and_reports_progress(samples):
    status = Recorder()
    result = jobs.pi(samples, status_update=status)
    assert result["samples"] == samples
    assert 0 <= result["inside"] <= samples
    assert result["estimate"] == 4 * result["inside"] / samples
    assert result["error"] == result["estimate"] - math.pi
    assert len(result["points"]) == min(samples, jobs.PI_POINTS_KEPT)
    counts = [count for count, _ in result["convergence"]]
    assert counts[0] == 1 and counts[-1] == samples
    assert counts == sorted(set(counts))
    progress = [p for _, p in status.calls]
    assert progress == sorted(progress) and all(0 < p < 1 for p in progress)
    assert len(status.calls) <= jobs.PI_PROGRESS_STEPS
