"""The sample jobs as the site offers them: each kind's fields, their checks, its submission.

The HTML forms (:mod:`app.handlers.jobs`) and the JSON API (:mod:`app.handlers.api`)
both submit through here, so a field is checked the same way, with the same message,
whichever way it arrives. A refused field raises :class:`app.forms.FieldError`, which
names the field for the API and reads as the form's message on the page.

Each job's checked fields are kept as long as the job (:func:`remember`), so "Run again"
(:func:`run_again`, moi's ``moi:again`` hook) submits them again the same way: the same
checks, and the same limit on a group's waiting jobs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app import forms, jobs
from app.keys import again_key
from app.outage import REDIS_DOWN
from moi.again import AgainRefused
from moi.client import Client
from moi.exceptions import ClusterError, QueueFull
from moi.keys import is_job_id

log = logging.getLogger(__name__)

NAME_MAX = 100
MESSAGE_MAX = 200
COUNTDOWN_MAX = 60
SIMULATE_STEPS_MAX = 500
SIMULATE_DELAY_MAX = 1000
DELAY_DEFAULT = 250
"""Milliseconds between a simulation's steps when its ``delay_ms`` is left empty."""
PI_MIN, PI_MAX = 100, 2_000_000
BATCH_MAX = 100

Fields = Mapping[str, str]
"""A submission's raw fields, by name, as text (what a form would have sent)."""


async def user_job(moi: Client, group: str, job_id: str) -> dict | None:
    """The job ``job_id`` if it is in the user's ``group`` (the account's:
    :func:`app.accounts.group_of`); else None, whatever the reason (no such job, or
    another's): pages and the API answer both with the same 404, so nobody learns that
    someone else's job exists."""
    job = await moi.get(job_id) if is_job_id(job_id) else None
    return job if job is not None and job.get("group") == group else None


async def no_engines(moi: Client) -> bool:
    """Whether no engine is registered, so jobs just submitted wait ``Queued``."""
    try:
        return await moi.engines() == 0
    except ClusterError:  # lost just now: the jobs were taken, and the list tells
        return False


def result_url(kind: str) -> str:
    """A job's ``handler``: its result page is this plus ``/<job id>``."""
    return f"/result/{kind}"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One kind of sample job: the fields it takes, and what checks and submits them."""

    kind: str
    fields: tuple[str, ...]
    """The names of its fields."""
    submit: Callable[[Client, str, Fields], Awaitable[list[str]]]
    """``submit(moi, group, fields)``: checks every field, then submits the jobs in the
    account's ``group``; the new job IDs."""
    many: bool = False
    """Whether it submits several jobs at once."""
    result_page: bool = True
    """Whether its jobs have a page of their own, ``templates/results/<kind>.html`` at
    :func:`result_url` (a batch's jobs are hello jobs, on hello's page)."""


async def submit_hello(moi: Client, group: str, fields: Fields) -> list[str]:
    name = forms.field(fields, "name", forms.text, "Name", max_length=NAME_MAX)
    job_id = await moi.submit(group, f"Hello {name}", result_url("hello"), jobs.hello, name)
    return await remember(moi, "hello", {job_id: {"name": name}})


async def submit_countdown(moi: Client, group: str, fields: Fields) -> list[str]:
    seconds = forms.field(
        fields, "seconds", forms.whole_number, "Seconds", low=1, high=COUNTDOWN_MAX
    )
    job_id = await moi.submit(
        group, f"Countdown from {seconds} s", result_url("countdown"), jobs.countdown, seconds
    )
    return await remember(moi, "countdown", {job_id: {"seconds": str(seconds)}})


async def submit_simulate(moi: Client, group: str, fields: Fields) -> list[str]:
    steps = forms.field(
        fields, "steps", forms.whole_number, "Steps", low=1, high=SIMULATE_STEPS_MAX
    )
    fields = {**fields, "delay_ms": fields.get("delay_ms", "").strip() or str(DELAY_DEFAULT)}
    delay_ms = forms.field(
        fields, "delay_ms", forms.whole_number, "Delay in ms", low=0, high=SIMULATE_DELAY_MAX
    )
    job_id = await moi.submit(
        group, f"Simulate {steps} steps", result_url("simulate"), jobs.simulate, steps, delay_ms
    )
    return await remember(
        moi, "simulate", {job_id: {"steps": str(steps), "delay_ms": str(delay_ms)}}
    )


