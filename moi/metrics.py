"""moi's Prometheus metrics, made with the official client library (``prometheus_client``).

They live in prometheus_client's default registry, as that library's own metrics do,
so an application exposes them with its usual ``generate_latest()`` (the demo mounts
``/metrics``). Each process counts what it did or saw: the jobs it submitted, the ends
it learnt of (from its own tasks' replies, its own failure writes, its own cancels),
its hub's clients and messages. Prometheus sums the processes.

No label names a user, a group or a job: the only label is a job's final status, so the
number of series stays fixed however many jobs and users there are.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from moi.status import FINAL_STATUSES

if TYPE_CHECKING:
    from moi.hub import Hub

# Seconds, from a trivial job's milliseconds to a long computation's hour.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

SUBMITTED = Counter("moi_jobs_submitted", "Jobs this process submitted.")
ENDED = Counter(
    "moi_jobs_ended",
    "Jobs this process saw end, by final status (its own jobs' ends, its failure writes, "
    "its cancels).",
    ["status"],
)
CANCELLED = Counter("moi_jobs_cancelled", "Jobs this process cancelled (a cancel that ended one).")
RETRIED = Counter(
    "moi_jobs_retried",
    "Jobs this process sent again because their engine died or went silent (its submitter "
    "for a dead engine, the reaper for a lapsed lease).",
)
RUN_SECONDS = Histogram(
    "moi_job_run_seconds",
    "How long this process's jobs ran, from start to end on the engine.",
    buckets=DURATION_BUCKETS,
)
QUEUE_SECONDS = Histogram(
    "moi_job_queue_wait_seconds",
    "How long this process's jobs waited, from submit to their start on an engine.",
    buckets=DURATION_BUCKETS,
)
NOTICES = Counter("moi_hub_notices", "Pub/sub messages this process's hubs received.")
MESSAGES = Counter("moi_hub_messages_sent", "Websocket messages this process's hubs sent.")
RECONNECTS = Counter(
    "moi_hub_redis_reconnects", "Times a hub of this process lost Redis and listened again."
)

for _status in sorted(FINAL_STATUSES):
    ENDED.labels(_status)  # every status shows, at 0 until it happens


class HubCollector:
    """The clients and groups of this process's hubs, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.hubs: weakref.WeakSet[Hub] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        feeds = [feed for hub in list(self.hubs) for feed in list(hub.feeds.values())]
        clients = GaugeMetricFamily("moi_hub_clients", "Websocket clients connected to the hubs.")
        clients.add_metric([], sum(len(feed.clients) for feed in feeds))
        groups = GaugeMetricFamily("moi_hub_groups", "Groups with a connected client.")
        groups.add_metric([], sum(1 for feed in feeds if feed.clients))
        yield clients
        yield groups


HUBS = HubCollector()
REGISTRY.register(HUBS)


def ended(status: str, queued: float | None = None, ran: float | None = None) -> None:
    """Count a job's end, with its times when they are known."""
    ENDED.labels(status).inc()
    if queued is not None and queued >= 0:
        QUEUE_SECONDS.observe(queued)
    if ran is not None and ran >= 0:
        RUN_SECONDS.observe(ran)
