"""Result pages, one per sample job, at the job's ``handler`` + ``/<job id>``, and the
Cancel button of a job's page, a POST to that page's URL + ``/cancel``.

A job that does not exist, belongs to another user, or was made for another page is
the same 404: the page must not tell anyone that someone else's job exists.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from app import charts
from app.handlers.base import BaseHandler
from app.handlers.forms import FormHandler
from app.samples import SAMPLES, result_url, user_job
from moi import queue
from moi.exceptions import JobNotFound

KINDS = tuple(kind for kind, sample in SAMPLES.items() if sample.result_page)
"""The samples with a page of their own, ``results/<kind>.html``."""
CANCEL_MAX_BODY = 1024
"""The cancel form holds the XSRF token only."""

NOTICES = {
    "ended": "This job had already ended; nothing was cancelled.",
}
"""Notices the cancel button may leave for the page it redirects to (``?notice=``)."""


async def find_job(handler: BaseHandler, kind: str, job_id: str) -> dict[str, Any]:
    """The signed-in user's job for the page of ``kind``; else a 404, whatever the reason."""
    job = await user_job(handler.application.moi, handler.group, job_id)
    if job is None or job.get("handler") != result_url(kind):
        raise tornado.web.HTTPError(404)
    return job


class ResultHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, kind: str, job_id: str) -> None:
        job = await find_job(self, kind, job_id)
        extra: dict[str, Any] = {}
        if kind == "pi" and job.get("status") == "Success":
            extra = {"picture": charts.pi_picture(job.get("result")), "chart": charts}
        ahead = None
        if job.get("status") == "Queued":
            ahead = await queue.ahead(self.application.moi.redis, self.group, job_id)
        self.render(
            f"results/{kind}.html", job=job, ahead=ahead, notice=self.notice(NOTICES), **extra
        )


class CancelHandler(FormHandler):
    """Cancel the job, then back to its page, which shows it ``Cancelled``.

    A job that had already ended is left as it is, and its page says so.
    """

    max_body_bytes = CANCEL_MAX_BODY

    @tornado.web.authenticated
    async def post_form(self, kind: str, job_id: str) -> None:
        await find_job(self, kind, job_id)
        try:
            cancelled = await self.application.moi.cancel(job_id, by=self.current_user)
        except JobNotFound:  # expired or taken away since find_job read it
            raise tornado.web.HTTPError(404) from None
        page = f"{result_url(kind)}/{job_id}"
        self.redirect(page if cancelled else f"{page}?notice=ended", status=303)


routes = [
    (rf"/result/({'|'.join(KINDS)})/([^/]+)", ResultHandler),
    (rf"/result/({'|'.join(KINDS)})/([^/]+)/cancel", CancelHandler),
]
