"""Sign-in throttling: growing waits, then a lock, per username and per address."""

from __future__ import annotations

import pytest

from app import throttle
from app.keys import throttle_key
from tests.app.conftest import PASSWORD, Client, error_message


def guesses(client: Client, name: str, count: int) -> list[int]:
    return [client.login(name, f"wrong guess {n}").status for n in range(count)]


def signed_in(client: Client, name: str, password: str) -> int:
    """The sign-in form alone (``Client.login`` would make a missing account): its status."""
    return client.post("/login", username=name, password=password).status


def test_wrong_passwords_are_free_at_first_then_must_wait(server, r):
    owner = Client(server.url)
    assert owner.login("alice").status == 303
    attacker = Client(server.url)
    free = throttle.PER_USERNAME.free
    assert guesses(attacker, "alice", free) == [400] * free
    refused = attacker.login("alice", "one more guess")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    message = error_message(refused.text, "login-error")
    assert message.startswith("Too many sign-in attempts. Try again in ")
    # Even the right password waits: a throttled attempt is not checked at all.
    assert attacker.login("alice", PASSWORD).status == 429
    # The refusal does not tell whether the account exists: a stranger's name, same words.
    for _ in range(free):
        attacker.login("nobody-here", "x")
    assert r.hlen("moi-app:users") == 1  # "x" is too short: no account was made


def test_a_locked_name_stays_locked_for_the_window(server, r):
    assert Client(server.url).login("bob").status == 303
    key = throttle_key("user", "bob")
    r.hset(key, mapping={"failures": throttle.PER_USERNAME.lock_at, "last": 0})
    r.expire(key, 600)
    refused = Client(server.url).login("bob", PASSWORD)
    assert refused.status == 429
    assert 500 <= int(refused.headers["Retry-After"]) <= 600
    assert "Try again in 10 min" in refused.text


def test_a_good_sign_in_starts_the_names_count_again(server, r):
    owner = Client(server.url)
    assert owner.login("carol").status == 303
    guesses(Client(server.url), "carol", throttle.PER_USERNAME.free - 1)
    assert Client(server.url).login("carol").status == 303
    assert not r.exists(throttle_key("user", "carol"))
    assert r.exists(throttle_key("addr", "127.0.0.1"))  # the address's count goes on


def test_new_accounts_per_address_are_capped(server, r, monkeypatch):
    monkeypatch.setattr(throttle, "NEW_ACCOUNTS_PER_ADDRESS", 3)
    made = [Client(server.url).register(f"user{n}").status for n in range(4)]
    assert made == [303, 303, 303, 429]
    assert r.hlen("moi-app:users") == 3


def test_trying_taken_names_counts_against_the_sign_up_cap(server, r, monkeypatch):
    monkeypatch.setattr(throttle, "NEW_ACCOUNTS_PER_ADDRESS", 3)
    assert Client(server.url).register("alice").status == 303
    prober = Client(server.url)
    assert [prober.register("alice").status for _ in range(3)] == [400, 400, 429]
    refused = prober.register("alice")
    assert error_message(refused.text, "signup-error").startswith("Too many sign-ups")


def test_a_guess_at_an_unknown_name_counts_as_a_wrong_password(server, r):
    assert Client(server.url).register("alice").status == 303
    attacker = Client(server.url)
    for name in ("alice", "nobody-here"):
        assert signed_in(attacker, name, "a wrong password") == 400
    counts = [r.hget(throttle_key("user", name), "failures") for name in ("alice", "nobody-here")]
    assert counts == ["1", "1"]
    assert not r.hexists("moi-app:users", "nobody-here")


@pytest.mark.parametrize(
    "seconds, said", [(5, "5 s"), (89, "89 s"), (90, "2 min"), (900, "15 min")]
)
def test_waits_are_said_in_words(seconds, said):
    assert throttle._say(seconds) == said
