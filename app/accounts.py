"""Accounts: username rules, and passwords kept only as salted scrypt hashes in Redis.

All accounts live in one Redis hash, ``moi-app:users`` (username → JSON record;
:mod:`app.keys`), and ``HSETNX`` makes "create unless it exists" one atomic step, so two
people registering the same name at once cannot both win.

Hashing is deliberately slow, so it runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
from typing import Any

import redis.asyncio as aioredis
from zxcvbn import zxcvbn

from app.keys import USERS_KEY
from app.retention import Retention
from app.throttle import SignInThrottle

USERNAME_MIN = 3
USERNAME_MAX = 32
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
PASSWORD_SCORE_MIN = 3
"""zxcvbn's score (0 to 4) a new password needs: 3 is "safely unguessable" by its scale."""
GUESS_CHECK_CHARS = 100
"""zxcvbn reads this much of a password (its time grows with length; so does strength)."""
RESERVED = frozenset({"no-user"})
"""moi's own group for jobs submitted without a user."""

# scrypt cost: 16 MiB and some tens of milliseconds per hash (RFC 7914's interactive
# parameters). Stored with each hash, so raising them later keeps old accounts working.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
# Stored records are trusted only this far: costs up to 8 times today's.
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**17, 16, 4

_USERNAME_CHARS = re.compile(r"[a-z0-9_-]+")


WRONG_LOGIN = "Wrong name or password."
"""A refused sign-in, whether or not the name has an account: the words must not tell."""


def group_of(user: str, account_id: str) -> str:
    """The moi group of ``user``'s account ``account_id``: where its jobs are submitted,
    listed and looked up.

    It is the account's ID, never given twice: an account made again under the name of a
    removed one starts with no jobs, and sees none of the old ones. An account made
    before accounts had IDs (``""``) keeps its name as its group, and so its jobs.
    """
    return account_id or user


class AccountError(ValueError):
    """A login was refused; the message is shown on the form as it is."""


def check_username(raw: str) -> str:
    """The username as stored (trimmed, lower case), or :class:`AccountError` saying why not.

    This is the one normal form of a name: sign-in, sign-up and the throttle's counters
    (:mod:`app.throttle`) all compare names only through it. Python's ``str.strip`` and
    ``str.lower`` make it, so Unicode spaces around a name go, and the Kelvin sign
    (U+212A) folds to ``k``: the only character outside ASCII that ``lower`` turns into
    one a name may hold. Only ASCII letters, digits, ``-`` and ``_``: a username is a moi
    group and so part of Redis key names, where a ``:`` could collide with moi's own keys.
    """
    name = raw.strip().lower()
    if not name:
        raise AccountError("Enter a username.")
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise AccountError(
            f"A username is {USERNAME_MIN} to {USERNAME_MAX} characters long "
            f"(this one has {len(name)})."
        )
    if not _USERNAME_CHARS.fullmatch(name):
        raise AccountError("A username may only contain letters a-z, digits, '-' and '_'.")
    if not name[0].isalpha():
        raise AccountError("A username starts with a letter.")
    if name in RESERVED:
        raise AccountError(f"The username {name!r} is reserved; choose another.")
    return name


def check_new_password(password: str, username: str = "") -> None:
    """Refuse a password too short, too long to hash cheaply, or easy to guess.

    Guessability is zxcvbn's estimate (Dropbox's, maintained as the ``zxcvbn`` package):
    it knows the common-password lists, keyboard patterns, dates and the username, which
    a length rule alone does not. Its advice goes on the form.
    """
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"Choose a password of at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"A password is at most {PASSWORD_MAX} characters long.")
    strength = zxcvbn(password[:GUESS_CHECK_CHARS], user_inputs=[username] if username else [])
    if strength["score"] < PASSWORD_SCORE_MIN:
        feedback = strength["feedback"]
        advice = " ".join([feedback["warning"], *feedback["suggestions"]]).strip()
        raise AccountError(
            "This password is too easy to guess. "
            + (advice or "Add another word or two; uncommon words are better.")
        )


