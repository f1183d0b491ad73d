"""``moi logs``: what a job printed, on the terminal, and with ``-f`` its new lines as they
are printed, until the job ends.

Each line's text goes where the job wrote it: stderr lines to stderr, the others (stdout,
``logging``, moi's own notes) to stdout, so ``moi logs ID 2>/dev/null`` keeps the stdout
side. ``--json`` prints each line's stored array ``[n, stream, time_ms, text]`` on a line
of its own, all to stdout, for programs. A range the cap (``[jobs] max_output_bytes``)
did not keep is one note on stderr where it falls.

Following subscribes to the job's output channel and its own channel before it reads
anything, so no line and no end falls between the stored lines and the live ones; a line
that comes both ways is printed once (lines are numbered). The exit status is ``moi
watch``'s, from the same :class:`~moi.terminal.Watcher` rules.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console

from moi import keys
from moi.client import Client
from moi.exceptions import JobNotFound
from moi.output import AsyncOutput, Page, not_kept
from moi.subscription import subscribe_confirmed
from moi.terminal import Watcher


class LinePrinter:
    """Prints a job's lines in order of ``n``, each once, and notes a range not kept.

    ``next`` is the ``n`` of the first line not printed yet: where the next read starts,
    and below which a live line was printed already.
    """

    def __init__(self, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.next = 0
        self._last: TextIO | None = None

    def page(self, page: Page) -> None:
        """Print a page read from :attr:`next`, and a note where it jumps over lines."""
        for line in page.lines:
            if line[0] > self.next:
                self._note(line[0], page.dropped)
            self._print(line)
        if page.next > self.next:  # the read went past a range and found nothing after it
            self._note(page.next, page.dropped)
        self.flush()

    def live(self, lines: list[list[Any]]) -> None:
        """Print the lines of a batch as published, but those printed already."""
        for line in lines:
            if line[0] >= self.next:
                self._print(line)
        self.flush()

    def flush(self) -> None:
        for stream in {self.out, self.err}:
            stream.flush()

    def _print(self, line: list[Any]) -> None:
        n, stream, _, text = line
        if self.as_json:
            self._write(self.out, json.dumps(line))
        else:
            self._write(self.err if stream == "stderr" else self.out, str(text))
        self.next = n + 1

    def _note(self, upto: int, dropped: dict[str, int] | None) -> None:
        """Say that the lines from :attr:`next` to ``upto - 1`` were not kept; their size
        when they are the whole range the cap dropped."""
        bytes_ = None
        if dropped is not None and self.next <= dropped["from"] and upto >= dropped["to"]:
            bytes_ = dropped["bytes"]
        self._write(self.err, not_kept(upto - self.next, bytes_))
        self.next = upto

    def _write(self, stream: TextIO, text: str) -> None:
        if self._last is not None and stream is not self._last:
            self._last.flush()  # stdout and stderr on one terminal: in the job's order
        self._last = stream
        stream.write(text + "\n")


async def print_logs(client: Client, job_id: str, *, follow: bool, as_json: bool) -> int:
    """Print the job's output; with ``follow``, then its new lines until it ends.

    :returns: the exit status: 0, or with ``follow`` ``moi watch``'s for the job.
    :raises JobNotFound: for an unknown job (or text that is no job ID).
    """
    for stream in (sys.stdout, sys.stderr):  # a job may print what this terminal cannot
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    printer = LinePrinter(as_json=as_json)
    if follow:
        return await follow_logs(client, job_id, printer)
    await job_info(client, job_id)
    await print_stored(client.output, job_id, printer)
    return 0


async def job_info(client: Client, job_id: str) -> dict[str, Any]:
    info = await client.get(job_id) if keys.is_job_id(job_id) else None
    if info is None:
        raise JobNotFound(job_id)
    return info


async def print_stored(output: AsyncOutput, job_id: str, printer: LinePrinter) -> None:
    """Print every stored line from :attr:`LinePrinter.next` on, a page at a time."""
    while True:
        page = await output.read(job_id, printer.next)
        printer.page(page)
        if not page.lines or printer.next >= page.total:
            return


class JobEnd(Watcher):
    """``moi watch``'s knowledge of a job (:attr:`done`, :meth:`exit_code`), showing
    nothing: the job's output is what ``moi logs`` shows."""

    def __init__(self) -> None:
        super().__init__(Console(stderr=True), json_lines=True)

    def show(self, info: dict[str, Any], *, printed: bool = False) -> None:
        self.infos[info["id"]] = info


async def follow_logs(client: Client, job_id: str, printer: LinePrinter) -> int:
    """Print the stored lines, then the live ones until the job ends; the exit status."""
    output = client.output
    lines_channel = keys.output_channel(job_id)
    end = JobEnd()
    async with client.redis.pubsub() as pubsub:
        if keys.is_job_id(job_id):
            await subscribe_confirmed(pubsub, lines_channel, keys.job_channel(job_id))
        end.show(await job_info(client, job_id))
        await print_stored(output, job_id, printer)
        while not end.done:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None:
                continue
            if message["channel"] == lines_channel:
                printer.live(json.loads(message["data"])["lines"])
            else:
                end.show(await job_info(client, job_id))
    await print_stored(output, job_id, printer)  # any line stored after the last seen live
    return end.exit_code()
