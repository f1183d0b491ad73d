"""``python -m app``: serve the demo, on the servers the config names or private ones.

::

    python -m app [--config PATH] [--port N] [--host ADDRESS]

The production shape is :func:`serve`: an application that owns its moi client and hub,
started on the event loop and closed on the way out. Without a config file naming Redis
and a controller (``MOI_CONFIG``, or ``./config.ini``), :class:`app.services.Services`
first starts a private Redis and a local ipyparallel cluster under ``var/``, and stops
them, by PID, when the server stops. SIGINT and SIGTERM stop it all and exit 0. Problems
a person can fix (bad config, port in use, Redis or controller unreachable) are one line
on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import signal
import socket
import sys
from collections.abc import Callable

import tornado.httpserver
import tornado.log
import tornado.netutil
from redis.exceptions import RedisError

from app.application import Application, create_app
from app.handlers.forms import SERVER_MAX_BODY
from app.services import (
    Services,
    StartupError,
    end_orphaned_jobs,
    first_line,
)
from app.settings import AppSettings, load, port_number
from moi import dev
from moi.config import Settings
from moi.exceptions import ClusterError, ConfigError, MoiError

SHUTDOWN_GRACE = 5.0
"""Seconds open HTTP connections get to finish when the server stops."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description="Serve the moi demo.")
    parser.add_argument(
        "--config", metavar="PATH", help="ini file (default: $MOI_CONFIG, else ./config.ini)"
    )
    parser.add_argument("--port", type=port_number, help="port to listen on (default: [app] port)")
    parser.add_argument("--host", help="address to listen on (default: [app] host)")
    return parser.parse_args(argv)


def listen(app_settings: AppSettings) -> list[socket.socket]:
    """Bind the web port before starting anything, so a busy port costs nothing."""
    where = f"{app_settings.host}:{app_settings.port}"
    try:
        return tornado.netutil.bind_sockets(app_settings.port, address=app_settings.host)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {app_settings.port} on {app_settings.host} is already in use; "
                "stop what runs there or choose another port with --port"
            ) from None
        raise StartupError(f"cannot listen on {where}: {error.strerror or error}") from None


class Signals:
    """SIGINT and SIGTERM unwind while servers start (whatever started is stopped), stop
    the server while it serves, and are ignored while it stops: a second Ctrl-C must not
    leave servers behind."""

    def __init__(self) -> None:
        self.stop: Callable[[], object] | None = None
        self.stopping = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.stopping:
            return
        if self.stop is None:
            raise KeyboardInterrupt
        self.stop()


async def start(app: Application) -> None:
    """Connect the app to Redis and the cluster, or fail with one line saying which is amiss."""
    try:
        await app.start()
    except ClusterError as error:
        await app.close()
        raise StartupError(str(error)) from None
    except (OSError, RedisError) as error:
        await app.close()
        url = app.moi_settings.redis_url
        raise StartupError(f"cannot reach Redis at {url}: {first_line(error)}") from None


def where_everything_is(
    settings: Settings, app_settings: AppSettings, services: Services | None
) -> str:
    """The start-up lines: the site, and every server and file it uses, for diagnostics."""
    private = services is not None and services.redis_server is not None
    local = services is not None and services.cluster is not None
    var = app_settings.var_path.resolve()
    cluster = settings.ipp_connection_file or f"profile {settings.ipp_profile or 'default'!r}"
    lines = [
        f"moi demo running at {app_settings.url}  (Ctrl-C stops it)",
        f"  Redis         {settings.redis_url}"
        + (f"  (private; data in {var / 'redis'})" if private else ""),
        f"  cluster       {cluster}"
        + (f"  (local, {settings.engines} engine{'s' * (settings.engines != 1)})" if local else ""),
        f"  var_dir       {var}",
        f"  config        {settings.source or 'none: the defaults'}",
    ]
    if app_settings.metrics:
        lines.append(f"  metrics       {app_settings.url}metrics")
    moi_ini = var / dev.CONFIG_NAME
    lines.append(
        f"  moi command   {dev.export_line(moi_ini)}"
        + ("  (not needed in this directory)" if dev.found_here(moi_ini) else "")
    )
    return "\n".join(lines)


async def serve(
    settings: Settings,
    app_settings: AppSettings,
    sockets: list[socket.socket],
    signals: Signals,
    services: Services | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then close connections and the app's own clients."""
    app = create_app(settings, app_settings)
    await start(app)
    if services is not None and services.owns_everything:
        await end_orphaned_jobs(app.moi)
    # Everything made so far lives as long as the process: keep it out of the collector's
    # full passes, whose pauses show as latency with many websockets.
    gc.collect()
    gc.freeze()
    # No xheaders: they would believe any client. The app reads them itself, from
    # [app] trusted_proxies only (app.proxies), so a TLS proxy's cookies are still Secure.
    server = tornado.httpserver.HTTPServer(app, xheaders=False, max_body_size=SERVER_MAX_BODY)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals.stop = lambda: loop.call_soon_threadsafe(stop.set)
    print(where_everything_is(settings, app_settings, services), flush=True)
    try:
        await stop.wait()
    finally:
        signals.stopping = True
        server.stop()
        if services is not None and services.cluster is not None:
            await end_orphaned_jobs(app.moi)  # the cluster stops with us
        await app.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tornado.log.enable_pretty_logging()
    overrides = {key: getattr(args, key) for key in ("port", "host") if getattr(args, key)}
    try:
        settings, app_settings = load(args.config, **overrides)
        sockets = listen(app_settings)
    except (ConfigError, StartupError, ValueError) as error:
        print(f"moi demo: {error}", file=sys.stderr)
        return 2
    signals = Signals()
    services = Services(settings, app_settings)  # private servers for what config leaves
    moi_ini = app_settings.var_path / dev.CONFIG_NAME  # where the moi command finds them
    try:
        running = services.start()
        dev.write_config(moi_ini, running, "the moi demo (python -m app)")
        asyncio.run(serve(running, app_settings, sockets, signals, services))
    except MoiError as error:
        print(f"moi demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a signal while starting: everything started is stopped
        return 0
    finally:
        signals.stopping = True
        dev.remove_config(moi_ini)
        services.stop()
        for sock in sockets:
            sock.close()
    print("moi demo stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
