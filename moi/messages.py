"""The JSON messages of the protocol: encoding them, and checking the ones we receive.

One home for both directions, so the hub (pub/sub) and the websocket handler (browsers)
agree on what a valid ``add``, ``remove``, ``get``, ``cancel``, ``moi:follow``,
``moi:unfollow``, ``moi:again`` or ``moi:cluster`` is. Nothing here does
I/O or imports the cluster client: the web tier loads it cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from moi import record
from moi.keys import is_job_id

MAX_CLIENT_MESSAGE_BYTES = 8 * 1024 * 1024
"""The largest message a browser may send: a ``cancel`` or ``remove`` of 200,000 job IDs
(39 bytes each), so "cancel all" on a 100,000-job list is one message. Below Tornado's
own default limit (10 MiB, setting ``websocket_max_message_size``), so this one answers
with an ``error`` rather than a closed socket."""
ID_ACTIONS = ("remove", "cancel")
"""The client actions whose value is a job ID or a list of them."""
FOLLOW, UNFOLLOW, OUTPUT = "moi:follow", "moi:unfollow", "moi:output"
"""The actions of a job's live output (moi's own, hence namespaced)."""
AGAIN, CLUSTER = "moi:again", "moi:cluster"
"""Run a job again (:mod:`moi.again`); watch the cluster's state (:mod:`moi.clusterfeed`)."""
CLIENT_ACTIONS = ("get", *ID_ACTIONS, FOLLOW, UNFOLLOW, AGAIN, CLUSTER)
MAX_SINCE = 10**12
"""The largest line a follow may start from: beyond any job's count, and below where
Redis's Lua would write the number in a form LRANGE refuses (1e+14)."""
DONE = {"remove": "removed", "cancel": "cancelled"}
"""What an ID action does, for the refusals that say it was not done."""
SHOWN_IDS = 5
SHOWN_CHARS = 40


class ClientError(ValueError):
    """A client's message is refused; the text is sent back as ``{"error": text}``."""


def normalise_ids(ids: str | Iterable[str]) -> list[str]:
    """A job ID or several as a list of str, as the ``add``/``remove`` actions allow.

    :raises TypeError: if any ID is not a str.
    """
    if isinstance(ids, str):
        ids = [ids]
    ids = list(ids)
    for job_id in ids:
        if not isinstance(job_id, str):
            raise TypeError(f"job IDs must be str, not {type(job_id).__name__}")
    return ids


def shown(ids: list[str], form: Callable[[str], str] = str) -> str:
    """A few of ``ids`` for an error reply: the first five, each cut to 40 characters.

    :param form: how each is written; ``ascii`` for text that may not be a job ID, so a
        control character or a lone surrogate is shown as its escape.
    """
    text = ", ".join(form(i[:SHOWN_CHARS]) for i in ids[:SHOWN_IDS])
    return text + (" ..." if len(ids) > SHOWN_IDS else "")


def action(name: str, value: Any) -> bytes:
    """A one-action message, encoded once for all the clients it goes to."""
    return json.dumps({name: value}, separators=(",", ":")).encode()


def ids_action(name: str, ids: list[str]) -> bytes:
    """:func:`action` for a list of job IDs (:func:`moi.keys.is_job_id`: nothing in one
    to escape), joined rather than encoded: a snapshot's ``add`` of 100,000 in 1 ms."""
    if not ids:
        return action(name, ids)
    return ('{"' + name + '":["' + '","'.join(ids) + '"]}').encode()


def group_actions(data: str | bytes) -> tuple[list[str], list[str]]:
    """The job IDs a group message adds and removes (only job IDs: the hub stores them).

    :raises ValueError: for a message that is not a JSON object of ``add``/``remove``.
    """
    try:
        actions = json.loads(data)
    except RecursionError:  # nested deeper than the parser goes: not ours either
        raise ValueError("nested too deeply") from None
    if not isinstance(actions, dict):
        raise ValueError("not an object")
    try:
        added = [i for i in normalise_ids(actions.get("add", [])) if is_job_id(i)]
        removed = [i for i in normalise_ids(actions.get("remove", [])) if is_job_id(i)]
    except TypeError as error:
        raise ValueError(str(error)) from None
    return added, removed


def stored_info(job_id: str, raw: str | None) -> dict | None:
    """The info object stored for ``job_id``, if it is one: a JSON object with that ID.

    Anything else (a missing record, another kind of value) is never sent to browsers.
    """
    info = record.decode(raw)
    return info if info is not None and info.get("id") == job_id else None


_DATE_KEY = '"date_created":"'


def created(job_id: str, raw: str | None) -> str | None:
    """The ``date_created`` of the info stored for ``job_id``, the key a list is sorted
    by; None if ``raw`` is not its info object.

    Read from the text where it is as :func:`moi.record.encode` leaves it (the ID first,
    the date a string with only scalars after it, no spaces): six times cheaper than
    decoding, which is what made a 100,000-job list slow to start. Anything else is
    decoded. Only an order comes of it: the text may still prove not to be one JSON
    object, so each info must pass :func:`stored_info` before it is sent.
    """
    if raw is None:
        return None
    if raw.startswith(f'{{"id":"{job_id}",') and raw.endswith("}"):
        at = raw.rfind(_DATE_KEY)
        start = at + len(_DATE_KEY)
        end = raw.find('"', start)
        # A key of the top-level object: nothing after its value closes a nested one.
        if at > 0 and raw[at - 1] == "," and end > 0 and "\\" not in raw[start:end]:
            tail = raw[end + 1 : -1]
            if "}" not in tail and "]" not in tail:
                return raw[start:end]
    info = stored_info(job_id, raw)
    return None if info is None else str(info.get("date_created") or "")


