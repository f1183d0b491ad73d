"""``python -m app``: start what the config leaves to the app, serve the demo, stop it all.

::

    python -m app [--config PATH] [--port N] [--host ADDRESS]

Without a config file (or ``MOI_CONFIG``, or ``./config.ini``) it starts a private Redis
and a local ipyparallel cluster under ``var/``; a config that names a Redis URL or a
controller gets those used instead, and nothing started in their place. SIGINT and
SIGTERM stop the server, then every process it started, by PID, and exit 0. Problems a
person can fix (bad config, port in use, Redis unreachable) are one line on stderr.
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

from app.application import Application, create_app
from app.services import (
    ORPHAN_MESSAGE,
    Services,
    StartupError,
    fail_orphaned_jobs,
    first_line,
)
from app.settings import AppSettings, load, port_number
from moi import context
from moi.exceptions import ConfigError, MoiError

SHUTDOWN_GRACE = 5.0
"""Seconds open HTTP connections get to finish when the server stops."""


class Signals:
    """What SIGINT and SIGTERM do in each phase of the process's life.

    While starting, they raise :class:`KeyboardInterrupt`, so whatever already started
    is stopped on the way out. While serving, they ask the event loop to stop. While
    stopping, they are ignored: a second Ctrl-C must not leave servers behind.
    """

    def __init__(self) -> None:
        self._stop: Callable[[], None] | None = None
        self._stopping = False

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def serving(self, stop: Callable[[], None]) -> None:
        self._stop = stop

    def stopping(self) -> None:
        self._stopping = True

    def _handle(self, signum: int, frame: object) -> None:
        if self._stopping:
            return
        if self._stop is None:
            raise KeyboardInterrupt
        self._stop()


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


def connect_cluster(ctx: context.Context) -> None:
    """Connect to the controller now, so a wrong one is a startup error, not a failed job."""
    settings = ctx.settings
    where = settings.ipp_connection_file or f"profile {settings.ipp_profile or 'default'!r}"
    try:
        ctx.view  # noqa: B018 -- the property connects
    except Exception as error:
        raise StartupError(
            f"cannot connect to the ipyparallel controller ({where}): {first_line(error)}"
        ) from None


async def serve(app: Application, sockets: list[socket.socket], signals: Signals, url: str) -> None:
    """Serve until a signal arrives, then close connections and the app's own clients."""
    # xheaders: behind a TLS proxy, X-Forwarded-Proto makes the login cookie Secure.
    try:
        await app.start()
    except BaseException:
        await app.close()
        raise
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_sockets(sockets)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals.serving(lambda: loop.call_soon_threadsafe(stop.set))
    print(f"moi demo running at {url}  (Ctrl-C stops it)", flush=True)
    try:
        await stop.wait()
    finally:
        signals.stopping()
        server.stop()
        await app.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)


def run(args: argparse.Namespace, signals: Signals) -> int:
    overrides = {key: getattr(args, key) for key in ("port", "host") if getattr(args, key)}
    try:
        settings, app_settings = load(args.config, **overrides)
        sockets = listen(app_settings)
    except (ConfigError, StartupError, ValueError) as error:
        print(f"moi demo: {error}", file=sys.stderr)
        return 2
    services = Services(settings, app_settings)
    ctx: context.Context | None = None
    try:
        try:
            running = services.start()
            ctx = context.Context(running)
            context.set_default(ctx)
            if services.owns_everything:
                fail_orphaned_jobs(ctx)
            connect_cluster(ctx)
        except MoiError as error:
            print(f"moi demo: {error}", file=sys.stderr)
            return 1
        app = create_app(running, app_settings)
        # Everything made so far lives as long as the process: keep it out of the
        # collector's full passes, whose pauses show as latency with many websockets.
        gc.collect()
        gc.freeze()
        asyncio.run(serve(app, sockets, signals, app_settings.url))
    finally:
        signals.stopping()
        context.set_default(None)
        if ctx is not None:
            if services.cluster is not None:  # the cluster stops with us: end its jobs
                for job_id in list(ctx.outstanding):
                    ctx.writer.fail(job_id, ORPHAN_MESSAGE)
            ctx.close()
        services.stop()
        for sock in sockets:
            sock.close()
    print("moi demo stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals = Signals()
    signals.install()
    tornado.log.enable_pretty_logging()
    try:
        return run(args, signals)
    except KeyboardInterrupt:  # a signal while starting: everything started is stopped
        return 0


if __name__ == "__main__":
    sys.exit(main())
