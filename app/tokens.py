"""Per-user API tokens: made and revoked on the account page, sent as ``Authorization: Bearer``.

A token is 32 random bytes, URL-safe base64 (43 characters), shown to its owner once.
Redis holds only its SHA-256:

- ``moi-app:token:<sha-256 hex>``: JSON ``{"id", "user", "account_id", "name", "created",
  "last_used", "expires"}``, the token's record, found from the token itself in one GET;
  Redis deletes it by itself when the token expires (``[app] token_days`` after it was
  made, 90 by default);
- ``moi-app:tokens:<user>``: a hash, each token ID of the user → its SHA-256, for the
  account page's list and for revoking by ID.

Why a plain SHA-256 and not a password hash such as scrypt: a password is guessable, so
its hash must be slow and salted. A token is 256 random bits: no list of likely tokens
exists, and trying 2**256 of them is out of reach however fast the hash, so a salt or a
slow hash adds nothing. A fast, unsalted hash is what lets a request be checked with one
GET by digest and no CPU to speak of. Whoever reads Redis learns digests, which are no
use as tokens.

Like a session (:mod:`app.sessions`), a token names the ID of the account it was made
for: when that account is removed, or removed and made again by someone else under the
same name, the ID no longer matches, the token is refused, and its records are deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from app import forms
from app.accounts import Accounts
from app.keys import token_key, user_tokens_key
from moi import record
from moi.durations import parse_date

TOKENS_MAX = 20
"""Tokens one user may hold at once."""
NAME_MAX = 60
TOKEN_CHARS_MAX = 128
"""A longer Bearer value is no token of ours: refused before it is hashed."""
LAST_USED_STEP = timedelta(minutes=1)
"""A token's last use is written at most this often, so a busy client costs one write a
minute rather than one a request."""

_TOKEN_ID = re.compile(r"[0-9a-f]{16}")


class TokenError(ValueError):
    """A token could not be made; the message is shown on the form as it is. ``field``
    names the field at fault (the name), or is None when none is (too many tokens)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex (see the module's docstring)."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_token_id(text: object) -> bool:
    """Whether ``text`` looks like a token's ID (16 hex digits): checked before any lookup."""
    return isinstance(text, str) and _TOKEN_ID.fullmatch(text) is not None


@dataclasses.dataclass(frozen=True)
class Token:
    """A token's record: what the account page lists and the API shows. Never the token."""

    id: str
    user: str
    account_id: str
    name: str
    created: str
    """ISO 8601, UTC, as moi writes a job's dates."""
    last_used: str | None = None
    """The same, to the minute (:data:`LAST_USED_STEP`); None if never used."""
    expires: str | None = None
    """When it stops working, the same way; None: when it is revoked."""

    def public(self) -> dict[str, Any]:
        """The record as the API shows it to its owner."""
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "last_used": self.last_used,
            "expires": self.expires,
        }

    def expired(self, now: datetime) -> bool:
        """Whether it has stopped working by ``now`` (an unreadable date counts as past)."""
        if self.expires is None:
            return False
        ends = parse_date(self.expires)
        return ends is None or ends <= now


