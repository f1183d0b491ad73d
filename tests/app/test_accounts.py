"""Password hashing and username rules (the login flow is tested in test_auth.py)."""

import pytest

from app.accounts import AccountError, check_username, hash_password, password_matches


def test_a_hash_matches_only_its_password():
    record = hash_password("correct horse")
    assert password_matches("correct horse", record)
    assert not password_matches("correct horsE", record)
    assert not password_matches("", record)


def test_hashes_are_salted():
    assert hash_password("same")["hash"] != hash_password("same")["hash"]
    assert hash_password("same", b"s" * 16) == hash_password("same", b"s" * 16)


@pytest.mark.parametrize("record", [{}, {"salt": "!!", "hash": "x", "n": 2, "r": 1, "p": 1}])
def test_a_broken_record_matches_nothing(record):
    assert not password_matches("anything", record)


@pytest.mark.parametrize(
    ("raw", "name"), [("alice", "alice"), (" Alice ", "alice"), ("a-b_c9", "a-b_c9")]
)
def test_usernames_are_stored_trimmed_and_lower_case(raw, name):
    assert check_username(raw) == name


@pytest.mark.parametrize("raw", ["jobs:x", "a" * 40, "ab", "9lives", "no-user", "x y"])
def test_usernames_that_could_clash_are_refused(raw):
    with pytest.raises(AccountError):
        check_username(raw)


def test_a_stored_record_with_absurd_costs_is_refused_without_hashing():
    record = hash_password("a good password")
    assert password_matches("a good password", record) is True
    record["n"] = 2**30  # would take gigabytes and minutes to check
    assert password_matches("a good password", record) is False
