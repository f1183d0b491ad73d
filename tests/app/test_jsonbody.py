"""JSON bodies are read within bounds: whatever is refused is a 400 that names it.

Issue 22's attack, on main at 5663ba5: ``[`` × 3,000 as an API body was a 500 (the
decoder's RecursionError was not caught).
"""

from __future__ import annotations

import json

import pytest

from app import jsonbody
from app.handlers.apibase import API_MAX_BODY
from app.jsonbody import MAX_DEPTH, BodyError
from tests.app.apiclient import Api, make_token

DEEP_LIST = b"[" * 40 + b"]" * 40
DEEP_OBJECT = b'{"a": ' * 40 + b"1" + b"}" * 40

REFUSED = [
    # (body, the field named, words of the message)
    (b"[" * 3000, None, f"nested deeper than {MAX_DEPTH}"),
    (b'{"kind": "hello", "name": ' + DEEP_LIST + b"}", "name", "nested deeper"),
    (b'{"kind": "hello", "name": ' + DEEP_OBJECT + b"}", "name", "nested deeper"),
    (b'{"kind": "countdown", "seconds": 1' + b"0" * 5000 + b"}", "seconds", "5001 digits"),
    (b'{"kind": "countdown", "seconds": 1e999}', "seconds", "1e999, too large"),
    (b'{"kind": "countdown", "seconds": 0.' + b"1" * 200 + b"}", "seconds", "characters long"),
    (b'{"kind": "countdown", "seconds": NaN}', "seconds", "NaN, which is not a number"),
    (b'{"kind": "countdown", "seconds": -Infinity}', "seconds", "-Infinity, which is not"),
    (b'{"kind": "hello", "name": "\xff"}', None, "not UTF-8"),
    (b'{"kind": "hello", "name": "\xed\xa0\x80"}', None, "not UTF-8"),  # a surrogate, encoded
    (b'{"kind": "hello", "name": "\\ud800"}', "name", "lone surrogate"),
    (b'{"kind": "hello", "name": ["x", {"y": "\\udfff"}]}', "name", "lone surrogate"),
    (b'{"kind": "hello", "\\ud800": 1}', None, "A name in the body"),
    (b'{"kind": "hello", "name": "Ann",}', None, "not valid JSON"),
]


@pytest.mark.parametrize(("body", "field", "words"), REFUSED)
def test_a_refused_body_says_what_and_where(body, field, words):
    with pytest.raises(BodyError) as refused:
        jsonbody.parse(body, API_MAX_BODY)
    assert words in str(refused.value)
    assert refused.value.field == field


def test_nesting_up_to_the_bound_is_read():
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert jsonbody.parse(body, API_MAX_BODY) == json.loads(body)
    with pytest.raises(BodyError, match="nested deeper"):
        jsonbody.parse(b"[" + body + b"]", API_MAX_BODY)


def test_brackets_and_quotes_inside_text_do_not_count():
    body = json.dumps({"name": "[" * 100 + '"\\{' * 50}).encode()
    assert jsonbody.parse(body, API_MAX_BODY) == json.loads(body)


def test_ordinary_numbers_and_text_are_read_as_json_reads_them():
    body = '{"a": 12, "b": -1.5e3, "c": "Zoë ✓", "d": [true, null], "e": {"f": 1e300}}'
    assert jsonbody.parse(body.encode(), API_MAX_BODY) == json.loads(body)


def test_a_body_over_the_size_is_refused():
    with pytest.raises(BodyError, match=f"larger than {API_MAX_BODY} bytes"):
        jsonbody.parse(b" " * (API_MAX_BODY + 1), API_MAX_BODY)


@pytest.fixture
def api(server, auth) -> Api:
    return Api(server.url, token=make_token(auth)[0])


@pytest.mark.parametrize(("body", "field", "words"), REFUSED)
def test_the_api_answers_each_with_a_400_naming_it(api, r, body, field, words):
    """Never a 500 (the serving fixture fails a test whose app logged an error)."""
    answer = api.post("/api/jobs", raw=body)
    assert answer.status == 400, answer.text
    assert words in answer.json["error"]
    assert answer.json.get("fields") == ({field: answer.json["error"]} if field else None)
    assert r.keys("*:jobs") == []