def hash_password(password: str, salt: bytes | None = None) -> dict[str, Any]:
    """A record of the password's scrypt hash with a fresh random salt: what gets stored."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(digest).decode(),
    }


def password_matches(password: str, record: dict[str, Any]) -> bool:
    """Whether ``password`` hashes to the stored one, compared in constant time."""
    try:
        salt = base64.b64decode(record["salt"])
        expected = base64.b64decode(record["hash"])
        n, r, p = int(record["n"]), int(record["r"]), int(record["p"])
        if n > MAX_SCRYPT_N or r > MAX_SCRYPT_R or p > MAX_SCRYPT_P:
            return False  # a record that would make one sign-in cost minutes or gigabytes
        digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected))
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(digest, expected)


@functools.cache
def _stand_in() -> dict[str, Any]:
    """A hash of a password nobody knows, checked for a name with no account, so that a
    sign-in to it takes as long as one to an account."""
    return hash_password(secrets.token_urlsafe(32))


def _decode(stored: str | None) -> dict[str, Any]:
    """A stored record, or an empty one (which matches no password) if it is unreadable."""
    try:
        record = json.loads(stored or "")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


class Accounts:
    """The account store, on the application's asyncio Redis client."""

    def __init__(self, client: aioredis.Redis, keep_days: int = 0, unused_days: int = 0) -> None:
        self.client = client
        self.throttle = SignInThrottle(client)
        self.retention = Retention(client, keep_days, unused_days)
        """Which accounts go when: idle ones, and those nobody came back to."""

    async def _signed_in(self, name: str, *, made: bool = False) -> None:
        """Note the sign-in (``made``: the sign-up's), and remove the accounts whose time
        is up (:mod:`app.retention`), in two round trips."""
        now, _ = await self.client.time()
        async with self.client.pipeline(transaction=False) as pipe:
            await self.retention.signed_in(pipe, name, now, made=made)
            await pipe.execute()

    async def account_id(self, name: str) -> str | None:
        """The ID the account got when it was made (a re-made account gets a new one), or
        None if there is no such account. Accounts older than IDs have "".

        Every signed-in request asks (with a session or a token), so this is also where
        a new account's first use after its first hour counts as someone coming back to
        it (:meth:`Retention.came_back`).
        """
        stored = await self.client.hget(USERS_KEY, name)
        if stored is None:
            return None
        record = _decode(stored)
        await self.retention.came_back(name, stored, record)
        return str(record.get("id", ""))

    async def login(
        self, raw_name: str, password: str, address: str = "", device: str = ""
    ) -> tuple[str, str]:
        """Check a sign-in to an existing account.

        An unknown name gets the same words as a wrong password (:data:`WRONG_LOGIN`),
        after the same work (a stand-in hash is checked), and counts against the
        throttle the same way: neither the answer nor its time tells whether the
        account exists. Accounts are made by :meth:`register` only, so a mistyped name
        never makes one. ``address`` is the client's and ``device`` its browser's (the
        device cookie's ID), for throttling (:mod:`app.throttle`).

        :returns: the username as stored, and its account's ID (:meth:`account_id`), which
            the session it opens names.
        :raises AccountError: with a message for the form.
        :raises Throttled: if this username or address must wait before trying again.
        """
        name = check_username(raw_name)  # a malformed name has no account: safe to say why
        if not password:
            raise AccountError("Enter a password.")
        if len(password) > PASSWORD_MAX:
            raise AccountError(f"A password is at most {PASSWORD_MAX} characters long.")
        # Counted before any hashing: a refused guess costs nothing, N at once cost N.
        attempt = await self.throttle.reserve(name, address, device)
        loop = asyncio.get_running_loop()
        stored = await self.client.hget(USERS_KEY, name)
        if stored is None:
            record = await loop.run_in_executor(None, _stand_in)
        else:
            record = _decode(stored)
        matches = await loop.run_in_executor(None, password_matches, password, record)
        if stored is None or not matches:
            raise AccountError(WRONG_LOGIN)
        await self.throttle.succeeded(attempt)
        await self.retention.came_back(name, stored, record, signed_in=True)
        await self._signed_in(name)
        return name, str(record.get("id", ""))

    async def register(
        self, raw_name: str, password: str, confirm: str, address: str = "", device: str = ""
    ) -> tuple[str, str]:
        """Make an account, from the create-account form.

        Every attempt that passes the form's checks counts against the address's cap on
        new accounts (:meth:`SignInThrottle.check_new_account`), a taken name too: this
        form must say that a name is taken, so trying names here is capped as well.

        :returns: the username as stored, and the new account's ID.
        :raises AccountError: with a message for the form.
        :raises Throttled: if this address made too many accounts lately.
        """
        name = check_username(raw_name)
        if password != confirm:
            raise AccountError("The two passwords differ: type the same password twice.")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, check_new_password, password, name)
        await self.throttle.check_new_account(address)
        taken = AccountError(f"The username {name} is taken: choose another, or sign in.")
        if await self.client.hexists(USERS_KEY, name):
            raise taken
        record = await loop.run_in_executor(None, hash_password, password)
        record["id"] = secrets.token_hex(16)
        self.retention.new(record)
        if not await self.client.hsetnx(USERS_KEY, name, json.dumps(record)):
            raise taken  # someone else was quicker
        await self.throttle.account_made(name, address, device)  # earlier guesses: not its owner's
        await self._signed_in(name, made=True)
        return name, record["id"]
