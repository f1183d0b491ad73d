"""The index page with the job forms and the live list, and the forms' posts.

A form post either submits its jobs and redirects back to the index (where the live
list shows them at once), or re-renders the index with the form's message and the
values typed, having submitted nothing.
"""

from __future__ import annotations

import tornado.web

from app import forms, samples
from app.handlers.base import RETRY_AFTER, BaseHandler, unavailable_service
from app.handlers.forms import FormHandler
from app.outage import REDIS_DOWN
from app.samples import (
    BATCH_MAX,
    COUNTDOWN_MAX,
    MESSAGE_MAX,
    NAME_MAX,
    PI_MAX,
    PI_MIN,
    SIMULATE_STEPS_MAX,
)
from moi.exceptions import ClusterError, QueueFull

JOB_FORM_MAX_BODY = 8 * 1024
"""Every job form is one short field: 8 KiB is far more than any needs."""
ECHO_MAX = 1000
"""A refused form shows what was typed up to this length; a longer value is dropped."""


def render_index(
    handler: BaseHandler,
    errors: dict[str, str] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    notice: str | None = None,
) -> None:
    """The index page; ``errors`` and ``values`` (what was typed) are keyed by form."""
    handler.render(
        "jobs/index.html",
        errors=errors or {},
        values=values or {},
        notice=notice,
        again_handlers=samples.AGAIN_HANDLERS,
        limits={
            "name": NAME_MAX,
            "message": MESSAGE_MAX,
            "countdown": COUNTDOWN_MAX,
            "pi_min": PI_MIN,
            "pi_max": PI_MAX,
            "batch": BATCH_MAX,
            "simulate": SIMULATE_STEPS_MAX,
        },
    )


NOTICES = {
    "no-engines": "The cluster has no engines at the moment: your job waits, Queued, and runs "
    "when it is back.",
}
"""Notices a submit may leave for the page it redirects to (``?notice=``)."""


class IndexHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        render_index(self, notice=self.notice(NOTICES))


class JobFormHandler(FormHandler):
    """A job form's post, to ``/jobs/<kind>``: the fields of ``kind``'s sample
    (:data:`app.samples.SAMPLES`, which the JSON API shares) checked, its jobs submitted."""

    max_body_bytes = JOB_FORM_MAX_BODY

    @tornado.web.authenticated
    async def post_form(self, kind: str) -> None:
        sample = samples.SAMPLES[kind]
        fields = {name: self.get_body_argument(name, "") for name in sample.fields}
        try:
            await sample.submit(self.application.moi, self.group, fields)
        except forms.FormError as error:
            self.refuse(kind, 400, str(error))
            return
        except QueueFull as error:
            self.refuse(kind, 429, f"{error}.")
            return
        except (ClusterError, *REDIS_DOWN) as error:
            self.log_exception(type(error), error, None)
            self.set_header("Retry-After", str(RETRY_AFTER))
            self.refuse(
                kind,
                503,
                f"{unavailable_service(error)} at the moment: nothing was submitted. "
                "Try again in a moment.",
            )
            return
        waiting = await samples.no_engines(self.application.moi)
        self.redirect("/?notice=no-engines" if waiting else "/", status=303)

    def refuse(self, kind: str, status: int, message: str) -> None:
        """The index again, with the form's message and what was typed in it."""
        self.set_status(status)
        typed = {
            name: value
            for name in self.request.body_arguments
            if name != "_xsrf" and len(value := self.get_body_argument(name)) <= ECHO_MAX
        }  # a flood is not echoed back
        render_index(self, errors={kind: message}, values={kind: typed})


routes = [
    (r"/", IndexHandler),
    (rf"/jobs/({'|'.join(samples.SAMPLES)})", JobFormHandler),
]
