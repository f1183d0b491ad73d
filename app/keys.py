"""Every Redis key and channel name of the site, built in one place.

All start with :data:`PREFIX`, so they never meet moi's own (a job ID is a UUID, a
group's keys end in ``:jobs`` or ``:pubsub``). :mod:`app.newproject` rewrites it, so
that sites made from this one can share a Redis.
"""

PREFIX = "moi-app:"

USERS_KEY = f"{PREFIX}users"
"""Hash: each username, to its account's JSON record (:mod:`app.accounts`)."""

SIGNINS_KEY = f"{PREFIX}signins"
"""Sorted set: each account, scored by when it last signed in (Unix seconds)."""

UNUSED_KEY = f"{PREFIX}unused"
"""Sorted set: each account nobody came back to since its sign-up, scored by when it was
made (:mod:`app.retention`)."""

SIGNOUT_CHANNEL = f"{PREFIX}signout"
"""Channel: a JSON list of the session IDs just signed out (:mod:`app.sessions`)."""


def session_key(session_id: str) -> str:
    """String: a session's JSON ``{"user", "account"}``, with the session's TTL."""
    return f"{PREFIX}session:{session_id}"


def user_sessions_key(user: str) -> str:
    """Set: the IDs of ``user``'s sessions, for "sign out everywhere"."""
    return f"{PREFIX}sessions:{user}"


def token_key(token_digest: str) -> str:
    """String: the record of the API token whose SHA-256 is ``token_digest``."""
    return f"{PREFIX}token:{token_digest}"


def user_tokens_key(user: str) -> str:
    """Hash: each token ID of ``user``, to its SHA-256."""
    return f"{PREFIX}tokens:{user}"


def again_key(job_id: str) -> str:
    """String: what a sample job was submitted with, JSON ``{"kind", "fields"}``, so it can
    run again (:mod:`app.samples`); with the job's TTL."""
    return f"{PREFIX}again:{job_id}"


def throttle_key(counter: str, who: str) -> str:
    """A counter of :mod:`app.throttle`: ``user`` (sign-in attempts at a name from unknown
    clients), ``pair`` (at a name from an address: ``name@address``), ``addr`` (from an
    address), ``device`` (at a name from a known browser: ``name@device``) or ``new``
    (accounts made from an address)."""
    return f"{PREFIX}throttle:{counter}:{who}"


def known_clients_key(user: str) -> str:
    """Sorted set: the browsers (``d:<device>``) and addresses (``a:<address>``) that
    signed in to ``user`` lately, scored by when (:mod:`app.throttle`)."""
    return f"{PREFIX}known:{user}"