def update_message(raw_info: str) -> bytes:
    """The ``update`` message for a stored info object, spliced in without re-encoding.

    Only for text :func:`stored_info` accepted: one valid JSON object cannot break out
    of the message it is spliced into.
    """
    return b'{"update":' + raw_info.encode() + b"}"


def update_list_message(raw_infos: list[str]) -> bytes:
    """One ``update`` carrying a list of stored info objects (PROTOCOL.md 1.1), spliced
    in as :func:`update_message` does: a snapshot of 100,000 jobs is 100 messages, not
    100,000, and no info is decoded again to make them."""
    return b'{"update":[' + ",".join(raw_infos).encode() + b"]}"


def output_message(job_id: str, lines: list[list[Any]], dropped: dict | None = None) -> bytes:
    """A ``moi:output`` message: lines of a job's output, and the range before them that
    was not kept, if they jump over one."""
    return action(OUTPUT, {"id": job_id, "lines": lines, "dropped": dropped})


def published_lines(data: str | bytes) -> list[list[Any]]:
    """The lines of a batch published on a job's output channel, in order of ``n``, each
    once.

    :raises ValueError: for a message that is not ``{"lines": [[n, stream, time, text],
        ...]}`` (another program's, on a channel of moi's).
    """
    try:
        batch = json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    lines = batch.get("lines") if isinstance(batch, dict) else None
    if not isinstance(lines, list) or not all(_is_line(line) for line in lines):
        raise ValueError("not a batch of output lines")
    return sorted({line[0]: line for line in lines}.values(), key=lambda line: line[0])


def _is_line(line: object) -> bool:
    return (
        isinstance(line, list)
        and len(line) == 4
        and type(line[0]) is int
        and line[0] >= 0
        and isinstance(line[1], str)
        and isinstance(line[3], str)
    )


def parse_client_message(message: str | bytes) -> tuple[str, Any]:
    """The one action of a browser's message, or :class:`ClientError` saying what is wrong.

    An action on jobs (``remove``, ``cancel``) comes back with a non-empty list of job IDs
    (:func:`moi.keys.is_job_id`); ``get`` with None; ``moi:follow`` with a job ID and the
    line to start from, as a tuple; ``moi:unfollow`` and ``moi:again`` with a job ID;
    ``moi:cluster`` with True (watch) or False (stop).
    """
    if isinstance(message, bytes):
        try:
            message = message.decode()
        except UnicodeDecodeError:
            raise ClientError("message is not valid UTF-8") from None
    size = len(message.encode(errors="surrogatepass"))
    if size > MAX_CLIENT_MESSAGE_BYTES:
        raise ClientError(f"message too large: {size} bytes, limit {MAX_CLIENT_MESSAGE_BYTES}")
    try:
        data = json.loads(message)
    except ValueError:
        raise ClientError("message is not valid JSON") from None
    except RecursionError:
        raise ClientError("message is nested too deeply") from None
    if not isinstance(data, dict) or len(data) != 1:
        raise ClientError('message must be a JSON object with one action, e.g. {"get": null}')
    ((name, value),) = data.items()
    if name == "get":
        if value is not None:
            raise ClientError("get takes null")
        return name, None
    if name in ID_ACTIONS:
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(job_id, str) for job_id in value)
        ):
            raise ClientError(f"{name} takes a job ID or a non-empty list of job IDs")
        wrong = [job_id for job_id in value if not is_job_id(job_id)]
        if wrong:  # checked here, so nothing but a job ID ever reaches Redis
            raise ClientError(
                f"{name} takes job IDs (UUID4 strings), not {shown(wrong, ascii)}; "
                f"nothing was {DONE[name]}"
            )
        return name, value
    if name == FOLLOW:
        return name, _follow_value(value)
    if name in (UNFOLLOW, AGAIN):
        if not is_job_id(value):
            raise ClientError(f"{name} takes a job ID (a UUID4 string)")
        return name, value
    if name == CLUSTER:
        if not isinstance(value, bool):
            raise ClientError(f"{CLUSTER} takes true (watch the cluster) or false (stop)")
        return name, value
    raise ClientError(f"unknown action {name!r}; known actions: {', '.join(CLIENT_ACTIONS)}")


def _follow_value(value: Any) -> tuple[str, int]:
    """The job ID and first line of a ``moi:follow``'s value, ``{"id": ..., "since": n}``."""
    if not isinstance(value, dict) or not set(value) <= {"id", "since"}:
        raise ClientError(
            f'{FOLLOW} takes {{"id": job ID, "since": line}} ("since" may be left out)'
        )
    job_id, since = value.get("id"), value.get("since", 0)
    if not isinstance(job_id, str) or not is_job_id(job_id):
        raise ClientError(f"{FOLLOW} takes a job ID (a UUID4 string) as its id")
    if type(since) is not int or not 0 <= since <= MAX_SINCE:
        raise ClientError(f"{FOLLOW} takes a line number from 0 to {MAX_SINCE} as its since")
    return job_id, since
