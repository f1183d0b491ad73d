"""The ``moi`` command line (also ``python -m moi``).

Built on click (Pallets' command-line toolkit, the one Flask uses) for commands, options,
help pages and exit codes, and on rich (:mod:`moi.terminal`) for tables and live progress
bars. Output that goes to a pipe is plain, ``--json`` is for programs, and every error a
user can cause (a bad MODULE:FUNC, an unknown job, Redis or the cluster away) is one line
on stderr and a non-zero exit, with no traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
import redis
from rich.console import Console

from moi import config, controller, dev, keys
from moi.client import NO_USER_GROUP, Client, JobOptions
from moi.cluster import Cluster
from moi.dispatch import CLUSTER_TIMEOUT
from moi.exceptions import ConfigError, JobNotFound, MoiError
from moi.logs import print_logs
from moi.reaper import Reaper
from moi.status import is_final
from moi.subscription import subscribe_confirmed
from moi.terminal import Watcher, json_line, print_job, print_jobs

T = TypeVar("T")
GROUP_ENV = "MOI_GROUP"
INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C
PIPE_CLOSED = 141  # as a command killed by SIGPIPE, like `yes | head -1`


@click.group()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help=f"The ini file to read (default: ${config.ENV_VAR}, else ./{config.DEFAULT_CONFIG_FILE}, "
    f"else ./{dev.WRITTEN_CONFIG}).",
)
@click.pass_context
def main(context: click.Context, config_file: str | None) -> None:
    """Run and watch moi jobs from a terminal.

    \b
    The config file is the first of:
      --config FILE
      $MOI_CONFIG
      ./config.ini
      ./var/moi.ini (written by make run and moi dev while their servers run)
    and without any, the defaults (Redis at 127.0.0.1:6379).
    """
    try:
        context.obj = config.load(config.config_path(config_file) or dev.written_config())
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def config_source(settings: config.Settings) -> str:
    """Where the settings came from, for an error that names a server."""
    if settings.source:
        return f"from {settings.source}"
    return (
        f"the default: no --config, ${config.ENV_VAR}, ./{config.DEFAULT_CONFIG_FILE} "
        f"or ./{dev.WRITTEN_CONFIG}"
    )


def run(settings: config.Settings, work: Callable[[Client], Awaitable[T]]) -> T:
    """``work(client)`` on a fresh event loop, with a client closed afterwards; the errors a
    user can cause become one line and exit 1. Ctrl-C stops only this command."""

    async def with_client() -> T:
        client = Client(settings)
        try:
            return await work(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(with_client())
    except KeyboardInterrupt:
        click.echo("Stopped; the jobs go on.", err=True)
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # `moi logs -f ID | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        sys.exit(PIPE_CLOSED)
    except ValueError as error:  # an argument the client refuses, e.g. an empty job ID
        raise click.ClickException(str(error)) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
        raise click.ClickException(
            f"cannot reach Redis at {settings.redis_url} ({config_source(settings)}): {error}"
        ) from None
    except MoiError as error:
        raise click.ClickException(str(error)) from None


def console() -> Console:
    """Where job data is printed: no markup or emoji codes are read in it (job text is text)."""
    return Console(soft_wrap=True, markup=False, emoji=False)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


# -- submit --------------------------------------------------------------------------------


def load_function(target: str) -> Callable:
    """The function ``MODULE:FUNC`` names, imported here as the engines will import it."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise click.ClickException(f"{target!r} must be MODULE:FUNC, e.g. mypackage.jobs:double")
    sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of this directory
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise click.ClickException(
            f"cannot import {module_name!r} here ({type(error).__name__}: {error}); "
            "the module must be importable here and on the engines"
        ) from None
    func = getattr(module, name, None)
    if not callable(func):
        raise click.ClickException(f"{module_name!r} has no function {name!r}")
    return func


