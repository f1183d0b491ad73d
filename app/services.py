"""The servers the demo starts for itself: a private Redis and a local cluster.

Each is started only when the config file does not name one (see
:func:`app.settings.uses_private_redis`), kept under ``var_dir``, and stopped by PID.
The Redis keeps its data in ``var_dir/redis`` with append-only persistence, so
accounts and job history survive a restart.
"""

from __future__ import annotations

import dataclasses

import redis

from app.settings import AppSettings, uses_local_cluster, uses_private_redis
from moi import keys
from moi.client import Client
from moi.config import Settings
from moi.embedded import LocalCluster, RedisServer, Watchdog, free_port
from moi.exceptions import MoiError
from moi.status import is_final

ORPHAN_MESSAGE = "The demo server stopped before this job finished, and its cluster with it."


class StartupError(MoiError):
    """Something the app needs is not there; the message is one line for the terminal."""


def first_line(error: BaseException) -> str:
    """An exception as one line for the terminal: its first line, or its class name."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_redis(url: str, timeout: float = 5) -> None:
    """Fail with one clear line unless the Redis at ``url`` answers a PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as error:
        raise StartupError(f"cannot reach Redis at {url}: {error}") from None
    finally:
        client.close()


class Services:
    """Starts what the config leaves to the app, and stops exactly that."""

    def __init__(self, settings: Settings, app_settings: AppSettings) -> None:
        self.settings = settings
        self.app_settings = app_settings
        self.redis_server: RedisServer | None = None
        self.cluster: LocalCluster | None = None
        self.watchdog: Watchdog | None = None

    def start(self) -> Settings:
        """Start the private servers; return the settings that point at what now runs.

        On failure whatever did start is stopped before the error propagates.
        """
        settings = self.settings
        var = self.app_settings.var_path
        try:
            if uses_private_redis(settings) or uses_local_cluster(settings):
                self.watchdog = Watchdog().start()  # stops them if this process is killed
            if uses_private_redis(settings):
                self.redis_server = RedisServer(free_port(), var / "redis", persist=True)
                self.redis_server.start()
                assert self.watchdog is not None and self.redis_server.pid is not None
                self.watchdog.guard([self.redis_server.pid])
                settings = dataclasses.replace(settings, redis_url=self.redis_server.url)
            check_redis(settings.redis_url)
            if uses_local_cluster(settings):
                self.cluster = LocalCluster(settings.engines, var / "ipython", keep=True)
                try:
                    self.cluster.start()
                except Exception as error:
                    raise StartupError(
                        f"the local ipyparallel cluster did not start: {first_line(error)}"
                    ) from error
                assert self.watchdog is not None
                self.watchdog.guard(self.cluster.pids())
                settings = dataclasses.replace(
                    settings, ipp_connection_file=self.cluster.connection_file
                )
        except BaseException:
            self.stop()
            raise
        return settings

    @property
    def owns_everything(self) -> bool:
        """Whether both Redis and the cluster are ours, so no job can run elsewhere."""
        return self.redis_server is not None and self.cluster is not None

    def pids(self) -> list[int]:
        """PIDs of the processes started here: Redis, controller, engines and their helpers."""
        pids = self.cluster.pids() if self.cluster else []
        if self.redis_server and self.redis_server.pid:
            pids.append(self.redis_server.pid)
        return pids

    def stop(self) -> None:
        """Stop the cluster, then Redis (engines may still be writing their last states)."""
        cluster, self.cluster = self.cluster, None
        server, self.redis_server = self.redis_server, None
        watchdog, self.watchdog = self.watchdog, None
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            if server is not None:
                server.stop()
            if watchdog is not None:
                watchdog.stop()


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
