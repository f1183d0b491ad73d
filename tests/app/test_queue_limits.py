"""``[jobs] max_queued_per_group`` in the demo: a submit past it is refused, with a clear
message, on the page (the form keeps what was typed) and in the API; nothing is stored."""

from __future__ import annotations

import dataclasses

import pytest

from moi import keys
from tests.app.apiclient import Api, make_token
from tests.app.conftest import Client, error_message, group_of, serving


@pytest.fixture
def limited(settings, r, app_settings, caplog, exclusive_dispatch):
    """The demo with room for one waiting job per user, and no one dispatching: jobs wait."""
    ours = dataclasses.replace(settings, max_queued_per_group=1, dispatch=False)
    with serving(ours, app_settings, caplog) as served:
        yield served


def test_the_form_past_the_limit_says_so_and_keeps_what_was_typed(limited, r):
    client = Client(limited.url)
    assert client.register("alice").status == 303
    assert client.post("/jobs/hello", name="first").status == 303
    refused = client.post("/jobs/hello", name="second")
    assert refused.status == 429
    message = error_message(refused.text, "hello-error")
    assert message is not None and "most jobs waiting that it may (1)" in message
    assert 'value="second"' in refused.text
    assert r.scard(keys.group_jobs_key(group_of(r, "alice"))) == 1


def test_the_api_past_the_limit_answers_429_and_stores_nothing(limited, r):
    client = Client(limited.url)
    assert client.register("alice").status == 303
    api = Api(limited.url, token=make_token(client)[0])
    assert api.post("/api/jobs", {"kind": "hello", "name": "first"}).status == 201
    refused = api.post("/api/jobs", {"kind": "batch", "count": 3})
    assert refused.status == 429
    assert "most jobs waiting that it may (1)" in refused.json["error"]
    assert r.scard(keys.group_jobs_key(group_of(r, "alice"))) == 1