def parse_value(text: str) -> Any:
    """JSON where it parses (``3``, ``true``, ``[1, 2]``, ``"x"``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_keywords(pairs: tuple[str, ...]) -> dict[str, Any]:
    keywords = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.isidentifier():
            raise click.ClickException(f"--kw {pair!r} is not KEY=VALUE")
        keywords[key] = parse_value(value)
    return keywords


@main.command()
@click.argument("target", metavar="MODULE:FUNC")
@click.argument("args", nargs=-1)
@click.option(
    "--group",
    envvar=GROUP_ENV,
    default=NO_USER_GROUP,
    show_default=True,
    help=f"The job's group (a user, in a web app); also ${GROUP_ENV}.",
)
@click.option("--name", help="The job's name (default: FUNC).")
@click.option("--kw", "keywords", multiple=True, metavar="KEY=VALUE", help="A keyword argument.")
@click.option("--time-limit", type=float, help="Seconds the job may run (0: no limit).")
@click.option("--retries", type=int, default=0, help="Runs more if its engine dies.")
@click.option("--watch", "watch_it", is_flag=True, help="Then watch it until it ends.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the job's info object as a JSON line (with --watch: one line per change).",
)
@click.pass_obj
def submit(
    settings: config.Settings,
    target: str,
    args: tuple[str, ...],
    group: str,
    name: str | None,
    keywords: tuple[str, ...],
    time_limit: float | None,
    retries: int,
    watch_it: bool,
    as_json: bool,
) -> None:
    """Run MODULE:FUNC(ARG ...) on the cluster as a job; print its ID.

    Each ARG and --kw value is JSON where it parses (3, true, [1, 2]), else a string.
    """
    func = load_function(target)
    kwargs = parse_keywords(keywords)
    try:
        options = JobOptions(time_limit, retries)
    except (TypeError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    values = [parse_value(arg) for arg in args]
    job_name = name or target.partition(":")[2]

    async def work(client: Client) -> int:
        # While it watches, this command may dispatch (where no server runs, say).
        await client.start(reap=False, dispatch=watch_it)
        submitter = client.with_options(time_limit=options.time_limit, retries=options.retries)
        job_id = await submitter.submit(group, job_name, None, func, *values, **kwargs)
        if not watch_it and await client.cluster() is None:
            click.echo(
                "No process dispatches at the moment (a moi server, or moi dispatch): "
                "the job waits until one does.",
                err=True,
            )
        shown: list[dict[str, Any]] = []  # with --json --watch, the first of the JSON lines
        if as_json:
            info = await client.get(job_id)
            click.echo(json_line(info))
            shown = [info] if info else []
        else:
            click.echo(job_id)
        return await watch_jobs(client, [job_id], as_json=as_json, shown=shown) if watch_it else 0

    sys.exit(run(settings, work))


# -- reading --------------------------------------------------------------------------------


def matches(info: dict[str, Any], status: str | None) -> bool:
    if status is None:
        return True
    if status == "active":
        return not is_final(info.get("status"))
    return str(info.get("status", "")).lower() == status.lower()


@main.command()
@click.argument("group")
@click.option("--status", help="Only jobs with this status (or 'active': not ended).")
@click.option("--json", "as_json", is_flag=True, help="The info objects, as a JSON list.")
@click.pass_obj
def jobs(settings: config.Settings, group: str, status: str | None, as_json: bool) -> None:
    """List a group's jobs, oldest first."""
    infos = [info for info in run(settings, lambda c: c.jobs(group)) if matches(info, status)]
    if as_json:
        print_json(infos)
    else:
        print_jobs(console(), infos)


@main.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The info object as JSON.")
@click.pass_obj
def show(settings: config.Settings, job_id: str, as_json: bool) -> None:
    """Show one job: its info object, then its result or traceback."""

    async def work(client: Client) -> dict[str, Any]:
        info = await client.get(job_id)
        if info is None:
            raise JobNotFound(job_id)
        return info

    info = run(settings, work)
    if as_json:
        print_json(info)
    else:
        print_job(console(), info)


