"""The controller's memory as jobs go through moi: flat, since ipyparallel holds no job.

::

    python -m bench.controller_memory [--jobs 100000]

starts a Redis of its own and a 2-engine local cluster, dispatches from this process, and
reads the RSS of the controller and its scheduler processes before and after ``jobs``
trivial jobs sent as ``map`` calls of 10,000, then as many single submits. Before moi had
its own queue every job was a controller task, and the controller grew about 1.4 MB per
1,000 jobs, for ever.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from bench import jobs
from moi import config
from moi.embedded import LocalCluster, RedisServer, free_port
from moi.sync import SyncClient

BATCH = 10_000


def controller_mib(cluster: LocalCluster) -> float:
    """RSS of the controller and its helper processes (the schedulers), in MiB."""
    controller = psutil.Process(cluster.cluster.controller.process.pid)
    processes = [controller, *controller.children(recursive=True)]
    return sum(process.memory_info().rss for process in processes) / 2**20


def wait_for_engines(client: SyncClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (client.cluster() or {}).get("engines"):
        if time.monotonic() > deadline:
            raise SystemExit("the dispatcher never reported an engine")
        time.sleep(0.1)  # the report is renewed every second: nothing else to wait on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    count = parser.parse_args().jobs
    folder = Path(tempfile.mkdtemp(prefix="moi-bench-"))
    server = RedisServer(free_port(), folder / "redis").start()
    cluster = LocalCluster(2, folder / "ipython")
    try:
        cluster.start()
        settings = config.Settings(
            redis_url=server.url, ipp_connection_file=cluster.connection_file, key_ttl=600
        )
        with SyncClient(settings) as client:
            client.start(dispatch=True)
            wait_for_engines(client)
            client.map("bench", "warm-up", None, jobs.double, range(500))
            client.drain(60)
            before = controller_mib(cluster)
            for _ in range(0, count, BATCH):
                client.map("bench", "double", None, jobs.double, range(BATCH))
                client.drain(300)
            mapped = controller_mib(cluster)
            for _ in range(0, count, BATCH):
                for item in range(BATCH):
                    client.submit("bench", "double", None, jobs.double, item)
                client.drain(300)
            single = controller_mib(cluster)
        print(f"controller RSS: {before:.1f} MiB before; {mapped:.1f} after {count:,} jobs by map;")
        print(f"{single:.1f} after {count:,} more by single submits")
    finally:
        cluster.stop()
        server.stop()


if __name__ == "__main__":
    main()
