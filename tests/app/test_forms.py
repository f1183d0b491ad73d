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


def test_multiline_text_keeps_its_lines_as_newlines():
    raw = "  first line\r\n\tsecond\rthird  "
    assert text(raw, "Notes", max_length=100, multiline=True) == "first line\n\tsecond\nthird"


@pytest.mark.parametrize("raw", ["a\x00b", "bell\x07", "a\nb\x1bc"])
def test_multiline_text_refuses_other_control_characters(raw):
    with pytest.raises(FormError, match="Notes must be plain text."):
        text(raw, "Notes", max_length=100, multiline=True)


def test_one_line_text_still_refuses_line_breaks():
    with pytest.raises(FormError, match="on one line"):
        text("two\nlines", "Name", max_length=100)
