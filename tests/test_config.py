"""moi.config: defaults, the ini file, and a clear error for every bad file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from moi import config
from moi.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "moi.ini"
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOI_CONFIG", raising=False)
    settings = config.load()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.key_ttl == 14 * 24 * 3600
    assert settings.max_result_bytes == 1024 * 1024
    assert settings.engines >= 1
    assert settings.source == ""
    assert settings.explicit == frozenset()


def test_reads_config_ini_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOI_CONFIG", raising=False)
    (tmp_path / "config.ini").write_text("[redis]\nkey_ttl = 60\n")
    settings = config.load()
    assert settings.key_ttl == 60
    assert settings.explicit == {"redis.key_ttl"}


def test_moi_config_wins_over_config_ini(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.ini").write_text("[redis]\nkey_ttl = 60\n")
    monkeypatch.setenv("MOI_CONFIG", str(write(tmp_path, "[redis]\nkey_ttl = 0\n")))
    assert config.load().key_ttl == 0


def test_every_key(tmp_path):
    path = write(
        tmp_path,
        """
[redis]
url = redis://example.org:6380/2
engine_url = redis://10.0.0.5:6380/2
key_ttl = 0
[jobs]
max_result_bytes = 100
[ipyparallel]
profile = mine
connection_file = /tmp/ipcontroller-client.json
engines = 3
""",
    )
    settings = config.load(path)
    assert settings.redis_url == "redis://example.org:6380/2"
    assert settings.engine_url == "redis://10.0.0.5:6380/2"
    assert settings.key_ttl == 0
    assert settings.max_result_bytes == 100
    assert settings.ipp_profile == "mine"
    assert settings.ipp_connection_file == "/tmp/ipcontroller-client.json"
    assert settings.engines == 3
    assert settings.source == str(path)


def test_engines_use_the_main_url_by_default():
    assert config.Settings(redis_url="redis://h:1/0").engine_url == "redis://h:1/0"


def test_other_sections_are_left_to_their_owners(tmp_path):
    assert config.load(write(tmp_path, "[app]\nport = 1\n")).redis_url.startswith("redis://")


def test_overrides_win(tmp_path):
    assert config.load(write(tmp_path, "[redis]\nkey_ttl = 5\n"), key_ttl=7).key_ttl == 7


def test_missing_file_named_by_moi_config(tmp_path, monkeypatch):
    missing = tmp_path / "nope.ini"
    monkeypatch.setenv("MOI_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=f"config file '{missing}' does not exist"):
        config.load()


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        config.load(tmp_path)  # a directory


def test_not_ini(tmp_path):
    with pytest.raises(ConfigError, match="is not valid ini"):
        config.load(write(tmp_path, "url = no section\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[redis]\nurl = http://x\n", r"bad value 'http://x' for \[redis\] url"),
        ("[redis]\nengine_url = x\n", r"bad value 'x' for \[redis\] engine_url"),
        ("[redis]\nkey_ttl = soon\n", r"bad value 'soon' for \[redis\] key_ttl"),
        ("[redis]\nkey_ttl = -1\n", r"bad value '-1' for \[redis\] key_ttl: must be 0 or more"),
        ("[jobs]\nmax_result_bytes = 0\n", r"\[jobs\] max_result_bytes: must be 1 or more"),
        ("[ipyparallel]\nengines = two\n", r"bad value 'two' for \[ipyparallel\] engines"),
        ("[redis]\nulr = redis://x\n", r"unknown key \[redis\] ulr \(known keys: engine_url"),
        ("[Redis]\nurl = redis://x\n", r"unknown section \[Redis\]; did you mean \[redis\]"),
    ],
)
def test_bad_values_name_file_key_and_value(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        config.load(path)
    assert str(path) in str(raised.value)


def test_config_example_lists_every_key_with_its_default(example_config):
    example = (ROOT / "config.example.ini").read_text()
    for field in dataclasses.fields(config.Settings):
        if "ini" not in field.metadata:
            continue
        section, key = field.metadata["ini"]
        default = field.default
        shown = ("yes" if default else "no") if isinstance(default, bool) else str(default)
        assert example_config.get(section, key) == shown, f"[{section}] {key}"
        assert field.metadata["help"] in example
    path = ROOT / "config.example.ini"
    assert config.from_ini(config.Settings, example_config, path) == config.Settings(
        source=str(path), explicit=frozenset(f"{s}.{k}" for s, k in _ini_keys())
    )


def test_config_example_copied_as_it_is_changes_nothing():
    assert config.load(ROOT / "config.example.ini").explicit == frozenset()


def _ini_keys():
    return [f.metadata["ini"] for f in dataclasses.fields(config.Settings) if "ini" in f.metadata]
