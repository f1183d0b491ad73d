"""The config files of the deployment's moi processes, as a user would write them by hand.

Each process reads its own file (``MOI_CONFIG``), in its host's directory of the run, as
on separate machines. Every one names the same Redis; the web processes share one
cookie secret (a session signed by one is good on the other) and leave dispatching to
``moi dispatch`` beside the controller.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path

Sections = Mapping[str, Mapping[str, str]]
"""``{"jobs": {"lease": "3"}}``: ini sections and their keys, as text."""

WEB_PORT = 8888


def write(path: Path, sections: Sections, *extra: Sections | None) -> Path:
    """Write ``sections`` with each of ``extra`` on top (a later key wins) to ``path``."""
    parser = configparser.ConfigParser(interpolation=None)
    for layer in (sections, *extra):
        for section, values in (layer or {}).items():
            if not parser.has_section(section):
                parser.add_section(section)
            for key, value in values.items():
                parser.set(section, key, str(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        parser.write(handle)
    return path


def dispatcher(path: Path, redis_url: str, client_file: Path, extra: Sections | None) -> Path:
    """``moi dispatch``'s file, on the controller's host: Redis, and the controller (and of
    ``extra``, all but the web processes' ``[app]``)."""
    return write(
        path,
        {"redis": {"url": redis_url}, "ipyparallel": {"connection_file": str(client_file)}},
        {section: keys for section, keys in (extra or {}).items() if section != "app"},
    )


def web(
    path: Path,
    *,
    redis_url: str,
    client_file: Path,
    addr: str,
    subnet: str,
    cookie_secret: str,
    var_dir: Path,
    extra: Sections | None,
) -> Path:
    """A web process's file: it serves on its host's address, takes no turn dispatching
    (``moi dispatch`` does, beside the controller), and still names the controller's
    client file, as README's step says, so the app starts no local cluster of its own."""
    return write(
        path,
        {
            "redis": {"url": redis_url},
            "jobs": {"dispatch": "no"},
            "ipyparallel": {"connection_file": str(client_file)},
            "app": {
                "host": addr,
                "port": str(WEB_PORT),
                "cookie_secret": cookie_secret,
                "var_dir": str(var_dir),
                "metrics_from": subnet,
            },
        },
        extra,
    )
