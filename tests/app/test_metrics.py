"""`/metrics`: Prometheus text that parses, counters that move as jobs run, who may read it."""

from __future__ import annotations

import dataclasses
import time

from prometheus_client.parser import text_string_to_metric_families

from moi import keys
from moi.job import wait
from tests.app.conftest import Client, serving


def scrape(client: Client) -> dict[str, float]:
    """Every sample of /metrics, by name and labels, e.g. ``moi_jobs_ended_total{status=...}``."""
    response = client.get("/metrics")
    assert response.status == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_parse_and_move_as_jobs_run(exclusive_dispatch, auth, server, r):
    """The app dispatches here (the session's client stands by), so it counts the ends."""
    before = scrape(auth)
    assert before["moi_hub_clients"] >= 0 and "moi_hub_groups" in before

    auth.post("/jobs/hello", name="Ann")
    auth.post("/jobs/fail", message="on purpose")
    for job_id in r.smembers(keys.group_jobs_key(auth.group)):
        wait(job_id, timeout=30)
    # The dispatcher counts a job's end when the engine's task comes back, a moment after
    # the end is stored; nothing tells the test when: read again until both are counted.
    deadline = time.monotonic() + 30
    while True:
        after = scrape(auth)
        ended = after.get("moi_job_run_seconds_count", 0) - before.get(
            "moi_job_run_seconds_count", 0
        )
        if ended >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    def moved(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert moved("moi_jobs_submitted_total") == 2
    assert moved("moi_jobs_ended_total{status=Success}") == 1
    assert moved("moi_jobs_ended_total{status=Failed}") == 1
    assert moved("moi_job_run_seconds_count") == 2
    assert moved("moi_job_queue_wait_seconds_count") == 2
    assert "moi_jobs_ended_total{status=Cancelled}" in after  # every status, 0 or not


def test_metrics_are_refused_to_other_addresses(settings, r, app_settings, caplog):
    elsewhere = dataclasses.replace(app_settings, metrics_from=("10.0.0.0/8",))
    with serving(settings, elsewhere, caplog) as served:
        assert Client(served.url).get("/metrics").status == 403


def test_metrics_can_be_turned_off(settings, r, app_settings, caplog):
    off = dataclasses.replace(app_settings, metrics=False)
    with serving(settings, off, caplog) as served:
        assert Client(served.url).get("/metrics").status == 404
