"""Whatever a browser sends, the websocket answers: an ``error`` reply, or the action done.

Property-based (hypothesis): arbitrary text, arbitrary bytes (invalid UTF-8 included, as a
binary frame), and JSON of every shape, through the parser alone and through a real
socket of a served hub. Never a traceback, never a 1011 close.

The JSON's strings hold any code point the JSON decoder can produce, lone surrogates
included (``"\\ud800"`` decodes to one, and UTF-8 cannot encode it); a text frame holds
only what UTF-8 can carry, as on the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moi.keys import is_job_id
from moi.messages import CLIENT_ACTIONS, ID_ACTIONS, ClientError, parse_client_message
from tests.wsclient import serve

ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()) | (
    st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)  # not merged into the above
)
"""Every code point, surrogates too: what ``json.loads`` can make of ``\\uXXXX`` escapes.
The surrogates, 2,048 of 1.1 million and the ones UTF-8 cannot encode, are drawn half the
time (a union of two ``characters`` would be merged into one, and draw them seldom)."""
ANY_TEXT = st.text(ANY_CHAR)
IDS = st.uuids(version=4).map(str) | ANY_TEXT
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(ANY_CHAR, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ACTION_LIKE = st.dictionaries(
    st.sampled_from([*CLIENT_ACTIONS, "cancel", "", "GET"]) | st.text(ANY_CHAR, max_size=8),
    JSON,
    min_size=0,
    max_size=2,
).map(json.dumps)
ID_ACTION = st.builds(
    lambda name, ids: json.dumps({name: ids}),
    st.sampled_from(ID_ACTIONS),
    IDS | st.lists(IDS, min_size=1, max_size=4),
)
NESTED = st.integers(min_value=1, max_value=5000).map(lambda depth: "[" * depth + "]" * depth)
MESSAGES = st.text() | st.binary() | ACTION_LIKE | ID_ACTION | NESTED


@given(MESSAGES)
@settings(max_examples=2000, deadline=None)
def test_the_parser_returns_an_action_or_a_client_error(message):
    try:
        name, value = parse_client_message(message)
    except ClientError as error:
        assert str(error)
        return
    assert name in CLIENT_ACTIONS
    assert value is None or (value and all(is_job_id(job_id) for job_id in value))


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
