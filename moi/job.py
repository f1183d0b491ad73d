"""Submitting jobs, and reading one job's state.

``submit`` stores the job as ``Queued`` and announces it in one transaction, then hands
the call to the cluster's load-balanced view. The engine reports every later change
itself (:mod:`moi.runner`); this process only steps in when the engine cannot: it
watches the task's future and ends the job ``Failed`` if the engine died or the task
failed outside the job's function.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from functools import partial
from typing import Any

import ipyparallel as ipp

from moi import context, keys, record, runner
from moi.exceptions import JobNotFound
from moi.status import is_final

NO_USER_GROUP = "no-user"


def _check_text(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")


def submit(group: str, name: str, handler: str | None, func, /, *args, **kwargs) -> str:
    """Run ``func(*args, status_update=..., **kwargs)`` on the cluster as a job of ``group``.

    The first four parameters are positional-only, so the function's own keywords may
    use any name (even ``name`` or ``group``).

    :param handler: URL of the page that shows the result (the job's page is
        ``<handler>/<id>``), or None.
    :returns: the new job's ID.
    :raises TypeError, ValueError: for bad arguments, before anything is stored.
    """
    _check_text("group", group)
    if handler is not None:
        _check_text("handler", handler)
    [job_id] = _submit([_prepare(group, handler, name, func, args, kwargs)])
    return job_id


def submit_many(group: str, handler: str | None, calls: Iterable[tuple], /) -> list[str]:
    """Submit several jobs of ``group`` at once: one Redis transaction and one ``add``.

    Each call is ``(name, func, *args)``, as :func:`submit` takes them (wrap ``func`` in
    :func:`functools.partial` for keyword arguments). For a form that starts a batch:
    a web handler's event loop waits on Redis once, not once per job.

    :returns: the new jobs' IDs, in the order of ``calls``.
    :raises TypeError, ValueError: for any bad call, before anything is stored.
    """
    _check_text("group", group)
    if handler is not None:
        _check_text("handler", handler)
    prepared = []
    for number, call in enumerate(calls):
        if not isinstance(call, tuple) or len(call) < 2:
            raise TypeError(f"call {number} must be a tuple (name, func, *args), not {call!r}")
        name, func, *args = call
        prepared.append(_prepare(group, handler, name, func, tuple(args), {}))
    return _submit(prepared) if prepared else []


def _prepare(group, handler, name, func, args, kwargs) -> tuple[dict[str, Any], bytes]:
    """The info object of a new job and its packed call; raises for anything bad."""
    _check_text("name", name)
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    if "status_update" in kwargs:
        raise TypeError("status_update is moi's keyword: the job's function receives it")
    settings = context.default().settings
    info = record.new_info(group, name, handler)
    packed = runner.pack(
        settings.engine_url,
        info,
        settings.key_ttl,
        settings.max_result_bytes,
        (func, args, kwargs),
    )  # raises for an argument that cannot be pickled, before anything is stored
    return info, packed


def _submit(prepared: list[tuple[dict[str, Any], bytes]]) -> list[str]:
    """Store the jobs as Queued and announce them (one transaction), then send them."""
    ctx = context.default()
    view = ctx.view  # connect to the cluster before storing jobs it might never get
    with ctx.redis.pipeline(transaction=True) as pipe:
        record.create_many(pipe, [info for info, _ in prepared], ctx.settings.key_ttl)
        pipe.execute()
    for sent, (info, packed) in enumerate(prepared):
        try:
            future = view.apply_async(runner.run_job, packed)
        except Exception as error:
            message = f"The job could not be sent to the cluster: {error!r}"
            for unsent, _ in prepared[sent:]:
                ctx.writer.fail(unsent["id"], message)
            raise
        ctx.outstanding.add(info["id"])
        future.add_done_callback(partial(_on_task_done, ctx, info["id"]))
    _forget_history(view)
    return [info["id"] for info, _ in prepared]


HISTORY_LIMIT = 10_000
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _forget_history(view: ipp.LoadBalancedView) -> None:
    """Trim the task IDs ipyparallel keeps forever: a web server submits without end.

    Only in the submitting thread, where ipyparallel itself appends to these lists.
    """
    for history in (view.history, view.client.history):
        if len(history) > HISTORY_LIMIT:
            del history[: -HISTORY_LIMIT // 2]


def submit_nouser(func, /, *args, **kwargs) -> str:
    """Submit a job that belongs to no user (group ``"no-user"``) and has no result page."""
    return submit(NO_USER_GROUP, getattr(func, "__name__", "job"), None, func, *args, **kwargs)


def _on_task_done(ctx: context.Context, job_id: str, future: ipp.AsyncResult) -> None:
    """End the job ``Failed`` if its task failed outside the function (engine died...).

    Runs on the ipyparallel client's I/O thread. When the engine stored a final state
    already, the write is refused by the update script, so this never overwrites it.
    """
    ctx.outstanding.discard(job_id)
    error = future.exception()
    if error is not None:
        ctx.writer.fail(job_id, _task_failure_message(error))
    # Drop the client's copy of the task; the job's state lives in Redis.
    with contextlib.suppress(RuntimeError):  # still listed as outstanding: leave it
        ctx.ipp_client.purge_local_results(future)


def _task_failure_message(error: BaseException) -> str:
    if isinstance(error, ipp.RemoteError) and error.ename == "EngineError":
        return f"The engine running this job died before it finished. ({error.evalue})"
    if isinstance(error, ipp.RemoteError):
        # The engine's traceback, without the terminal colours IPython may have added.
        return ANSI_ESCAPE.sub("", "\n".join(error.render_traceback())) or str(error)
    return f"The job's task failed: {error!r}"


def fail(job_id: str, reason: str) -> bool:
    """End a job ``Failed`` with ``reason`` as its result, unless it has ended already.

    For jobs no engine will ever finish, e.g. those of a cluster that was stopped.

    :returns: whether the job was changed (False for an unknown or ended job).
    """
    _check_text("job_id", job_id)
    if not keys.is_job_id(job_id):
        return False
    ctx = context.default()
    return ctx.writer.fail(job_id, reason)


def get(job_id: str) -> dict[str, Any] | None:
    """The job's info object, or None if no such job is stored."""
    _check_text("job_id", job_id)
    if not keys.is_job_id(job_id):
        return None
    return record.decode(context.default().redis.get(keys.job_key(job_id)))


def wait(job_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Block until the job has ended; return its final info object.

    Listens on the job's channel (subscribing before it reads the record, so no change
    slips between the two), and reads the record again on each notice.

    :raises JobNotFound: if no such job is stored.
    :raises TimeoutError: if it has not ended after ``timeout`` seconds.
    """
    _check_text("job_id", job_id)
    ctx = context.default()
    deadline = None if timeout is None else time.monotonic() + timeout
    with ctx.redis.pubsub() as pubsub:
        pubsub.subscribe(keys.job_channel(job_id))
        # Only once Redis confirms is a notice sent after the read below sure to arrive.
        confirmed = pubsub.get_message(timeout=10)
        if confirmed is None or confirmed["type"] != "subscribe":
            raise ConnectionError(f"Redis did not confirm the subscription: {confirmed!r}")
        while True:
            info = get(job_id)
            if info is None:
                raise JobNotFound(job_id)
            if is_final(info.get("status")):
                return info
            message = None
            while message is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} has not ended after {timeout} s")
                message = pubsub.get_message(timeout=remaining, ignore_subscribe_messages=True)
