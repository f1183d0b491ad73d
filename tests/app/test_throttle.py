"""Sign-in throttling: counted before the password is checked, growing waits, then a lock;
per (name, address), per address, and per name for clients it does not know."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence

import pytest

from app import accounts, throttle
from app.keys import throttle_key
from tests.app.conftest import PASSWORD, Client, error_message, serving

HOME = "203.0.113.7"
"""The owner's own address, behind the proxy."""
PROXY = ("127.0.0.1/32",)
"""``[app] trusted_proxies`` for a test that says its clients' addresses in X-Forwarded-For."""
VARIANTS = ["kate", "Kate", " KATE ", "\u212aate", "kate\t"]
"""One name: "\u212a" is the Kelvin sign, which folds to "k"."""


def guesses(client: Client, name: str, count: int) -> list[int]:
    return [client.login(name, f"wrong guess {n}").status for n in range(count)]


def signed_in(client: Client, name: str, password: str) -> int:
    """The sign-in form alone (``Client.login`` would make a missing account): its status."""
    return client.post("/login", username=name, password=password).status


def test_wrong_passwords_are_free_at_first_then_must_wait(server, r):
    owner = Client(server.url)
    assert owner.login("alice").status == 303
    attacker = Client(server.url)  # a new browser at alice's address: (name, address) counts
    free = throttle.PER_NAME_AND_ADDRESS.free
    assert guesses(attacker, "alice", free) == [400] * free
    refused = attacker.login("alice", "one more guess")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    message = error_message(refused.text, "login-error")
    assert message.startswith("Too many sign-in attempts. Try again in ")
    # Even the right password waits: a throttled attempt is not checked at all.
    assert attacker.login("alice", PASSWORD).status == 429
    # A stranger's name is free as often, and counted the same (its refusal: below).
    stranger = [signed_in(attacker, "nobody-here", f"guess {n}") for n in range(free)]
    assert stranger == [400] * free
    assert r.hget(throttle_key("user", "nobody-here"), "attempts") == str(free)
    assert r.hlen("moi-app:users") == 1  # no account was made


@pytest.mark.parametrize("name", ["bob", "nobody-here"], ids=["account", "no-account"])
def test_a_locked_name_stays_locked_for_the_window(server, r, name):
    """The refusal does not tell whether the account exists: the same for a stranger's name."""
    assert Client(server.url).register("bob").status == 303
    key = throttle_key("pair", f"{name}@127.0.0.1")
    r.hset(key, mapping={"attempts": throttle.PER_NAME_AND_ADDRESS.lock_at, "last": 0})
    r.expire(key, 600)
    refused = Client(server.url).login(name, PASSWORD)
    assert refused.status == 429
    assert 500 <= int(refused.headers["Retry-After"]) <= 600
    assert error_message(refused.text, "login-error") == (
        "Too many sign-in attempts. Try again in 10 min."
    )
    assert r.hlen("moi-app:users") == 1  # no account was made for the stranger


def test_a_good_sign_in_starts_the_names_count_again(server, r):
    owner = Client(server.url)
    assert owner.login("carol").status == 303
    guesses(Client(server.url), "carol", throttle.PER_NAME_AND_ADDRESS.free - 1)
    assert r.exists(throttle_key("pair", "carol@127.0.0.1"))
    assert Client(server.url).login("carol").status == 303
    assert not r.exists(throttle_key("pair", "carol@127.0.0.1"))
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
    counts = [
        r.hget(throttle_key("pair", f"{name}@127.0.0.1"), "attempts")
        for name in ("alice", "nobody-here")
    ]
    assert counts == ["1", "1"]
    assert not r.hexists("moi-app:users", "nobody-here")


@pytest.mark.parametrize(
    "seconds, said", [(5, "5 s"), (89, "89 s"), (90, "2 min"), (900, "15 min")]
)
def test_waits_are_said_in_words(seconds, said):
    assert throttle._say(seconds) == said


