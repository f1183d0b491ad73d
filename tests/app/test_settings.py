"""The [app] section, which servers the app starts, and the kept cookie secret."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from app import settings as app_config
from app.settings import AppSettings, cookie_secret, load, uses_local_cluster, uses_private_redis
from moi.exceptions import ConfigError

ROOT = Path(__file__).parents[2]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "app.ini"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOI_CONFIG", raising=False)
    settings, app_settings = load()
    assert app_settings == AppSettings()
    assert (app_settings.host, app_settings.port, app_settings.var_dir) == (
        "127.0.0.1",
        8888,
        "var",
    )
    assert app_settings.url == "http://127.0.0.1:8888/"
    assert uses_private_redis(settings) and uses_local_cluster(settings)


def test_one_file_for_both(tmp_path):
    path = write(
        tmp_path,
        "[redis]\nurl = redis://db:6379/1\n"
        "[app]\nport = 9000\nhost = 0.0.0.0\ndebug = yes\ncookie_secret = s3cret\n",
    )
    settings, app_settings = load(path)
    assert settings.redis_url == "redis://db:6379/1"
    assert app_settings.port == 9000
    assert app_settings.debug is True
    assert app_settings.cookie_secret == "s3cret"
    assert app_settings.url == "http://127.0.0.1:9000/"


def test_overrides_win(tmp_path):
    _, app_settings = load(write(tmp_path, "[app]\nport = 9000\n"), port=9100)
    assert app_settings.port == 9100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[app]\nport = http\n", "bad value 'http' for \\[app\\] port"),
        ("[app]\nport = 70000\n", "must be from 1 to 65535"),
        ("[app]\ndebug = maybe\n", "must be yes or no"),
        ("[app]\nprot = 1\n", "unknown key \\[app\\] prot"),
        ("[app]\ntrusted_proxies = proxy.example\n", "'proxy.example' is not an address"),
    ],
)
def test_bad_app_settings_name_file_key_and_value(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        load(path)
    assert str(path) in str(raised.value)


def test_trusted_proxies_are_addresses_or_networks_and_none_by_default(tmp_path):
    text = "[app]\ntrusted_proxies = 10.0.0.1, 192.168.0.0/16, ::1\n"
    _, app_settings = load(write(tmp_path, text))
    assert app_settings.trusted_proxies == ("10.0.0.1/32", "192.168.0.0/16", "::1/128")
    assert [str(net) for net in app_settings.trusted_networks] == list(app_settings.trusted_proxies)
    assert AppSettings().trusted_proxies == ()


@pytest.mark.parametrize(
    ("text", "private_redis", "local_cluster"),
    [
        ("", True, True),
        ("[redis]\nkey_ttl = 60\n", True, True),
        ("[redis]\nurl = redis://db:6379/0\n", False, True),
        ("[ipyparallel]\nconnection_file = /x/client.json\n", True, False),
        ("[ipyparallel]\nprofile = \n", True, False),
        ("[ipyparallel]\nengines = 2\n", True, True),
    ],
)
def test_what_the_app_starts_itself(tmp_path, text, private_redis, local_cluster):
    settings, _ = load(write(tmp_path, text))
    assert uses_private_redis(settings) is private_redis
    assert uses_local_cluster(settings) is local_cluster


def test_cookie_secret_is_made_once_and_kept(tmp_path):
    app_settings = AppSettings(var_dir=str(tmp_path / "var"))
    first = cookie_secret(app_settings)
    assert len(first) >= 40
    assert cookie_secret(app_settings) == first
    path = tmp_path / "var" / "cookie_secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path / "var") == ["cookie_secret"]


def test_a_configured_cookie_secret_is_used_and_nothing_written(tmp_path):
    app_settings = AppSettings(cookie_secret="given", var_dir=str(tmp_path / "var"))
    assert cookie_secret(app_settings) == "given"
    assert not (tmp_path / "var").exists()


def test_config_example_lists_every_app_key_with_its_default(example_config):
    example = (ROOT / "config.example.ini").read_text()
    for field in dataclasses.fields(AppSettings):
        section, key = field.metadata["ini"]
        assert field.metadata["parse"](example_config.get(section, key)) == field.default, key
        assert field.metadata["help"] in example
    _, from_example = app_config.load(ROOT / "config.example.ini")
    assert from_example == AppSettings()


def test_an_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "config.ini"
    path.write_text("[Redis]\nurl = redis://elsewhere:6379/0\n")
    with pytest.raises(ConfigError, match=r"unknown section \[Redis\] \(known sections: app, "):
        app_config.load(path)
