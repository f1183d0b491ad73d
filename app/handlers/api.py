"""The JSON API under ``/api/``: my jobs, one job, its output, submit, cancel, hide; my API
tokens.

The endpoints, their answers and curl examples are in app/README.md ("JSON API"); who
may ask, the body and the errors are :mod:`app.handlers.apibase`'s.
"""

from __future__ import annotations

from typing import Any

from app import forms, samples
from app.handlers.apibase import ApiError, ApiHandler
from app.handlers.jobs import NOTICES
from app.tokens import TokenError
from moi.exceptions import JobNotFound, QueueFull
from moi.output import PAGE_LINES
from moi.status import is_final

LIMIT_DEFAULT = 50
LIMIT_MAX = 500
OFFSET_MAX = 10**9
ACTIVE, FINAL = "active", "final"
"""``?status=`` words: jobs that have not ended, and those that have."""


class JobApiHandler(ApiHandler):
    """A handler of the job endpoints: finds the user's jobs."""

    async def own_job(self, job_id: str) -> dict[str, Any]:
        """The user's job ``job_id``; a 404 whatever the reason it is not (no such job,
        or another user's), as the result pages do: nobody learns another's job exists."""
        job = await samples.user_job(self.application.moi, self.group, job_id)
        if job is None:
            raise ApiError(404, "No such job.")
        return job

    def page_url(self, job_id: str, job: dict[str, Any] | None) -> str | None:
        """The address of the job's result page, if it has one. The host is one the site
        answers to (:func:`app.handlers.base.check_host`), so the link is ours."""
        handler = job.get("handler") if job else None
        if not isinstance(handler, str) or not handler:
            return None
        return f"{self.request.protocol}://{self.request.host}{handler}/{job_id}"

    def whole_argument(
        self, name: str, default: int, high: int, errors: dict[str, str], low: int = 0
    ) -> int:
        """The query argument ``name``, a whole number from ``low`` to ``high``; a message
        in ``errors`` if it is something else."""
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        text = raw.strip()
        short = text.isascii() and text.isdigit() and len(text) <= len(str(high))
        if short and low <= int(text) <= high:
            return int(text)
        errors[name] = f"{name} must be a whole number from {low} to {high}."
        return default


class JobsHandler(JobApiHandler):
    async def get(self) -> None:
        """My jobs, newest first: ``?status=`` (any of, repeated), ``limit``, ``offset``."""
        errors: dict[str, str] = {}
        limit = self.whole_argument("limit", LIMIT_DEFAULT, LIMIT_MAX, errors)
        offset = self.whole_argument("offset", 0, OFFSET_MAX, errors)
        if errors:
            raise ApiError(400, "Bad paging parameters.", errors)
        wanted = [status for status in self.get_query_arguments("status") if status]
        infos = await self.application.moi.jobs(self.group)
        infos.reverse()  # newest first
        if wanted:
            infos = [info for info in infos if _matches(info.get("status"), wanted)]
        self.write_json(
            {
                "jobs": infos[offset : offset + limit],
                "total": len(infos),
                "limit": limit,
                "offset": offset,
            }
        )

    async def post(self) -> None:
        """Submit a sample job: ``{"kind": "hello", "name": "Ann"}``, the form's fields."""
        body = self.json_body()
        kind = body.pop("kind", None)
        sample = samples.SAMPLES.get(kind) if isinstance(kind, str) else None
        if sample is None:
            raise ApiError(
                400,
                f"Say which job to run: 'kind' is one of {', '.join(samples.SAMPLES)}.",
                {"kind": "unknown kind" if kind is not None else "required"},
            )
        fields, errors = _form_fields(body, sample)
        if errors:
            raise ApiError(400, "Some fields were refused.", errors)
        try:
            job_ids = await sample.submit(self.application.moi, self.group, fields)
        except forms.FieldError as error:
            raise ApiError(400, str(error), {error.field: str(error)}) from None
        except QueueFull as error:
            raise ApiError(429, str(error)) from None
        jobs = await self.application.moi.get_many(job_ids)  # one round trip for a batch
        made = [
            {"id": job_id, "url": self.page_url(job_id, job), "job": job}
            for job_id, job in zip(job_ids, jobs, strict=True)
        ]
        if sample.many:
            answer: dict[str, Any] = {"jobs": made}
        else:
            answer = made[0]
            self.set_header("Location", f"/api/jobs/{job_ids[0]}")
        if await samples.no_engines(self.application.moi):
            answer["notice"] = NOTICES["no-engines"]
        self.write_json(answer, 201)


class JobHandler(JobApiHandler):
    async def get(self, job_id: str) -> None:
        """One of my jobs' info object."""
        self.write_json(await self.own_job(job_id))

    async def delete(self, job_id: str) -> None:
        """Hide the job: off my list (every tab's, at once); it runs on if it runs."""
        await self.own_job(job_id)
        await self.application.moi.remove(self.group, [job_id])
        self.set_status(204)


