"""``python -m app.newproject``: the template copied under a new name passes its own tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app import newproject

REPO = Path(__file__).resolve().parent.parent
LEFTOVER = re.compile(r"\bfrom app\b|\bimport app\b|-m app\b|\bmoi demo\b|moi-app:")
# The interpreter moi's own virtualenv was made with: the copy makes its own from it.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
COPY_TESTS = [
    "tests/app/test_auth.py",
    "tests/app/test_jobs.py",
    "tests/app/test_results.py",
    "tests/app/test_websocket.py",
    "tests/browser/test_login.py",
]
# Run by the copy's interpreter: where its moi was installed from, where it imports
# from, and whether this checkout's app is importable there.
PROBE = """
import importlib.metadata, importlib.util, json, moi
origin = json.loads(importlib.metadata.distribution("moi-jobs").read_text("direct_url.json"))
print(json.dumps([origin["url"], moi.__file__, importlib.util.find_spec("app") is not None]))
"""
# Not passed to the copy's commands: moi's interpreter and config, and moi's make (a
# nested make would take moi's `make test PYTEST_ARGS=...` from MAKEFLAGS).
NOT_THE_COPYS = ("PYTHONPATH", "MOI_CONFIG", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def copy_env() -> dict[str, str]:
    """The environment a user has in a new shell: nothing of moi's run or its make."""
    own_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in NOT_THE_COPYS}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    return env


def make(dest: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.newproject", str(dest), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_copy_is_renamed_throughout_and_depends_on_this_checkout(tmp_path):
    dest = tmp_path / "mysite"
    made = make(dest, "--package", "mysite", "--title", "My Site")
    assert made.returncode == 0, made.stderr

    leftovers = [
        f"{path.relative_to(dest)}: {line.strip()}"
        for path in dest.rglob("*")
        if path.is_file() and path.suffix in newproject.TEXT_SUFFIXES
        for line in path.read_text().splitlines()
        if LEFTOVER.search(line)
    ]
    assert leftovers == []
    assert (
        "<title>{% block title %}My Site{% endblock %} · My Site</title>"
        in (dest / "mysite" / "templates" / "base.html").read_text()
    )
    assert not (dest / "app").exists()
    guide = (dest / "mysite" / "README.md").read_text()
    assert guide.startswith("# My Site\n\n`mysite/` is a small Tornado site built on moi.\n")
    assert "template to copy" not in guide
    assert "*.egg-info/" in (dest / ".gitignore").read_text().splitlines()

    # moi by its own name on the index, from the checkout the copy was made from.
    with (REPO / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["project"]["name"] == newproject.DISTRIBUTION == "moi-jobs"
    with (dest / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["dependencies"][0] == f"moi-jobs[embedded] @ {REPO.as_uri()}"


@pytest.mark.install
@pytest.mark.timeout(600)
def test_a_copy_installs_itself_and_passes_its_own_tests_in_its_own_virtualenv(tmp_path):
    """As its user would: the copy's own make install, then its make test.

    Its Makefile makes its virtualenv with the interpreter moi's was made with, and
    installs moi from this checkout by path, as its pyproject.toml says. There only the
    copy is importable, so a missed rewrite fails its tests rather than load this ``app``.
    """
    dest = tmp_path / "mysite"
    made = make(dest, "--package", "mysite", "--title", "My Site")
    assert made.returncode == 0, made.stderr
    env = copy_env()

    installed = subprocess.run(
        ["make", "install", f"PYTHON={BASE_PYTHON}"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    python = dest / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [python, "-c", PROBE], cwd=dest, env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    origin, location, app_importable = json.loads(probe.stdout)
    assert origin == REPO.as_uri()
    assert Path(location).is_relative_to(dest / ".venv")
    assert app_importable is False, "the template's own app is importable from the copy"

    tests = subprocess.run(
        # A representative part of the copy's suite (sign-in, forms, result pages, the live
        # list, a browser): the whole of it is moi's own suite again, already run above.
        ["make", "test", f"PYTEST_ARGS=-q -x {' '.join(COPY_TESTS)}"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=330,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--package", "My-Site"), "is not a lower-case Python package name"),
        (("--package", "moi"), "is taken"),
    ],
)
def test_bad_names_are_refused(tmp_path, args, said):
    made = make(tmp_path / "x", *args)
    assert made.returncode == 2 and said in made.stderr
    assert not (tmp_path / "x").exists()


def test_a_destination_in_use_is_refused(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    made = make(tmp_path / "used", "--package", "mysite")
    assert made.returncode == 2 and "is not empty" in made.stderr
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["keep.txt"]
