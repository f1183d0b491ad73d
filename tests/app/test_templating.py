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
    run_time,
    status_slug,
    thousands,
    traceback_parts,
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
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:30:00.004+00:00", "<0.01 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:30:04.210+00:00", "4.2 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:30:12.340+00:00", "12 s"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T09:32:05+00:00", "2:05"),
        ("2024-05-01T09:30:00+00:00", "2024-05-01T11:45:00+00:00", "2:15:00"),
        (None, None, "—"),
    ],
)
def test_duration(start, end, shown):
    assert duration({"date_start": start, "date_end": end}) == shown


def test_duration_of_a_running_job_counts_to_now():
    now = datetime(2024, 5, 1, 9, 30, 3, tzinfo=UTC)
    # Whole seconds, as the page's own clock then ticks it on ("3 s", never "3.00 s").
    assert duration({"date_start": "2024-05-01T09:30:00+00:00"}, now=now) == "3 s"


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
            "2.5 s",
        ),
        # Cancelled before it started: it waited until it ended.
        (
            {"date_created": "2024-05-01T09:30:00+00:00", "date_end": "2024-05-01T09:31:00+00:00"},
            "1:00",
        ),
        ({"date_created": "2024-05-01T09:30:00+00:00"}, "5 s"),  # still waiting
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


MOI_FRAME = '  File "/srv/venv/lib/site-packages/moi/jobprocess.py", line 148, in _call\n'
MOI_CODE = "    value = func(*args, status_update=status_update)\n            ^^^^^^^^^^\n"
USER_FRAME = '  File "/srv/mysite/jobs.py", line 9, in fail\n    raise ValueError("no")\n'


def test_traceback_parts_fold_moi_frames_and_keep_the_rest_in_order():
    text = (
        "Traceback (most recent call last):\n"
        + MOI_FRAME
        + MOI_CODE
        + MOI_FRAME.replace("jobprocess", "engine/runner")
        + USER_FRAME
        + "ValueError: no\n"
    )
    parts = traceback_parts(text)
    assert parts == [
        (False, "Traceback (most recent call last):\n"),
        (True, MOI_FRAME + MOI_CODE + MOI_FRAME.replace("jobprocess", "engine/runner")),
        (False, USER_FRAME + "ValueError: no\n"),
    ]
    assert "".join(part for _, part in parts) == text


@pytest.mark.parametrize(
    "text",
    [
        "ValueError: no\n",
        "",
        '  File "/srv/moist/jobs.py", line 1, in f\n    x\n',  # not a moi/ folder
        '  File "/srv/moi.py", line 1, in f\n',
    ],
)
def test_traceback_parts_without_moi_frames_are_the_text(text):
    assert traceback_parts(text) == ([(False, text)] if text else [])


@pytest.mark.parametrize(
    ("seconds", "live", "shown"),
    [  # tests/browser/test_moi_list_js.py's table for moi.JobList.formatDuration
        (-3, False, "<0.01 s"),
        (0.004, False, "<0.01 s"),
        (0.034, False, "0.03 s"),
        (4.21, False, "4.2 s"),
        (42.7, False, "42 s"),
        (65, False, "1:05"),
        (3723.4, False, "1:02:03"),
        (0.4, True, "0 s"),
        (5.9, True, "5 s"),
        (65.2, True, "1:05"),
    ],
)
def test_run_time_is_written_as_the_live_list_writes_it(seconds, live, shown):
    assert run_time(seconds, live) == shown
