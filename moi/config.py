"""moi's settings: one dataclass with defaults, built once from an ini file.

``load()`` reads ``MOI_CONFIG`` if set, else ``./config.ini`` if present, else uses the
defaults. Nothing here runs at import time. Each field names its ini section and key
in its metadata, so the same reader serves the demo app's settings too
(:func:`read_ini`).
"""

from __future__ import annotations

import configparser
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from moi import sentinel
from moi.exceptions import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

DEFAULT_CONFIG_FILE = "config.ini"
ENV_VAR = "MOI_CONFIG"


def setting(section: str, key: str, default: Any, parse: Callable[[str], Any], help: str) -> Any:
    """A dataclass field read from ``[section] key`` of the ini file."""
    return dataclasses.field(
        default=default, metadata={"ini": (section, key), "parse": parse, "help": help}
    )


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def non_negative_number(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a number, 0 or more")
    return int(value) if value.is_integer() else value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def redis_url(text: str) -> str:
    if sentinel.is_sentinel(text):
        sentinel.parse(text)  # its ValueError says what is amiss
    elif urlparse(text).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss://, unix:// or redis+sentinel://")
    return text


def optional_redis_url(text: str) -> str:
    return redis_url(text) if text else ""


def text(value: str) -> str:
    return value


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError("must be yes or no")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the moi library needs to know: where Redis and the cluster are."""

    redis_url: str = setting(
        "redis", "url", "redis://127.0.0.1:6379/0", redis_url, "The Redis server moi keeps jobs in."
    )
    engine_redis_url: str = setting(
        "redis",
        "engine_url",
        "",
        optional_redis_url,
        "The Redis URL engines use, if they reach Redis by another address (other hosts).",
    )
    key_ttl: int = setting(
        "redis",
        "key_ttl",
        14 * 24 * 3600,
        non_negative_int,
        "Seconds job records and group sets are kept; 0 keeps them forever.",
    )
    max_result_bytes: int = setting(
        "jobs",
        "max_result_bytes",
        1024 * 1024,
        positive_int,
        "A job whose JSON-encoded result is larger ends Failed.",
    )
    max_output_bytes: int = setting(
        "jobs",
        "max_output_bytes",
        1024 * 1024,
        non_negative_int,
        "Bytes of a job's printed output kept: its first and last halves, with what was "
        "dropped between them counted; 0 keeps all of it.",
    )
    write_retry: int = setting(
        "jobs",
        "write_retry",
        600,
        non_negative_int,
        "Seconds an engine or a submitter keeps retrying a job's final write while Redis "
        "is unreachable.",
    )
    lease: int = setting(
        "jobs",
        "lease",
        10,
        positive_int,
        "Seconds a running job's engine may go without a sign of life (it renews every third "
        "of that) before moi ends the job Failed.",
    )
    time_limit: float = setting(
        "jobs",
        "time_limit",
        0,
        non_negative_number,
        "Seconds a job may run before moi stops it and ends it Failed; 0 means no limit. "
        "A submit may set its own (Client.with_options).",
    )
    cancel_grace: float = setting(
        "jobs",
        "cancel_grace",
        10,
        non_negative_number,
        "Seconds a cancelled or timed-out job's function has to stop after it is "
        "interrupted; then its engine process is ended, so the core is free again.",
    )
    dispatch: bool = setting(
        "jobs",
        "dispatch",
        True,
        boolean,
        "Whether this process takes its turn dispatching: keeping the cluster's engines "
        "taking jobs from moi's queue (one process at a time does it; moi dispatch runs one "
        "alone).",
    )
    max_running_per_group: int = setting(
        "jobs",
        "max_running_per_group",
        0,
        non_negative_int,
        "The most jobs of one group (a user of the demo) that run at once; 0 means no limit.",
    )
    max_queued_per_group: int = setting(
        "jobs",
        "max_queued_per_group",
        0,
        non_negative_int,
        "The most jobs of one group that may wait; a submit past it is refused. 0 means no limit.",
    )
    reap: bool = setting(
        "jobs",
        "reap",
        True,
        boolean,
        "Whether this process takes its turn ending jobs whose engine was lost "
        "(one process at a time does it).",
    )
    ipp_profile: str = setting(
        "ipyparallel",
        "profile",
        "",
        text,
        "Name (not a directory) of the IPython profile of a running ipyparallel cluster, as "
        "in ipcluster start --profile NAME; its files are in ~/.ipython/profile_NAME. For a "
        "controller elsewhere, name its connection_file instead.",
    )
    ipp_connection_file: str = setting(
        "ipyparallel",
        "connection_file",
        "",
        text,
        "Path of a controller's ipcontroller-client.json; wins over profile.",
    )
    ipp_engines: int = setting(
        "ipyparallel",
        "engines",
        0,
        non_negative_int,
        "Engines in a local cluster that moi starts itself; 0 means one per CPU.",
    )
    source: str = ""
    """The file these settings came from, or "" for the defaults."""
    explicit: frozenset[str] = frozenset()
    """``section.key`` names the file set, so an app can tell a default from a choice."""

    @property
    def engines(self) -> int:
        """How many engines a local cluster gets."""
        return self.ipp_engines or os.cpu_count() or 1

    @property
    def engine_url(self) -> str:
        """The Redis URL handed to engines with each job."""
        return self.engine_redis_url or self.redis_url


def config_path(path: str | os.PathLike | None = None) -> Path | None:
    """The config file to read: ``path``, else ``$MOI_CONFIG``, else ``./config.ini`` if present.

    A file named by the caller or by ``MOI_CONFIG`` must exist; ``./config.ini`` may not.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is not None:
        return Path(path)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def read_ini(path: Path | None) -> configparser.ConfigParser:
    """Parse ``path`` (or nothing), turning every failure into a :class:`ConfigError`."""
    parser = configparser.ConfigParser(interpolation=None)
    if path is None:
        return parser
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
    except configparser.Error as error:
        raise ConfigError(f"config file {str(path)!r} is not valid ini: {error}") from None
    return parser


def sections(*classes: type) -> set[str]:
    """The ini sections the fields of ``classes`` are read from."""
    return {
        f.metadata["ini"][0]
        for cls in classes
        for f in dataclasses.fields(cls)
        if "ini" in f.metadata
    }


def check_sections(parser: configparser.ConfigParser, path: Path | None, *classes: type) -> None:
    """Refuse a section none of ``classes`` reads: ``[Redis]`` must not pass for unset."""
    known = sections(*classes)
    for section in parser.sections():
        if section not in known:
            raise ConfigError(
                f"{path}: unknown section [{section}] (known sections: {', '.join(sorted(known))})"
            )


def from_ini(cls: type[T], parser: configparser.ConfigParser, path: Path | None, **overrides) -> T:
    """Build ``cls`` from the sections of ``parser`` that its fields name.

    Unknown keys in those sections are refused (a typo should not silently fall back to a
    default); other sections are left to whoever owns them.
    """
    fields = {f.metadata["ini"]: f for f in dataclasses.fields(cls) if "ini" in f.metadata}
    sections = {section for section, _ in fields}
    for section in parser.sections():  # [Redis] must not pass for [redis] left unset
        near = next((s for s in sections if s.lower() == section.lower() and s != section), None)
        if near:
            raise ConfigError(f"{path}: unknown section [{section}]; did you mean [{near}]?")
    values: dict[str, Any] = {}
    explicit = set()
    for section in sections & set(parser.sections()):
        for key, raw in parser.items(section):
            field = fields.get((section, key))
            if field is None:
                known = ", ".join(sorted(k for s, k in fields if s == section))
                raise ConfigError(f"{path}: unknown key [{section}] {key} (known keys: {known})")
            try:
                values[field.name] = field.metadata["parse"](raw.strip())
            except ValueError as error:
                raise ConfigError(
                    f"{path}: bad value {raw!r} for [{section}] {key}: {error}"
                ) from None
            explicit.add(f"{section}.{key}")
    values.update(overrides)
    names = {f.name for f in dataclasses.fields(cls)}
    if "source" in names:
        values.setdefault("source", str(path) if path else "")
    if "explicit" in names:
        values.setdefault("explicit", frozenset(explicit))
    return cls(**values)


def load(path: str | os.PathLike | None = None, **overrides) -> Settings:
    """Settings from the config file (see :func:`config_path`), with ``overrides`` on top."""
    found = config_path(path)
    return from_ini(Settings, read_ini(found), found, **overrides)
