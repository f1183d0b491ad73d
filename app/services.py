"""The servers the demo starts for itself: a private Redis and a local cluster.

Each is started only when the config file does not name one (see
:func:`app.settings.uses_private_redis`), kept under ``var_dir``, and stopped by PID.
The Redis keeps its data in ``var_dir/redis`` with append-only persistence, so
accounts and job history survive a restart.
"""

from __future__ import annotations

import redis

from app.settings import AppSettings, uses_local_cluster, uses_private_redis
from moi import connections, keys
from moi.client import Client
from moi.config import Settings
from moi.dev import DevServers
from moi.embedded import LocalCluster, RedisServer
from moi.exceptions import MoiError
from moi.status import is_final

ORPHAN_MESSAGE = "The demo server stopped before this job finished, and its cluster with it."


class StartupError(MoiError):
    """Something the app needs is not there; the message is one line for the terminal."""


def first_line(error: BaseException) -> str:
    """An exception as one line for the terminal: its first line, or its class name."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_redis(url: str, timeout: float = 5) -> None:
    """Fail with one clear line unless the Redis at ``url`` (behind Sentinel too) answers a
    PING."""
    try:
        client = connections.single(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except redis.RedisError as error:  # it connects as it is made
        raise StartupError(f"cannot reach Redis at {url}: {error}") from None
    try:
        client.ping()
    except redis.RedisError as error:
        raise StartupError(f"cannot reach Redis at {url}: {error}") from None
    finally:
        client.close()


class Services:
    """Starts what the config leaves to the app (:class:`moi.dev.DevServers`, as ``moi dev``
    does), and stops exactly that."""

    def __init__(self, settings: Settings, app_settings: AppSettings) -> None:
        self.settings = settings
        self.servers = DevServers(
            app_settings.var_path,
            settings.engines,
            redis=uses_private_redis(settings),
            cluster=uses_local_cluster(settings),
        )

    def start(self) -> Settings:
        """Start the private servers; return the settings that point at what now runs.

        A Redis of the config's must answer before the cluster starts. On failure whatever
        did start is stopped before the error propagates.
        """
        return self.servers.start(self.settings, redis_ready=check_redis)

    @property
    def redis_server(self) -> RedisServer | None:
        return self.servers.redis_server

    @property
    def cluster(self) -> LocalCluster | None:
        return self.servers.cluster

    @property
    def owns_everything(self) -> bool:
        """Whether both Redis and the cluster are ours, so no job can run elsewhere."""
        return self.redis_server is not None and self.cluster is not None

    def pids(self) -> list[int]:
        """PIDs of the processes started here: Redis, controller, engines and their helpers."""
        return self.servers.pids()

    def stop(self) -> None:
        """Stop the cluster, then Redis (engines may still be writing their last states)."""
        self.servers.stop()


async def end_orphaned_jobs(moi: Client) -> int:
    """Deal with the jobs the engines of the app's own cluster held when it stopped: the
    previous run's, at start, and this run's, as it stops.

    Only meaningful when this process owns both the Redis and the cluster: then no other
    engine will ever finish those jobs. A job an engine had taken but not started goes
    back to its queue, as does one with a retry left; any other ends ``Failed``. Jobs
    still waiting stay in their queue and run when the demo starts again.

    :returns: how many jobs were ended.
    """
    ended = 0
    for job_id in await moi.redis.zrange(keys.LEASES, 0, -1):
        info = await moi.get(job_id)
        if info is not None and not is_final(info.get("status")):
            attempt = int(info.get("attempt") or 1)
            ended += await moi.writer.lost(job_id, attempt, ORPHAN_MESSAGE) == "failed"
    return ended
