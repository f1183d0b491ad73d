"""The filters that turn info objects into text on the pages."""

from datetime import UTC, datetime

import pytest

from app.templating import (
    as_text,
    duration,
    environment,
    iso,
    percent,
    queued_time,
    status_slug,
    thousands,
    when,
)


def test_autoescape_is_on():
    template = environment().from_string("{{ value }}")
    assert template.render(value="<b>") == "&lt;b&gt;"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-05-01T09:30:12.345+00:00", "2024-05-01 09:30:12 UTC"),
        ("2024-05-01T11:30:12+02:00", "2024-05-01 09:30:12 UTC"),
        ("2024-05-01T09:30:12", "2024-05-01 09:30:12 UTC"),
        (None, "—"),
        ("soon", "—"),
        (42, "—"),
    ],
)
def test_when(value, shown):
    assert when(value) == shown


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:30:00.250+00:00", "0.25 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:30:12.340+00:00", "12.3 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:32:05+00:00", "2 min 5 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T11:45:00+00:00", "2 h 15 min"),
        (None, None, "—"),
    ],
)
def test_duration(start, end, shown):
    assert duration({"date_start": start, "date_end": end}) == shown


def test_duration_of_a_running_job_counts_to_now():
    now = datetime(2024, 5, 1, 9, 30, 3, tzinfo=UTC)
    assert duration({"date_start": "2024-05-01T09:30:00+00:00"}, now=now) == "3.00 s"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-05-01T09:30:12.345678+00:00", "2024-05-01T09:30:12.345+00:00"),
        ("2024-05-01T11:30:12+02:00", "2024-05-01T09:30:12.000+00:00"),
        ("2024-05-01T09:30:12", "2024-05-01T09:30:12.000+00:00"),
        (None, ""),
        ("soon", ""),
    ],
)
def test_iso_is_a_valid_datetime_attribute(value, shown):
    assert iso(value) == shown


@pytest.mark.parametrize(
    ("info", "shown"),
    [
        (
            {
                "date_created": "2024-05-01T09:30:00+00:00",
                "date_start": "2024-05-01T09:30:02.5+00:00",
            },
            "2.50 s",
        ),
        # Cancelled before it started: it waited until it ended.
        (
            {"date_created": "2024-05-01T09:30:00+00:00", "date_end": "2024-05-01T09:31:00+00:00"},
            "1 min 0 s",
        ),
        ({"date_created": "2024-05-01T09:30:00+00:00"}, "5.00 s"),  # still waiting
        ({}, "—"),
    ],
)
def test_queued_time(info, shown):
    assert queued_time(info, now=datetime(2024, 5, 1, 9, 30, 5, tzinfo=UTC)) == shown


@pytest.mark.parametrize(
    ("status", "slug"), [("Success", "success"), ("Running 50%", "running-50-"), ("", "unknown")]
)
def test_status_slug_matches_moi_list_js(status, slug):
    assert status_slug(status) == slug


def test_as_text():
    assert as_text("Hello") == "Hello"
    assert as_text({"a": [1, 2]}) == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert as_text(None) == "null"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.424, "42%"), (1, "100%"), (2, "100%"), (None, ""), (True, ""), ("x", "")],
)
def test_percent(value, shown):
    assert percent(value) == shown


def test_thousands():
    assert thousands(2_000_000) == "2,000,000"


def job_form(**options) -> str:
    """The job forms' macro, rendered alone with ``options``."""
    env = environment()
    env.globals["xsrf_form_html"] = lambda: ""
    macro = env.from_string(
        '{% from "jobs/form.html" import job_form with context %}'
        '{{ job_form("notes", "Notes", "About", "text", "Text", **options) }}'
    )
    return macro.render(options=options, errors={}, values={"notes": {"text": "a\n<b>"}})


def test_a_multiline_job_field_is_a_textarea_keeping_what_was_typed():
    page = job_form(multiline=True, maxlength=500)
    assert '<textarea id="notes-text" name="text" rows="4" maxlength="500">' in page
    assert ">a\n&lt;b&gt;</textarea>" in page
    assert "<input" not in page


def test_a_one_line_job_field_is_an_input():
    assert '<input id="notes-text" name="text" value="a\n&lt;b&gt;"' in job_form()
