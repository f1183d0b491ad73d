"""How the ``moi`` command shows jobs: rich tables and progress bars on a terminal, plain
lines when its output goes to a pipe or a file.

rich (Textualize's terminal library) draws the tables and live bars and tells whether
the output is a terminal; nothing here draws by hand. Job text (names, statuses, results)
goes to rich as :class:`~rich.text.Text` or through ``Console.out``, never as markup: a
name like ``"fit [/] model"`` is printed as it is.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from moi.durations import format_span
from moi.status import Status, failure_reason, is_final

COLUMNS = ("id", "name", "status", "submitted", "duration")


def parse_date(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def duration(info: dict[str, Any], now: datetime | None = None) -> str:
    """How long the job ran (or has run, while it runs), as the live list and the demo's
    job page write it (:mod:`moi.durations`): ``""`` before it started."""
    start = parse_date(info.get("date_start"))
    if start is None:
        return ""
    return format_span(start, parse_date(info.get("date_end")), now)


def local_time(value: object, timespec: str = "seconds") -> str:
    """A stored time as ISO 8601 in this machine's time zone, with its offset
    (``2026-11-30T18:42:49+01:00``); "" if it is none."""
    when = parse_date(value)
    return when.astimezone().isoformat(timespec=timespec) if when else ""


def submitted(info: dict[str, Any]) -> str:
    """The submit time in this machine's local time, to the second."""
    return local_time(info.get("date_created"))


def json_line(info: dict[str, Any] | None) -> str:
    """An info object as one line of JSON (``--json``: one object per line)."""
    return json.dumps(info, sort_keys=True)


def row(info: dict[str, Any]) -> list[str]:
    return [
        str(info.get("id", "")),
        str(info.get("name", "")),
        str(info.get("status", "")),
        submitted(info),
        duration(info),
    ]


def print_jobs(console: Console, infos: list[dict[str, Any]]) -> None:
    """A table on a terminal; tab-separated lines with a header line in a pipe."""
    if not console.is_terminal:
        for values in [list(COLUMNS), *(row(info) for info in infos)]:
            print("\t".join(value.replace("\t", " ") for value in values), file=console.file)
        return
    table = Table(box=None, header_style="bold")
    for column in COLUMNS:  # a job ID is copied from here: never cut short
        table.add_column(column, no_wrap=column in ("id", "submitted"))
    for info in infos:
        table.add_row(*map(Text, row(info)), style=status_style(info.get("status")))
    console.print(table)


def status_style(status: object) -> str:
    return {
        Status.SUCCESS.value: "green",
        Status.FAILED.value: "red",
        Status.CANCELLED.value: "dim",
    }.get(str(status), "")


def print_job(console: Console, info: dict[str, Any]) -> None:
    """Every field of the info object (times in local time), then the result: JSON, or a
    traceback as it is."""
    fields = {k: v for k, v in info.items() if k != "result"}
    width = max(map(len, fields))
    for key, value in fields.items():
        if key.startswith("date_") and parse_date(value):
            value = local_time(value, "microseconds")
        shown = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        console.out(f"{key:<{width}}  {shown}", highlight=False)
    result = info.get("result")
    if result is None:
        return
    console.out("", highlight=False)
    if isinstance(result, str):
        console.out(result.rstrip("\n"), highlight=False)  # a traceback reads as printed
    else:
        console.out(json.dumps(result, indent=2), highlight=False)


class StatusColumn(ProgressColumn):
    """A watched job's status, as text, coloured by how the job ended; a failure's last
    line after it."""

    def render(self, task: Task) -> Text:
        status, reason = task.fields["status"], task.fields["reason"]
        return Text(f"{status}: {reason}" if reason else status, style=status_style(status))


class Watcher:
    """Shows each watched job's status and progress until it ends.

    A terminal gets one live bar per job; a pipe gets a line per change; ``json_lines``
    prints the info object as a JSON line whenever it changed, and nothing else.
    """

    def __init__(self, console: Console, *, json_lines: bool = False) -> None:
        self.console = console
        self.json_lines = json_lines
        self.infos: dict[str, dict[str, Any]] = {}
        self._shown: dict[str, object] = {}
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if console.is_terminal and not json_lines:
            self._progress = Progress(
                TextColumn("{task.fields[name]}", style="bold", markup=False),
                BarColumn(),
                StatusColumn(),
                console=console,
            )

    def __enter__(self) -> Watcher:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def done(self) -> bool:
        return all(is_final(info.get("status")) for info in self.infos.values())

    def show(self, info: dict[str, Any], *, printed: bool = False) -> None:
        """Show the job's new state, unless it shows nothing new (or was ``printed``)."""
        job_id = info["id"]
        self.infos[job_id] = info
        if self.json_lines:
            line = json_line(info)
            if self._shown.get(job_id) != line:
                self._shown[job_id] = line
                if not printed:
                    print(line, file=self.console.file, flush=True)
            return
        status = str(info.get("status", ""))
        reason = failure_reason(info)  # why it failed: ``ValueError: bad input``
        progress = info.get("progress")
        if not isinstance(progress, int | float):
            progress = None
        if status == Status.SUCCESS.value:
            progress = 1.0
        state = (status, progress, reason)
        if self._shown.get(job_id) == state:
            return
        self._shown[job_id] = state
        if printed:
            return
        name = str(info.get("name", job_id))
        if self._progress is None:
            percent = "" if progress is None else f" {round(progress * 100)}%"
            why = f": {reason}" if reason else ""
            self.console.out(f"{job_id} {name}: {status}{percent}{why}", highlight=False)
            return
        if job_id not in self._tasks:
            self._tasks[job_id] = self._progress.add_task(
                name,
                total=1.0 if progress is not None else None,
                name=name,
                status=status,
                reason=reason,
            )
        task = self._tasks[job_id]
        total = 1.0 if progress is not None or is_final(status) else None
        self._progress.update(
            task, total=total, completed=progress or 0.0, status=status, reason=reason, refresh=True
        )

    def exit_code(self) -> int:
        """0 if every job succeeded, 1 if any failed, else 2 if any was cancelled."""
        statuses = {info.get("status") for info in self.infos.values()}
        if Status.FAILED.value in statuses:
            return 1
        if Status.CANCELLED.value in statuses:
            return 2
        return 0