async def watch_jobs(
    client: Client, ids: list[str], *, as_json: bool = False, shown: Iterable[dict[str, Any]] = ()
) -> int:
    """Show the jobs live until all have ended; the exit status :meth:`Watcher.exit_code`.

    Subscribes to every job's channel before reading them, so no change falls between.
    ``shown`` are info objects printed already (``submit --json``): not printed again.
    """
    async with client.redis.pubsub() as pubsub:
        await subscribe_confirmed(pubsub, *map(keys.job_channel, ids))
        with Watcher(console(), json_lines=as_json) as watcher:
            for printed in shown:
                watcher.show(printed, printed=True)
            for job_id in ids:
                info = await client.get(job_id)
                if info is None:
                    raise JobNotFound(job_id)
                watcher.show(info)
            while not watcher.done:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None:
                    job_id = message["channel"].removesuffix(keys.CHANNEL_SUFFIX)
                    info = await client.get(job_id)
                    if info is not None:
                        watcher.show(info)
        return watcher.exit_code()


@main.command()
@click.argument("job_ids", nargs=-1)
@click.option("--group", help="Watch the group's jobs that have not ended.")
@click.option("--json", "as_json", is_flag=True, help="Each change as a JSON line (info object).")
@click.pass_obj
def watch(
    settings: config.Settings, job_ids: tuple[str, ...], group: str | None, as_json: bool
) -> None:
    """Show jobs live (status and progress; a failure's last line) until they end; Ctrl-C
    stops watching only.

    Exit status: 0 if every job succeeded, 1 if any failed, else 2 if any was cancelled.
    """
    if bool(job_ids) == bool(group):
        raise click.UsageError("give JOB_ID ... or --group G")

    async def work(client: Client) -> int:
        ids = list(job_ids)
        if group:
            ids = [info["id"] for info in await client.jobs(group) if matches(info, "active")]
            if not ids:
                click.echo(f"group {group!r} has no job that has not ended", err=True)
                return 0
        return await watch_jobs(client, ids, as_json=as_json)

    sys.exit(run(settings, work))


@main.command()
@click.argument("job_id")
@click.option(
    "-f", "--follow", is_flag=True, help="Then print each new line as it comes, until the job ends."
)
@click.option("--json", "as_json", is_flag=True, help="Each line as its JSON array.")
@click.pass_obj
def logs(settings: config.Settings, job_id: str, follow: bool, as_json: bool) -> None:
    """Print what a job printed: its stdout and logging lines to stdout, its stderr lines
    to stderr; lines the output cap did not keep are one note on stderr.

    With -f, then its new lines as it prints them, until it ends (Ctrl-C stops only the
    printing); the exit status is then moi watch's: 0 if it succeeded, 1 if it failed,
    2 if it was cancelled.
    """
    sys.exit(run(settings, lambda c: print_logs(c, job_id, follow=follow, as_json=as_json)))


# -- changing -------------------------------------------------------------------------------


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_obj
def cancel(settings: config.Settings, job_ids: tuple[str, ...]) -> None:
    """Stop jobs: a queued one never runs, a running one is interrupted on its engine."""

    async def work(client: Client) -> int:
        code = 0
        for job_id in job_ids:
            try:
                done = await client.cancel(job_id, by=os.environ.get("USER") or None)
            except JobNotFound as error:
                click.echo(f"moi: {error}", err=True)
                code = 1
                continue
            click.echo(f"{job_id} {'cancelled' if done else 'had already ended; left as it was'}")
        return code

    sys.exit(run(settings, work))


@main.command()
@click.argument("group")
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_obj
def remove(settings: config.Settings, group: str, job_ids: tuple[str, ...]) -> None:
    """Take jobs off a group's list (they go on running; their records stay until they
    expire)."""
    run(settings, lambda client: client.remove(group, list(job_ids)))
    click.echo(f"{len(job_ids)} jobs taken off {group!r}")


# -- operating ------------------------------------------------------------------------------


async def gather_status(client: Client) -> dict[str, Any]:
    """What ``moi status`` reports; raises if Redis cannot be reached."""
    settings = client.settings
    server = await client.redis.info("server")
    report: dict[str, Any] = {
        "redis": {"url": settings.redis_url, "version": server.get("redis_version")},
        "jobs": {
            "queued": await client.waiting(),
            "running": await client.redis.zcard(keys.LEASES),
        },
    }
    why = await controller.reachable(settings)
    state = await client.cluster()
    report["cluster"] = {
        "reachable": why is None,
        "why": why,
        "engines": await count_engines(settings) if why is None else None,
        "dispatcher": state.get("dispatcher") if state else None,
        "error": state.get("error") if state else None,
    }
    return report


