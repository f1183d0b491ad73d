"""Checking what people type into the job forms, with messages they can act on.

Each checker takes the raw text of one field and returns the clean value or raises
:class:`FormError`. Nothing is submitted until every field of a form has passed.
"""

from __future__ import annotations


class FormError(ValueError):
    """A field's value was refused; the message is shown above the form as it is."""


def text(raw: str, label: str, *, max_length: int, required: bool = True) -> str:
    """Trimmed text of at most ``max_length`` characters, and not empty if ``required``."""
    value = raw.strip()
    if required and not value:
        raise FormError(f"{label} is required.")
    if len(value) > max_length:
        raise FormError(
            f"{label} is at most {max_length} characters long (this one has {len(value)})."
        )
    if not value.isprintable():
        raise FormError(f"{label} must be plain text on one line.")
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
