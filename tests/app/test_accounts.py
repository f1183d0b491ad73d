"""Password hashing and username rules (the login flow is tested in test_auth.py)."""

import asyncio

import pytest
import redis.asyncio as aioredis

from app import accounts
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


def test_signing_in_to_an_unknown_name_checks_a_hash_all_the_same(settings, r, monkeypatch):
    """So the time an answer takes does not tell whether the account exists either."""
    checked = []
    real = accounts.password_matches
    monkeypatch.setattr(
        accounts,
        "password_matches",
        lambda word, record: checked.append(record) or real(word, record),
    )

    async def sign_in() -> None:
        client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            with pytest.raises(AccountError, match=r"^Wrong name or password\.$"):
                await accounts.Accounts(client).login("nobody", "a long password", "10.0.0.1")
        finally:
            await client.aclose()

    asyncio.run(sign_in())
    assert [record["kdf"] for record in checked] == ["scrypt"]
    assert not r.exists(accounts.USERS_KEY)
