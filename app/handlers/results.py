"""Result pages, one per sample job, at the job's ``handler`` + ``/<job id>``.

A job that does not exist, belongs to another user, or was made for another page is
the same 404: the page must not tell anyone that someone else's job exists.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from app import charts
from app.handlers.base import BaseHandler
from app.handlers.jobs import result_url
from moi.keys import is_job_id

KINDS = ("hello", "countdown", "fail", "pi")


class ResultHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, kind: str, job_id: str) -> None:
        job = await self.find_job(kind, job_id)
        extra: dict[str, Any] = {}
        if kind == "pi" and job.get("status") == "Success":
            extra = {"picture": charts.pi_picture(job.get("result")), "chart": charts}
        self.render(f"results/{kind}.html", job=job, **extra)

    async def find_job(self, kind: str, job_id: str) -> dict[str, Any]:
        if not is_job_id(job_id):
            raise tornado.web.HTTPError(404)
        job = await self.application.moi.get(job_id)
        if job is None or job.get("group") != self.current_user:
            raise tornado.web.HTTPError(404)
        if job.get("handler") != result_url(kind):
            raise tornado.web.HTTPError(404)
        return job


routes = [
    (rf"/result/({'|'.join(KINDS)})/([^/]+)", ResultHandler),
]
