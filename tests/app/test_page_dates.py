"""Dates on the pages as the server writes them: a ``<time class="moment">`` whose
``datetime`` app.js shows as "5 minutes ago" (``tests/browser/test_account.py``), and
whose text, in UTC, reads without JavaScript."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from app.templating import environment, parse_date
from tests.app.apiclient import make_token
from tests.app.test_results import run

MOMENT = re.compile(r'<time datetime="([^"]+)" class="moment">([^<]*)</time>')


def fact(page: str, opening: str) -> str:
    """The inside of the ``<dd>`` whose opening tag has ``opening`` (an id or a class)."""
    found = re.search(rf"<dd {re.escape(opening)}>(.*?)</dd>", page, re.S)
    assert found, f"no <dd {opening}>"
    return found.group(1).strip()


def moment(page: str, opening: str) -> tuple[datetime, str]:
    """The date of the fact's ``<time class="moment">``, and its text."""
    found = MOMENT.fullmatch(fact(page, opening))
    assert found, fact(page, opening)
    stamp = parse_date(found.group(1))
    assert stamp is not None, found.group(1)
    return stamp, html.unescape(found.group(2))


def utc_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_moment_macro_writes_a_time_element_or_what_is_missing():
    template = environment().from_string(
        '{% import "macros.html" as ui %}{{ ui.moment(value, "never") }}'
    )
    assert template.render(value="2026-11-30T18:42:49.5+01:00").strip() == (
        '<time datetime="2026-11-30T17:42:49.500+00:00" class="moment">'
        "2026-11-30 17:42:49 UTC</time>"
    )
    assert template.render(value=None).strip() == "never"
    assert template.render(value="not a date").strip() == "never"


def test_a_job_page_writes_its_dates_as_moments_in_utc(auth):
    info = run(auth, "hello", name="Ann")
    page = auth.get(f"/result/hello/{info['id']}").text
    for element_id, field in (
        ("job-created", "date_created"),
        ("job-started", "date_start"),
        ("job-ended", "date_end"),
    ):
        stamp, text = moment(page, f'id="{element_id}"')
        stored = parse_date(info[field])
        assert abs(stamp - stored) < timedelta(milliseconds=1), element_id
        assert text == utc_text(stored), element_id
    assert "/static/app.js" in page  # which shows them as "5 minutes ago"


def test_the_account_page_writes_its_tokens_dates_as_moments_in_utc(auth):
    before = datetime.now(UTC)
    _, token_id = make_token(auth)
    page = auth.get("/account").text
    card = page.split(f'data-token-id="{token_id}"', 1)[1]

    made, made_text = moment(card, 'class="token-created"')
    assert before - timedelta(seconds=1) < made < datetime.now(UTC) + timedelta(seconds=1)
    assert made_text == utc_text(made)
    assert fact(card, 'class="token-used"') == "never"
    expires, expires_text = moment(card, 'class="token-expires"')
    assert expires - made > timedelta(days=89)  # a moment ahead: app.js says "on <date>"
    assert expires_text == utc_text(expires)
    assert "/static/app.js" in page