def _decode(raw: str | None) -> Token | None:
    try:
        record = json.loads(raw) if raw else None
        if not isinstance(record, dict):
            return None
        return Token(
            id=str(record["id"]),
            user=str(record["user"]),
            account_id=str(record["account_id"]),
            name=str(record["name"]),
            created=str(record["created"]),
            last_used=record.get("last_used"),
            expires=record.get("expires"),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _encode(token: Token) -> str:
    return json.dumps(dataclasses.asdict(token))


class Tokens:
    """The token store, on the application's asyncio Redis client."""

    def __init__(self, client: aioredis.Redis, accounts: Accounts, days: int = 0) -> None:
        self.client = client
        self.accounts = accounts
        self.days = days
        """Days a new token works; 0: until it is revoked. A token made before tokens
        expired is taken to have been made with this many days."""

    def _dated(self, token: Token) -> Token:
        """``token`` with its expiry: a record from before tokens expired has none stored."""
        if token.expires is not None or not self.days:
            return token
        made = parse_date(token.created) or datetime.now(UTC)
        return dataclasses.replace(token, expires=(made + timedelta(days=self.days)).isoformat())

    async def create(self, user: str, account_id: str, raw_name: str) -> tuple[Token, str]:
        """A new token of ``user``'s account ``account_id`` (the one the request is signed
        in to, checked as it began: not read again), named ``raw_name``.

        :returns: its record, and the token itself: the only time it is ever seen.
        :raises TokenError: for a bad name, or too many tokens.
        """
        try:
            name = forms.text(raw_name, "A token's name", max_length=NAME_MAX)
        except forms.FormError as error:
            raise TokenError(str(error), "name") from None
        if len(await self.for_user(user, account_id)) >= TOKENS_MAX:  # also drops stale ones
            raise TokenError(
                f"You have {TOKENS_MAX} tokens, as many as an account may hold: "
                "revoke one you no longer use first."
            )
        secret = secrets.token_urlsafe(32)
        token = self._dated(
            Token(
                id=secrets.token_hex(8),
                user=user,
                account_id=account_id,
                name=name,
                created=record.now(),
            )
        )
        ends = parse_date(token.expires)
        token_digest = digest(secret)
        async with self.client.pipeline(transaction=True) as pipe:
            # Gone from Redis when it expires; authenticate checks the date all the same.
            pipe.set(token_key(token_digest), _encode(token), nx=True, exat=ends)
            pipe.hset(user_tokens_key(user), token.id, token_digest)
            await pipe.execute()
        return token, secret

    async def for_user(self, user: str, account_id: str) -> list[Token]:
        """``user``'s tokens, oldest first, in two round trips. Those not made for
        ``account_id``, the account the request is signed in to (a removed account's, or
        one's of the same name before it was re-made), are deleted on the way."""
        by_id = await self.client.hgetall(user_tokens_key(user))
        if not by_id:
            return []
        ids = sorted(by_id)
        raws = await self.client.mget([token_key(by_id[token_id]) for token_id in ids])
        found, stale = [], []
        now = datetime.now(UTC)
        for token_id, raw in zip(ids, raws, strict=True):
            token = _decode(raw)
            if token is not None:
                token = self._dated(token)
            if (
                token is None
                or token.account_id != account_id
                or token.user != user
                or token.expired(now)
            ):
                stale.append(token_id)
            else:
                found.append(token)
        if stale:
            await self._delete(user, {token_id: by_id[token_id] for token_id in stale})
        found.sort(key=lambda token: (token.created, token.id))
        return found

    async def revoke(self, user: str, token_id: str) -> bool:
        """Revoke ``user``'s token ``token_id`` at once; False if there is no such token."""
        if not is_token_id(token_id):
            return False
        token_digest = await self.client.hget(user_tokens_key(user), token_id)
        if token_digest is None:
            return False
        await self._delete(user, {token_id: token_digest})
        return True

    async def _delete(self, user: str, digests: dict[str, str]) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(*(token_key(token_digest) for token_digest in digests.values()))
            pipe.hdel(user_tokens_key(user), *digests)
            await pipe.execute()

    async def authenticate(self, secret: str) -> Token | None:
        """The token that ``secret`` is, if it is a live token, not expired, of an account
        that still exists and is still the account it was made for; else None.

        Notes the use (at most once a :data:`LAST_USED_STEP`), never bringing a token
        revoked meanwhile back (``SET XX``) nor changing when Redis deletes it (``KEEPTTL``).
        """
        if not secret or len(secret) > TOKEN_CHARS_MAX:
            return None
        token_digest = digest(secret)
        key = token_key(token_digest)
        token = _decode(await self.client.get(key))
        if token is None:
            return None
        now = datetime.now(UTC)
        if self._dated(token).expired(now) or (
            await self.accounts.account_id(token.user) != token.account_id
        ):
            await self._delete(token.user, {token.id: token_digest})
            return None
        last = parse_date(token.last_used)
        if last is None or now - last >= LAST_USED_STEP:
            token = dataclasses.replace(token, last_used=now.isoformat())
            await self.client.set(key, _encode(token), xx=True, keepttl=True)
        return token