def test_every_variant_of_a_name_counts_as_the_name(server, r):
    """Case, spaces and the Kelvin sign: one normal form (``accounts.check_username``)."""
    attacker = Client(server.url)
    assert [signed_in(attacker, name, "a wrong password") for name in VARIANTS] == [400] * 5
    assert [key for key in r.scan_iter(throttle_key("pair", "*"))] == [
        throttle_key("pair", "kate@127.0.0.1")
    ]
    assert r.hget(throttle_key("pair", "kate@127.0.0.1"), "attempts") == "5"


@pytest.mark.parametrize(
    ("seconds", "most"), [(0, 5), (29.9, 5), (30, 6), (90, 7), (24 * 3600, 20)]
)
def test_a_rule_lets_through_its_free_attempts_then_one_a_doubling_delay(seconds, most):
    assert throttle.PER_NAME_AND_ADDRESS.most_within(seconds) == most


def xff(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def post_sign_in(client: Client, xsrf: str, name: str, password: str, address: str) -> int:
    """The sign-in form, from ``address`` (said to a proxied app): its status."""
    fields = {"username": name, "password": password, "_xsrf": xsrf}
    request = urllib.request.Request(
        client.base_url + "/login", urllib.parse.urlencode(fields).encode(), headers=xff(address)
    )
    return client.request_object(request).status


class HeldChecks:
    """``app.accounts.password_matches``, counted, and each held until :meth:`release`: the
    guesses that got past the throttle are all still being checked when the next comes."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        real = accounts.password_matches

        def held(password: str, record: dict) -> bool:
            with self._lock:
                self.count += 1
            self._released.wait(60)
            return real(password, record)

        monkeypatch.setattr(accounts, "password_matches", held)

    def release(self) -> None:
        self._released.set()


def first_done(futures: Sequence[concurrent.futures.Future], count: int) -> list[int]:
    """The results of the first ``count`` of ``futures`` to finish."""
    done: list[int] = []
    for future in concurrent.futures.as_completed(futures, timeout=50):
        done.append(future.result())
        if len(done) == count:
            break
    return done


@pytest.mark.parametrize(
    ("trusted", "spread", "rule", "counter"),
    [
        pytest.param(PROXY, 1, "PER_NAME_AND_ADDRESS", "pair:alice@10.22.0.1", id="one-address"),
        pytest.param(PROXY, 400, "PER_NAME", "user:alice", id="400-addresses"),
        pytest.param((), 400, "PER_NAME_AND_ADDRESS", "pair:alice@127.0.0.1", id="direct-xff"),
    ],
)
def test_400_concurrent_sign_ins_check_no_more_passwords_than_the_limit(
    settings, r, app_settings, caplog, monkeypatch, trusted, spread, rule, counter
):
    """Issue 22: 400 concurrent sign-ins (200 threads) at one account had 200 passwords
    checked and the right one accepted: the check ran before the hash and the failure
    was counted after it, so a burst passed the check together.

    Now each attempt is counted before its password is checked. 399 wrong guesses at once
    (from one address; from 400 behind the proxy; or from one rotating X-Forwarded-For
    on a direct connection, which is ignored) get just the rule's free attempts checked,
    and the right password, sent while those are still being checked, is refused.
    """
    limit: throttle.Rule = getattr(throttle, rule)
    refused = 399 - limit.free
    served_settings = dataclasses.replace(app_settings, trusted_proxies=trusted)
    with serving(settings, served_settings, caplog) as served:
        assert Client(served.url, headers=xff(HOME)).register("alice").status == 303
        attacker = Client(served.url)
        xsrf = attacker.xsrf()

        def sign_in(n: int, password: str) -> int:
            address = f"10.22.{n % spread // 250}.{n % spread % 250 + 1}"
            return post_sign_in(attacker, xsrf, "alice", password, address)

        checks = HeldChecks(monkeypatch)
        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            try:
                started = time.monotonic()
                burst = [pool.submit(sign_in, n, f"wrong guess {n}") for n in range(399)]
                first = first_done(burst, refused)  # all but the checked ones: refused
                right = sign_in(399, PASSWORD)
                elapsed = time.monotonic() - started
            finally:
                checks.release()
            statuses = [future.result(timeout=60) for future in burst]
    assert elapsed < limit.first_delay, f"a burst of {elapsed:.1f} s is too slow to tell"
    assert first == [429] * refused
    assert right == 429
    assert sorted(statuses) == [400] * limit.free + [429] * refused
    assert checks.count == limit.free <= limit.most_within(elapsed)
    assert r.hget(throttle_key(*counter.split(":")), "attempts") == str(limit.free)


@pytest.fixture
def proxied(settings, r, app_settings, caplog):
    """The app behind a proxy at 127.0.0.1: a client's address is its X-Forwarded-For."""
    with serving(settings, dataclasses.replace(app_settings, trusted_proxies=PROXY), caplog) as s:
        yield s


def wrong_sign_ins_at_once(url: str, addresses: list[str]) -> list[int]:
    """A wrong sign-in at ``kate`` from each of ``addresses``, all at once, the name
    spelled each way of :data:`VARIANTS` in turn: their statuses, sorted."""
    attacker = Client(url)
    xsrf = attacker.xsrf()
    with concurrent.futures.ThreadPoolExecutor(len(addresses)) as pool:
        statuses = pool.map(
            lambda n: post_sign_in(
                attacker, xsrf, VARIANTS[n % len(VARIANTS)], f"guess {n}", addresses[n]
            ),
            range(len(addresses)),
        )
        return sorted(statuses)


@pytest.mark.parametrize(
    ("spread", "rule", "stranger"),
    [
        pytest.param(1, "PER_NAME_AND_ADDRESS", 303, id="from-one-address"),
        pytest.param(25, "PER_NAME", 429, id="from-25-addresses"),
    ],
)
def test_25_concurrent_wrong_sign_ins_do_not_keep_the_owner_out(proxied, r, spread, rule, stranger):
    """Issue 22: 25 concurrent wrong sign-ins for a victim's name locked the victim's right
    password out with 429 for 15 minutes, for every case/space variant of the name.

    Now the owner still gets in: from their known browser (its device cookie), wherever
    it is, and from their own address in a new browser. Spread over 25 addresses the
    guesses slow the name down for everyone else (a stranger's right password waits);
    from one address they only throttle that address's attempts at it.
    """
    limit: throttle.Rule = getattr(throttle, rule)
    owner = Client(proxied.url, headers=xff(HOME))
    assert owner.register("kate").status == 303
    assert owner.post("/logout").status == 303

    addresses = [f"198.51.100.{n % spread + 1}" for n in range(25)]
    statuses = wrong_sign_ins_at_once(proxied.url, addresses)
    assert statuses == [400] * limit.free + [429] * (25 - limit.free)
    assert r.hget(throttle_key("user", "kate"), "attempts") == str(limit.free)
    counted_names = {
        key.split(":")[3].split("@")[0] for key in r.scan_iter(throttle_key("pair", "*"))
    }
    assert counted_names == {"kate"}  # every variant of the name counted as the name

    owner.headers = xff("192.0.2.50")  # the owner's browser, somewhere else
    assert signed_in(owner, "Kate", PASSWORD) == 303
    at_home = Client(proxied.url, headers=xff(HOME))  # a new browser at the owner's address
    assert signed_in(at_home, " KATE ", PASSWORD) == 303
    elsewhere = Client(proxied.url, headers=xff("192.0.2.99"))
    assert signed_in(elsewhere, "kate", PASSWORD) == stranger
    guesser = Client(proxied.url, headers=xff(addresses[0]))
    assert signed_in(guesser, "kate", PASSWORD) == 429  # the guessing address waits


def test_25_concurrent_wrong_sign_ins_from_the_owners_address_leave_their_browser_in(server, r):
    """Issue 22's 25 concurrent wrong sign-ins, from the owner's own address (here, every
    client's: no proxy): that address waits, the owner's known browser does not."""
    owner = Client(server.url)
    assert owner.register("kate").status == 303
    assert owner.post("/logout").status == 303
    free = throttle.PER_NAME_AND_ADDRESS.free
    statuses = wrong_sign_ins_at_once(server.url, ["127.0.0.1"] * 25)
    assert statuses == [400] * free + [429] * (25 - free)
    assert signed_in(Client(server.url), "kate", PASSWORD) == 429
    assert signed_in(owner, "Kate", PASSWORD) == 303
