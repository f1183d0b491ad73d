"""Checking what people type into the job forms, with messages they can act on.

Each checker takes the raw text of one field and returns the clean value or raises
:class:`FormError`. Nothing is submitted until every field of a form has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Value = TypeVar("Value")


class FormError(ValueError):
    """A field's value was refused; the message is shown above the form as it is."""


class FieldError(FormError):
    """A :class:`FormError` that names its field, so the JSON API can say which it was."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.field = name


def field(
    fields: Mapping[str, str],
    name: str,
    check: Callable[..., Value],
    *args: Any,
    **kwargs: Any,
) -> Value:
    """``check(fields[name], *args, **kwargs)`` (a missing field is empty text); its
    :class:`FormError` comes out as a :class:`FieldError` naming ``name``."""
    try:
        return check(fields.get(name, ""), *args, **kwargs)
    except FormError as error:
        raise FieldError(name, str(error)) from None


def text(
    raw: str, label: str, *, max_length: int, required: bool = True, multiline: bool = False
) -> str:
    """Trimmed text of at most ``max_length`` characters, and not empty if ``required``.

    One line, unless ``multiline`` (a ``<textarea>``): then line breaks are kept, as
    ``\n`` whatever the browser sent, and tabs too; other control characters never are.
    """
    value = raw.strip()
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if required and not value:
        raise FormError(f"{label} is required.")
    if len(value) > max_length:
        raise FormError(
            f"{label} is at most {max_length} characters long (this one has {len(value)})."
        )
    if not multiline and not value.isprintable():
        raise FormError(f"{label} must be plain text on one line.")
    if multiline and not all(line.replace("\t", " ").isprintable() for line in value.split("\n")):
        raise FormError(f"{label} must be plain text.")
    return value


def whole_number(raw: str, label: str, *, low: int, high: int) -> int:
    """An integer from ``low`` to ``high``; thousands separators (``1,000``) are allowed."""
    value = raw.strip().replace(",", "").replace("_", "")
    if not value:
        raise FormError(f"{label} is required.")
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise FormError(f"{label} must be a whole number from {low:,} to {high:,}.")
    if len(digits) > 15:
        raise FormError(f"{label} must be from {low:,} to {high:,}.")
    number = int(value)
    if not low <= number <= high:
        raise FormError(f"{label} must be from {low:,} to {high:,} (you asked for {number:,}).")
    return number