async def count_engines(settings: config.Settings) -> int | None:
    """The engines the controller has registered, asked directly (None if it will not say)."""
    cluster = Cluster(settings)
    try:
        async with asyncio.timeout(CLUSTER_TIMEOUT):
            return await cluster.engines()
    except (MoiError, TimeoutError):
        return None
    finally:
        await cluster.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.pass_obj
def status(settings: config.Settings, as_json: bool) -> None:
    """Is Redis reachable, how many engines are there and busy, how many jobs wait and run."""
    report = run(settings, gather_status)
    if as_json:
        print_json(report)
    else:
        redis_part, jobs_part, cluster = report["redis"], report["jobs"], report["cluster"]
        click.echo(f"redis    {redis_part['url']} (Redis {redis_part['version']})")
        click.echo(f"jobs     {jobs_part['queued']} queued, {jobs_part['running']} running (Redis)")
        if cluster["reachable"]:
            click.echo(f"cluster  controller answers; {cluster['engines'] or 0} engines")
        else:
            click.echo(f"cluster  unreachable: {cluster['why']}")
        if cluster["dispatcher"]:
            error = f"; its last task failed: {cluster['error']}" if cluster["error"] else ""
            click.echo(f"dispatch by {cluster['dispatcher']}{error}")
        else:
            click.echo("dispatch none at work: jobs wait (start a moi server or moi dispatch)")
    sys.exit(0 if report["cluster"]["reachable"] else 1)


@main.command("dev")
@click.option(
    "--var",
    "var_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=dev.DEFAULT_VAR,
    show_default=True,
    help=f"Where Redis keeps its data, the cluster its profile, and {dev.CONFIG_NAME} is written.",
)
@click.option(
    "--engines",
    type=click.IntRange(min=1),
    help="Engines in the cluster (default: [ipyparallel] engines, else one per CPU).",
)
@click.pass_obj
def dev_servers(settings: config.Settings, var_dir: Path, engines: int | None) -> None:
    """Run a private Redis and a local ipyparallel cluster for your own app, until Ctrl-C.

    Writes VAR/moi.ini naming them and prints the line to run in your app's terminal
    (export MOI_CONFIG=...); the moi command run here finds var/moi.ini by itself. Ctrl-C
    or SIGTERM stops both, by PID, and removes the file.
    """
    if engines:
        settings = dataclasses.replace(settings, ipp_engines=engines)
    try:
        dev.serve(settings, var_dir, say=click.echo)
    except MoiError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.pass_obj
def dispatch(settings: config.Settings) -> None:
    """Keep the cluster's engines taking jobs from moi's queue, until Ctrl-C.

    Every moi server does this already ([jobs] dispatch); run it where no server runs,
    or to keep the web processes off the controller ([jobs] dispatch = no there).
    Several may run at once: one dispatches, the others stand by and take over within
    seconds if it dies.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)

    async def work(client: Client) -> None:
        await client.start(reap=False, dispatch=True)
        await asyncio.Event().wait()  # until Ctrl-C; closing the client lets the lock go

    run(settings, work)


@main.command()
@click.option("--once", is_flag=True, help="One round, then exit (say, from cron).")
@click.pass_obj
def reap(settings: config.Settings, once: bool) -> None:
    """Deal with the jobs whose engine was lost (a lapsed lease): back to their queue if
    they have a retry left (or never started), else end them Failed.

    Every moi server does this already; run it where no server runs. Several may run at
    once: one reaps at a time.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    ended = run(settings, lambda client: _reap(client, once))
    if once:
        click.echo(f"{len(ended)} jobs ended")


async def _reap(client: Client, once: bool) -> list[str]:
    reaper = Reaper(client.redis, client.settings)
    try:
        if not once:
            await reaper.run()
        if not await reaper.hold():
            raise click.ClickException("another process is reaping at the moment")
        reaper.trust_leases()
        return await reaper.reap()
    finally:
        await reaper.close()
