"""``python -m app.newproject``: the template copied under a new name passes its own tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import newproject

REPO = Path(__file__).resolve().parent.parent
LEFTOVER = re.compile(r"\bfrom app\b|\bimport app\b|-m app\b|\bmoi demo\b|moi-app:")


def make(dest: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.newproject", str(dest), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(900)
def test_a_copy_under_a_new_name_passes_its_own_tests(tmp_path):
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

    # From the copy, where only the copy is importable: a missed rewrite fails here.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MOI_CONFIG")}
    probe = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=dest, env=env, capture_output=True
    )
    assert probe.returncode != 0, "the template's own app is importable from the copy"
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "tests/app",
            "tests/browser/test_login.py",
        ],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout.splitlines()[-1]


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
