"""The field checkers behind the job forms (their messages are tested through the forms)."""

import pytest

from app.forms import FormError, text, whole_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Ann  ", "Ann"), ("Zoë", "Zoë"), ("<b>", "<b>"), ("x" * 10, "x" * 10)],
)
def test_text_is_trimmed(raw, expected):
    assert text(raw, "Name", max_length=10) == expected


def test_optional_text_may_be_empty():
    assert text("   ", "Message", max_length=5, required=False) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), (" 5 ", 5), ("1,000", 1000), ("1_000", 1000), ("10", 10)],
)
def test_whole_numbers(raw, expected):
    assert whole_number(raw, "N", low=1, high=1000) == expected


@pytest.mark.parametrize("raw", ["٣", "²", "0x10", "+5", "5.0", "1e3", "--5"])
def test_only_plain_digits_count(raw):
    with pytest.raises(FormError, match="must be a whole number"):
        whole_number(raw, "N", low=1, high=1000)