async def submit_fail(moi: Client, group: str, fields: Fields) -> list[str]:
    message = forms.field(
        fields, "message", forms.text, "Message", max_length=MESSAGE_MAX, required=False
    )
    message = message or "This job failed on purpose."
    job_id = await moi.submit(group, "Fail on purpose", result_url("fail"), jobs.fail, message)
    return await remember(moi, "fail", {job_id: {"message": message}})


async def submit_pi(moi: Client, group: str, fields: Fields) -> list[str]:
    samples = forms.field(fields, "samples", forms.whole_number, "Samples", low=PI_MIN, high=PI_MAX)
    job_id = await moi.submit(
        group, f"Pi from {samples:,} samples", result_url("pi"), jobs.pi, samples
    )
    return await remember(moi, "pi", {job_id: {"samples": str(samples)}})


async def submit_batch(moi: Client, group: str, fields: Fields) -> list[str]:
    count = forms.field(
        fields, "count", forms.whole_number, "Number of jobs", low=1, high=BATCH_MAX
    )
    names = [f"batch {number} of {count}" for number in range(1, count + 1)]
    job_ids = await moi.map(group, "Hello batch", result_url("hello"), jobs.hello, names)
    # Each of a batch's jobs runs again alone: a hello job with its own name.
    return await remember(
        moi, "hello", {job_id: {"name": name} for job_id, name in zip(job_ids, names, strict=True)}
    )


SAMPLES = {
    sample.kind: sample
    for sample in (
        Sample("hello", ("name",), submit_hello),
        Sample("countdown", ("seconds",), submit_countdown),
        Sample("simulate", ("steps", "delay_ms"), submit_simulate),
        Sample("pi", ("samples",), submit_pi),
        Sample("batch", ("count",), submit_batch, many=True, result_page=False),
        Sample("fail", ("message",), submit_fail),
    )
}
"""Every kind a form or the API may submit, by name: each has its form's route
(:mod:`app.handlers.jobs`) and, with ``result_page``, its result page's
(:mod:`app.handlers.results`)."""


AGAIN_HANDLERS = sorted(
    {result_url(sample.kind) for sample in SAMPLES.values() if sample.result_page}
)
"""The ``handler`` of every sample job, each of which can run again: the index page shows
their "Run again" button."""


async def remember(moi: Client, kind: str, fields: dict[str, dict[str, str]]) -> list[str]:
    """Keep each new job's checked fields (by job ID) for as long as the job, so that it
    can run again as ``kind``; the job IDs. A job whose fields could not be kept is
    submitted all the same: only "Run again" refuses it."""
    ttl = moi.settings.key_ttl or None
    try:
        async with moi.redis.pipeline(transaction=False) as pipe:
            for job_id, kept in fields.items():
                pipe.set(again_key(job_id), json.dumps({"kind": kind, "fields": kept}), ex=ttl)
            await pipe.execute()
    except REDIS_DOWN as error:
        log.warning("could not keep how %d jobs were submitted: %s", len(fields), error)
    return list(fields)


async def run_again(moi: Client, group: str, job_id: str, info: dict[str, Any]) -> str:
    """moi's ``moi:again`` hook (:mod:`moi.again`): submit the group's job ``job_id`` again
    with the fields it was submitted with, as its form would; the new job's ID.

    :raises AgainRefused: for a job whose fields are not kept (not a sample's, or
        expired), or that its sample's checks or limits refuse now.
    """
    recipe = _recipe(await moi.redis.get(again_key(job_id)))
    sample = SAMPLES.get(recipe["kind"]) if recipe else None
    if recipe is None or sample is None or sample.many:
        raise AgainRefused(
            f"{info.get('name') or 'This job'} cannot run again: its inputs are not kept."
        )
    try:
        [new_id] = await sample.submit(moi, group, recipe["fields"])
    except forms.FormError as error:
        raise AgainRefused(f"{info.get('name') or 'This job'} cannot run again: {error}") from None
    except QueueFull as error:
        raise AgainRefused(f"{error}.") from None
    except ClusterError:
        raise AgainRefused(
            "The cluster is unavailable at the moment: try again in a moment."
        ) from None
    return new_id


def _recipe(raw: str | None) -> dict[str, Any] | None:
    """A kept ``{"kind", "fields"}``, if ``raw`` is one."""
    try:
        recipe = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("kind"), str):
        return None
    fields = recipe.get("fields")
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        return None
    return recipe
