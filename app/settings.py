"""The demo's own settings, the ``[app]`` section of the same ini file moi reads.

Both dataclasses are built from one parse of the file, so the app and the library can
never disagree about which file was read.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import secrets
from pathlib import Path

from moi import config


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError("must be from 1 to 65535")
    return value


def host_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("must name at least one host, or *")
    return names


def networks(text: str) -> tuple[str, ...]:
    """Addresses or networks (``10.0.0.0/8``), comma-separated; empty: none."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                found.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise ValueError(f"{part!r} is not an address or a network") from None
    return tuple(found)


@functools.cache
def parsed_networks(
    texts: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``texts`` (checked by :func:`networks`) as network objects, parsed once."""
    return tuple(ipaddress.ip_network(text) for text in texts)


@dataclasses.dataclass(frozen=True)
class AppSettings:
    """Where the demo listens, and where it keeps its files."""

    host: str = config.setting(
        "app", "host", "127.0.0.1", config.text, "Address the web server listens on."
    )
    port: int = config.setting("app", "port", 8888, port_number, "Port the web server listens on.")
    cookie_secret: str = config.setting(
        "app",
        "cookie_secret",
        "",
        config.text,
        "Key that signs login cookies; empty means one is generated once and kept "
        "in var_dir, so sessions survive a restart.",
    )
    var_dir: str = config.setting(
        "app",
        "var_dir",
        "var",
        config.text,
        "Directory for the private Redis's data, the local cluster's profile and the "
        "generated cookie secret; relative paths start at the working directory.",
    )
    account_days: int = config.setting(
        "app",
        "account_days",
        365,
        config.non_negative_int,
        "Days an account is kept after its last sign-in; 0 keeps accounts forever.",
    )
    unused_account_days: int = config.setting(
        "app",
        "unused_account_days",
        7,
        config.non_negative_int,
        "Days an account nobody came back to after signing it up is kept (see app/README.md); "
        "0 keeps it as long as any other.",
    )
    token_days: int = config.setting(
        "app",
        "token_days",
        90,
        config.non_negative_int,
        "Days an API token works after it is made; 0 keeps tokens until they are revoked.",
    )
    redis_connections: int = config.setting(
        "app",
        "redis_connections",
        100,
        config.positive_int,
        "Connections to Redis the site opens at most, for its own reads and writes (accounts, "
        "sessions, tokens); past them a request waits for one.",
    )
    redis_wait: float = config.setting(
        "app",
        "redis_wait",
        5,
        config.non_negative_number,
        "Seconds a request waits for a free Redis connection before it is answered 503.",
    )
    allowed_hosts: tuple[str, ...] = config.setting(
        "app",
        "allowed_hosts",
        ("localhost", "127.0.0.1", "[::1]"),
        host_names,
        "Host names the site answers to (the Host header, without the port), comma-separated; "
        "* answers to any. The listening host is always allowed.",
    )
    metrics: bool = config.setting(
        "app",
        "metrics",
        True,
        config.boolean,
        "Serve moi's Prometheus metrics at /metrics (to the addresses of metrics_from).",
    )
    metrics_from: tuple[str, ...] = config.setting(
        "app",
        "metrics_from",
        ("127.0.0.1/32", "::1/128"),
        networks,
        "Addresses or networks (10.0.0.0/8) that may read /metrics, comma-separated.",
    )
    trusted_proxies: tuple[str, ...] = config.setting(
        "app",
        "trusted_proxies",
        (),
        networks,
        "Addresses or networks of the proxies in front of the site, comma-separated: only "
        "from them are X-Forwarded-For, X-Real-Ip and X-Forwarded-Proto believed. Empty: "
        "none, every client connects directly.",
    )
    debug: bool = config.setting(
        "app",
        "debug",
        False,
        config.boolean,
        "Show tracebacks in error pages and reload templates on change (never in production).",
    )

    def allows_host(self, host_name: str) -> bool:
        """Whether a request's Host (without its port) is one this site answers to."""
        allowed = self.allowed_hosts
        return "*" in allowed or host_name.lower() in allowed or host_name == self.host

    def allows_metrics(self, address: str) -> bool:
        """Whether a request from ``address`` may read /metrics."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in parsed_networks(self.metrics_from))

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """:attr:`trusted_proxies`, parsed (:mod:`app.proxies`)."""
        return parsed_networks(self.trusted_proxies)

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def url(self) -> str:
        """The address to print for people; a wildcard host is shown as localhost."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"


def load(
    path: str | os.PathLike | None = None, **app_overrides
) -> tuple[config.Settings, AppSettings]:
    """moi's settings and the app's, from one config file (see :func:`moi.config.config_path`).

    :raises moi.exceptions.ConfigError: naming the file, key and value at fault.
    """
    found = config.config_path(path)
    parser = config.read_ini(found)
    config.check_sections(parser, found, config.Settings, AppSettings)
    return (
        config.from_ini(config.Settings, parser, found),
        config.from_ini(AppSettings, parser, found, **app_overrides),
    )


def uses_private_redis(settings: config.Settings) -> bool:
    """Whether the app starts its own Redis: yes, unless the config file names one."""
    return "redis.url" not in settings.explicit


def uses_local_cluster(settings: config.Settings) -> bool:
    """Whether the app starts its own cluster: yes, unless the config file names a controller.

    A ``profile`` line counts even when empty: it asks for the default IPython profile.
    """
    return not {"ipyparallel.profile", "ipyparallel.connection_file"} & settings.explicit


def cookie_secret(app_settings: AppSettings) -> str:
    """The configured cookie secret, else the one kept in ``var_dir``, made on first run.

    Keeping a generated secret means logins survive a restart without anyone having to
    invent a key. The file appears whole or not at all (written aside, then linked into
    place), so two processes starting together still agree on one secret.
    """
    if app_settings.cookie_secret:
        return app_settings.cookie_secret
    path = app_settings.var_path / "cookie_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".cookie_secret.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()
