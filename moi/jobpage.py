"""A job's own page, with its live output, for any Tornado app to mount.

Jobs submitted without a page of their own (the command line, ``submit_nouser``) have
one here: name, status, times, attempt, result or traceback, and the output pane
(``static/moi_output.js``), which follows what the job prints. Mount it next to the
websocket, with the application's moi client::

    (r"/jobs/([^/]+)", JobPageHandler, {"client": client}),
    (r"/jobs/([^/]+)/output\\.(txt|json)", JobOutputHandler, {"client": client}),

and serve :func:`moi.static_path` at ``/moi-static/`` (option ``static_url``: that prefix,
or a function of a file's name that gives its URL). The page uses ``moi.js``,
``moi_output.js``, ``moi_jobpage.js`` and ``moi.css`` from there, and the websocket at
option ``socket_path`` (``/moi-ws/``).

As with :class:`moi.websocket.MoiWebSocketHandler`, the user is read from the signed
cookie named by the setting ``moi_user_cookie`` and is the job's group; override
:meth:`JobPageMixin.get_group` (and ``get_current_user`` or ``prepare``) where an app
has its own. A job of another group and an unknown job are the same 404, so nobody
learns that someone else's job exists; no one signed in is sent to ``login_url``.
Every value of the job is written as text: the templates escape it all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.template
import tornado.web

from moi.client import Client
from moi.durations import iso, when
from moi.keys import is_job_id
from moi.output import AsyncOutput, Page, not_kept
from moi.status import failure_reason, is_final, status_slug
from moi.websocket import cookie_user

TEMPLATE_DIR = Path(__file__).parent / "templates"
"""The page's Tornado templates: ``moi_job.html`` (the job, to put in any layout) and
``moi_job_page.html`` (a whole page around it)."""

_loader = tornado.template.Loader(str(TEMPLATE_DIR))


def static_url_of(option: str | Callable[[str], str]) -> Callable[[str], str]:
    """The URL of one of moi's static files, from a prefix or a function."""
    if callable(option):
        return option
    return lambda name: option.rstrip("/") + "/" + name


def as_text(value: Any) -> str:
    """A result as text: a string as it is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def attempt_text(job: dict[str, Any]) -> str:
    """How many runs the job had, of all it may have: "1 of 3" (an attempt its engine
    never started is no retry); the run alone where the retries are not known."""
    attempt, requeues, retries = job.get("attempt"), job.get("requeues", 0), job.get("retries")
    run = attempt - requeues if isinstance(attempt, int) and isinstance(requeues, int) else 1
    return f"{run} of {retries + 1}" if isinstance(retries, int) and retries >= 0 else str(run)


def view(job: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    """What the templates show of a job: texts only, and the URLs the page's scripts use."""
    status = str(job.get("status", ""))
    return {
        "job": job,
        "job_id": str(job.get("id", "")),
        "name": str(job.get("name") or job.get("id", "")),
        "status": status,
        "slug": status_slug(status),
        "final": is_final(status),
        "attempt": attempt_text(job),
        "result": "" if job.get("result") is None else as_text(job.get("result")),
        "reason": failure_reason(job),
        "when": when,
        "iso": iso,
        **urls,
    }


def render_job(
    job: dict[str, Any],
    urls: dict[str, str],
    *,
    whole: bool = False,
    static_url: Callable[[str], str] | None = None,
) -> str:
    """The job's HTML: the fragment (``moi_job.html``) to put in an app's layout, or a
    whole page (``whole``) that loads moi's files from ``static_url(name)``."""
    template = _loader.load("moi_job_page.html" if whole else "moi_job.html")
    links = static_url or static_url_of("/moi-static/")
    return template.generate(**view(job, urls), static_url=links).decode()


class JobPageMixin(tornado.web.RequestHandler):
    """Finds the signed-in group's job for the page and its output."""

    client: Client

    def initialize(
        self,
        client: Client,
        static_url: str | Callable[[str], str] = "/moi-static/",
        socket_path: str = "/moi-ws/",
    ) -> None:
        self.client = client
        self.moi_static = static_url_of(static_url)
        self.socket_path = socket_path

    def get_current_user(self) -> str | None:
        return cookie_user(self)

    def get_group(self) -> str | None:
        """The moi group whose jobs the user may see: the logged-in user."""
        return self.current_user

    async def find_job(self, job_id: str) -> dict[str, Any]:
        """The group's job ``job_id``; else a 404, whatever the reason."""
        group = self.get_group()
        job = await self.client.get(job_id) if group and is_job_id(job_id) else None
        if job is None or job.get("group") != group:
            raise tornado.web.HTTPError(404)
        return job

    def page_url(self, job_id: str) -> str:
        """This job's page: the request's path up to the ID."""
        path = self.request.path
        return path[: path.index(job_id) + len(job_id)]


class JobPageHandler(JobPageMixin):
    """``GET /jobs/<id>``: the job's page. Override :meth:`render_page` to put the job
    (:func:`render_job`) into the app's own layout."""

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        job = await self.find_job(job_id)
        self.set_header("Cache-Control", "no-store")
        self.render_page(job, self.urls(job_id))

    def urls(self, job_id: str) -> dict[str, str]:
        """Where the page's scripts find the output, the socket and the sign-in page."""
        page = self.page_url(job_id)
        return {
            "output_url": page + "/output.json",
            "download_url": page + "/output.txt",
            "socket_path": self.socket_path,
            "login_url": self.settings.get("login_url", ""),
        }

    def render_page(self, job: dict[str, Any], urls: dict[str, str]) -> None:
        self.finish(render_job(job, urls, whole=True, static_url=self.moi_static))


class JobOutputHandler(JobPageMixin):
    """``GET /jobs/<id>/output.txt``: all the stored output, to download;
    ``GET /jobs/<id>/output.json?since=N``: one page of it (:meth:`moi.output.Page.as_json`),
    which the pane reads for a job that has ended."""

    @tornado.web.authenticated
    async def get(self, job_id: str, kind: str) -> None:
        job = await self.find_job(job_id)
        output = self.client.output
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        if kind == "json":
            await self.send_page(output, job)
        else:
            await self.send_text(output, job_id)

    async def send_page(self, output: AsyncOutput, job: dict[str, Any]) -> None:
        """One page from ``?since=N`` (0), and whether the job has ended."""
        since = self.get_query_argument("since", "0")
        if not since.isdigit():
            raise tornado.web.HTTPError(400, reason="since must be a whole number")
        page = await output.read(str(job["id"]), int(since))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({**page.as_json(), "final": is_final(job.get("status"))}))

    async def send_text(self, output: AsyncOutput, job_id: str) -> None:
        """All the stored output as a text file, a page at a time."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="job-{job_id}.txt"')
        since = 0
        while True:
            page = await output.read(job_id, since)
            text = text_of(page, since)
            if text:
                self.write(text)
                await self.flush()
            if not page.lines or page.next >= page.total:
                break
            since = page.next
        self.finish()


def text_of(page: Page, since: int) -> str:
    """A page's lines as plain text, one per line, with a note where lines were not kept."""
    out: list[str] = []
    expected = since
    for n, _stream, _time, text in page.lines:
        if n > expected and page.dropped:
            out.append(not_kept(n - expected, page.dropped["bytes"]))
        out.append(str(text))
        expected = n + 1
    return "".join(line + "\n" for line in out)
