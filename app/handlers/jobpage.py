"""moi's job page (:mod:`moi.jobpage`) at ``/jobs/<id>``, in the demo's layout and with
its idea of who is signed in.

Every job of the signed-in account has this page, those without a page of their own too
(the command line's, ``submit_nouser``'s): the live list links there. The same 404 as
the result pages answers an unknown job and another's.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from app.handlers.base import BaseHandler
from moi import jobpage

PATTERN = r"/jobs/([0-9a-fA-F-]{36})"
"""A job's page; only a job ID's shape, so the job forms' ``/jobs/<kind>`` stay theirs."""


class DemoJobPage(BaseHandler, jobpage.JobPageMixin):
    """The page's finding of the job, with the demo's user (:class:`BaseHandler`)."""

    def get_group(self) -> str | None:
        return self.group if self.current_user and self.account_id is not None else None


class JobPageHandler(DemoJobPage, jobpage.JobPageHandler):
    def urls(self, job_id: str) -> dict[str, str]:
        # The sign-in page says why it came back: the session ended.
        return {**super().urls(job_id), "login_url": "/login?notice=ended"}

    def render_page(self, job: dict[str, Any], urls: dict[str, str]) -> None:
        job_html = Markup(jobpage.render_job(job, urls))  # escaped by moi's templates
        self.render("results/moi_job.html", job=job, job_html=job_html)


class JobOutputHandler(DemoJobPage, jobpage.JobOutputHandler):
    pass


def routes(application: Any) -> list[tuple]:
    options = {"client": application.moi, "static_url": application.moi_static_url}
    return [
        (PATTERN, JobPageHandler, options),
        (PATTERN + r"/output\.(txt|json)", JobOutputHandler, options),
    ]