class CancelHandler(JobApiHandler):
    async def post(self, job_id: str) -> None:
        """Cancel the job; ``cancelled`` is false if it had already ended."""
        await self.own_job(job_id)
        try:
            cancelled = await self.application.moi.cancel(job_id, by=self.current_user)
        except JobNotFound:  # expired or taken away since own_job read it
            raise ApiError(404, "No such job.") from None
        job = await self.own_job(job_id)
        self.write_json({"id": job_id, "cancelled": cancelled, "job": job})


class OutputHandler(JobApiHandler):
    async def get(self, job_id: str) -> None:
        """What the job printed: the lines from ``?since=`` (default 0), at most ``?limit=``
        (default and most :data:`moi.output.PAGE_LINES`), and the job's status. The status
        is read first: once it is final, pages read up to ``total`` hold all it printed."""
        errors: dict[str, str] = {}
        since = self.whole_argument("since", 0, OFFSET_MAX, errors)
        limit = self.whole_argument("limit", PAGE_LINES, PAGE_LINES, errors, low=1)
        if errors:
            raise ApiError(400, "Bad paging parameters.", errors)
        job = await self.own_job(job_id)
        page = await self.application.moi.output.read(job_id, since, limit)
        self.write_json({"id": job_id, "status": job.get("status"), **page.as_json()})


class TokensHandler(ApiHandler):
    async def get(self) -> None:
        """My API tokens (never the tokens themselves: only their names and dates)."""
        assert self.account_id is not None  # signed in: find_user set it
        found = await self.application.tokens.for_user(self.current_user, self.account_id)
        self.write_json({"tokens": [token.public() for token in found]})

    async def post(self) -> None:
        """A new token, ``{"name": "..."}``: the answer's ``token`` is its only showing."""
        if self.via_token:
            raise ApiError(
                403,
                "A token cannot make tokens (so a leaked one cannot outlive its revoking): "
                "make them on the account page, or here with the session cookie.",
            )
        body = self.json_body()
        name = body.get("name", "")
        if not isinstance(name, str):
            raise ApiError(400, "A token's name is text.", {"name": "must be text"})
        assert self.account_id is not None  # signed in: find_user set it
        try:
            token, secret = await self.application.tokens.create(
                self.current_user, self.account_id, name
            )
        except TokenError as error:
            fields = {error.field: str(error)} if error.field else None
            raise ApiError(400, str(error), fields) from None
        self.set_header("Location", f"/api/tokens/{token.id}")
        self.write_json({**token.public(), "token": secret}, 201)


class TokenHandler(ApiHandler):
    async def delete(self, token_id: str) -> None:
        """Revoke one of my tokens, at once (this one too, if it is the one sending)."""
        if not await self.application.tokens.revoke(self.current_user, token_id):
            raise ApiError(404, "No such token.")
        self.set_status(204)


class ApiNotFoundHandler(ApiHandler):
    """Any other address under ``/api/``: a JSON 404, whoever asks."""

    async def find_user(self) -> str | None:  # after the body's limit and the Host check
        raise ApiError(404, "No such endpoint: see the JSON API section of app/README.md.")


def _matches(status: object, wanted: list[str]) -> bool:
    """Whether a job's status is one of ``wanted``: ``active`` (not ended), ``final``
    (ended), or a status text, whatever its case."""
    for word in wanted:
        if word == ACTIVE and not is_final(status):
            return True
        if word == FINAL and is_final(status):
            return True
        if isinstance(status, str) and status.casefold() == word.casefold():
            return True
    return False


def _form_fields(body: dict[str, Any], sample: samples.Sample) -> tuple[dict[str, str], dict]:
    """The JSON fields as the form's text, and the fields refused before any check:
    unknown ones, and values that are neither text nor a number."""
    fields: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in body.items():
        if name not in sample.fields:
            known = ", ".join(sample.fields)
            errors[name] = f"unknown field (a {sample.kind} job takes: {known})"
        elif value is None:
            fields[name] = ""
        elif isinstance(value, str):
            fields[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = str(value)
        else:
            errors[name] = "must be text or a number"
    return fields, errors


routes = [
    (r"/api/jobs", JobsHandler),
    (r"/api/jobs/([^/]+)", JobHandler),
    (r"/api/jobs/([^/]+)/cancel", CancelHandler),
    (r"/api/jobs/([^/]+)/output", OutputHandler),
    (r"/api/tokens", TokensHandler),
    (r"/api/tokens/([^/]+)", TokenHandler),
    (r"/api(?:/.*)?", ApiNotFoundHandler),
]
