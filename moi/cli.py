"""The ``moi`` command line (also ``python -m moi``).

Built on click (Pallets' command-line toolkit, the one Flask uses): commands, options,
help pages and exit codes come from it, not from hand-written parsing.
"""

from __future__ import annotations

import asyncio
import logging

import click
import redis.asyncio as aioredis

from moi import config
from moi.exceptions import ConfigError
from moi.reaper import Reaper


@click.group()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help=f"The ini file to read (default: ${config.ENV_VAR}, else ./{config.DEFAULT_CONFIG_FILE}).",
)
@click.pass_context
def main(context: click.Context, config_file: str | None) -> None:
    """Run and watch moi jobs from a terminal."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    try:
        context.obj = config.load(config_file)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.option("--once", is_flag=True, help="One round, then exit (say, from cron).")
@click.pass_obj
def reap(settings: config.Settings, once: bool) -> None:
    """End the jobs no engine will finish (a lapsed lease, a lost or unsent task).

    Every moi server does this already; run it where no server runs. Several may run at
    once: one reaps at a time.
    """
    ended = asyncio.run(_reap(settings, once))
    if once:
        click.echo(f"{len(ended)} jobs ended")


async def _reap(settings: config.Settings, once: bool) -> list[str]:
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    reaper = Reaper(client, settings)
    try:
        if not once:
            await reaper.run()
        if not await reaper.hold():
            raise click.ClickException("another process is reaping at the moment")
        reaper.trust_leases()
        return await reaper.reap()
    finally:
        await reaper.close()
        await client.aclose()
