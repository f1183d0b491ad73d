"""JSON request bodies, read within bounds: size, nesting, numbers and text.

Python's :func:`json.loads` reads whatever it is given. ``[`` nested 3,000 deep raised
:class:`RecursionError` (a 500); a number of 5,000 digits raises a ValueError about
Python's int conversion; ``NaN``, ``1e999`` (read as infinity) and lone surrogates
(``"\\ud800"``, which no UTF-8 store can keep) all pass. :func:`parse` refuses each with
a :class:`BodyError` that says what is wrong and, when the problem lies inside one
field's value, names the field (the body's top-level key); the API answers it with a 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32
"""Arrays and objects nested deeper than this are refused before the body is parsed."""
MAX_NUMBER_CHARS = 100
"""A number written longer than this is refused (Python would read 4,300 digits)."""


class BodyError(ValueError):
    """A body refused: ``message`` for people, ``field`` the top-level key at fault, or
    None when the body as a whole is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class _Refused:
    """A value the decoder read but the API refuses, so the walk can name its field."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def parse(body: bytes, max_bytes: int) -> Any:
    """The JSON value of ``body``, or :class:`BodyError` saying why not.

    Refused: a body over ``max_bytes``; one that is not UTF-8; nesting deeper than
    :data:`MAX_DEPTH`; ``NaN`` and ``Infinity``; numbers too long or too large for a
    float; lone surrogates in any text (keys too); and anything that is not JSON.
    """
    if len(body) > max_bytes:
        raise BodyError(f"The body is larger than {max_bytes} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyError(f"The body is not UTF-8 text (byte {error.start} is not).") from None
    too_deep = _too_deep(text)
    if too_deep is not None:
        raise BodyError(
            f"The body is nested deeper than {MAX_DEPTH} arrays or objects.", too_deep or None
        )
    try:
        value = json.loads(
            text, parse_constant=_constant, parse_int=_integer, parse_float=_fraction
        )
    except (ValueError, RecursionError) as error:
        raise BodyError(f"The body is not valid JSON: {error}.") from None
    if isinstance(value, dict):
        for key, item in value.items():
            field = key if _clean(key) else None
            if field is None:
                raise BodyError("A name in the body is not valid text (a lone surrogate).")
            _check(item, field)
    else:
        _check(value, None)
    return value


def _too_deep(text: str) -> str | None:
    """None if ``text`` nests at most :data:`MAX_DEPTH` deep; else the top-level key under
    which it goes deeper ("" if there is none to name). Strings are skipped, so brackets
    inside them do not count."""
    depth = 0
    in_string = escaped = False
    start = 0
    key = ""
    top_is_object = text.lstrip().startswith("{")
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1 and top_is_object:
                    key = text[start : index + 1]  # the last one before a value is its key
        elif char == '"':
            in_string, start = True, index
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _key_name(key)
        elif char in "]}":
            depth -= 1
    return None


def _key_name(quoted: str) -> str:
    try:
        name = json.loads(quoted) if quoted else ""
    except ValueError:
        return ""
    return name if isinstance(name, str) and _clean(name) else ""


def _check(value: Any, field: str | None) -> None:
    """Raise :class:`BodyError` for the first refused number or text in ``value``."""
    if isinstance(value, _Refused):
        raise BodyError(f"{_where(field)}{value.reason}.", field)
    if isinstance(value, str):
        if not _clean(value):
            raise BodyError(f"{_where(field)}text that is not valid (a lone surrogate).", field)
    elif isinstance(value, list):
        for item in value:
            _check(item, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, field)
            _check(item, field)


def _where(field: str | None) -> str:
    return f"The field '{field}' holds " if field is not None else "The body holds "


def _clean(text: str) -> bool:
    """Whether ``text`` is valid Unicode text (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _constant(literal: str) -> _Refused:
    return _Refused(f"{literal}, which is not a number JSON allows")


def _integer(literal: str) -> int | _Refused:
    if len(literal) > MAX_NUMBER_CHARS:
        return _Refused(f"a number of {len(literal)} digits (at most {MAX_NUMBER_CHARS})")
    return int(literal)


def _fraction(literal: str) -> float | _Refused:
    if len(literal) > MAX_NUMBER_CHARS:
        return _Refused(f"a number {len(literal)} characters long (at most {MAX_NUMBER_CHARS})")
    number = float(literal)
    if not math.isfinite(number):
        return _Refused(f"the number {literal}, too large")
    return number
