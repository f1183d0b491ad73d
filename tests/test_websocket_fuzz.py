"""Whatever a browser sends, the websocket answers: an ``error`` reply, or the action done.

Property-based (hypothesis): arbitrary text, arbitrary bytes (invalid UTF-8 included, as a
binary frame), and JSON of every shape, through the parser alone and through a real
socket of a served hub. Never a traceback, never a 1011 close.
"""

from __future__ import annotations

import asyncio
import json
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moi.messages import CLIENT_ACTIONS, ClientError, parse_client_message
from tests.wsclient import serve

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ACTION_LIKE = st.dictionaries(
    st.sampled_from([*CLIENT_ACTIONS, "cancel", "", "GET"]) | st.text(max_size=8),
    JSON,
    min_size=0,
    max_size=2,
).map(json.dumps)
NESTED = st.integers(min_value=1, max_value=5000).map(lambda depth: "[" * depth + "]" * depth)
MESSAGES = st.text() | st.binary() | ACTION_LIKE | NESTED


@given(MESSAGES)
@settings(max_examples=2000, deadline=None)
def test_the_parser_returns_an_action_or_a_client_error(message):
    try:
        name, value = parse_client_message(message)
    except ClientError as error:
        assert str(error)
        return
    assert name in CLIENT_ACTIONS
    assert value is None or (value and all(isinstance(job_id, str) for job_id in value))


@given(st.lists(MESSAGES, min_size=1, max_size=20))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_message_gets_an_answer_and_the_socket_stays_open(r, settings, caplog, messages):
    caplog.set_level(logging.WARNING)
    caplog.clear()
    asyncio.run(_answered(settings.redis_url, messages))
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]


async def _answered(redis_url: str, messages: list) -> None:
    async with serve(redis_url) as served:
        client = await served.connect("fuzz")
        assert await client.next() == {"add": []}
        for message in messages:
            await client.conn.write_message(message, binary=isinstance(message, bytes))
            reply = await client.next()
            assert set(reply) in ({"error"}, {"add"}), (message, reply)
        await client.send({"get": None})  # still open, still answering
        assert await client.next() == {"add": []}
        client.close()
