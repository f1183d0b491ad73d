"""The JSON API section of app/README.md runs: every curl example, in order, against a real
server with a real token, answers the status written under it; and the section's table
and examples between them cover every endpoint the app routes.

The examples run with curl where it is installed, and always through a small Python
reading of the same command lines, so the check holds on a machine without curl too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.handlers import api
from tests.app.apiclient import make_token

README = Path(__file__).resolve().parents[2] / "app" / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8888"
METHODS = ("get", "post", "delete")


def section() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## JSON API\n(.*?)(?=^## )", text, re.S | re.M)
    assert found, "app/README.md has no '## JSON API' section"
    return found.group(1)


def examples() -> list[tuple[str, int]]:
    """Each curl command of the section's ``sh`` blocks (continuation lines joined), and the
    status in the ``# NNN`` comment line that follows it."""
    found: list[tuple[str, int]] = []
    for block in re.findall(r"^```sh\n(.*?)^```", section(), re.S | re.M):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not line.startswith("curl "):
                continue
            command = line
            while command.endswith("\\"):
                command = command[:-1].rstrip() + " " + lines[index].strip()
                index += 1
            status = re.match(r"# (\d{3})\b", lines[index] if index < len(lines) else "")
            assert status, f"no '# <status>' line after: {command}"
            found.append((command, int(status.group(1))))
    return found


def test_the_section_has_examples():
    assert len(examples()) >= 9


def endpoints() -> set[tuple[str, str]]:
    """Every (method, route pattern) the API serves."""
    return {
        (method.upper(), pattern)
        for pattern, handler in api.routes
        if handler is not api.ApiNotFoundHandler
        for method in METHODS
        if getattr(handler, method) is not getattr(api.ApiHandler, method)
    }


def route_of(method: str, path: str) -> tuple[str, str] | None:
    for pattern, handler in api.routes:
        if handler is not api.ApiNotFoundHandler and re.fullmatch(pattern, path):
            return method, pattern
    return None


def test_the_table_lists_every_endpoint():
    rows = re.findall(r"^\| `(GET|POST|DELETE) (/api/[^`]*)`", section(), re.M)
    listed = {route_of(method, re.sub(r"<[^>]+>", "x", path)) for method, path in rows}
    assert listed == endpoints()


class Runner:
    """Runs one example command line with env variables, the way a shell would read it."""

    def __init__(self, base_url: str, env: dict[str, str]) -> None:
        self.base_url = base_url
        self.env = env

    def request(self, command: str) -> tuple[str, str]:
        """(method, path) of ``command``, as curl would send it."""
        args = self.words(command)
        method = "GET"
        url = ""
        for index, arg in enumerate(args):
            if arg in ("-X", "--request"):
                method = args[index + 1]
            elif arg in ("-d", "--data", "--data-raw") and method == "GET":
                method = "POST"
            elif arg.startswith("http"):
                url = arg
        return method, url.removeprefix(self.base_url).split("?")[0]

    def words(self, command: str) -> list[str]:
        expand = lambda word: re.sub(r"\$(\w+)", lambda m: self.env[m.group(1)], word)  # noqa: E731
        command = command.replace(DOCUMENTED_URL, self.base_url)
        return [expand(word) for word in shlex.split(command)]

    def curl(self, command: str, tmp_path: Path) -> tuple[int, str]:
        out = tmp_path / "body"
        command = command.replace(DOCUMENTED_URL, self.base_url)
        finished = subprocess.run(
            [
                "bash",
                "-c",
                f"{command} --max-time 30 -o {shlex.quote(str(out))} -w '%{{http_code}}'",
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert finished.returncode == 0, finished.stderr
        return int(finished.stdout), out.read_text() if out.exists() else ""

    def python(self, command: str, tmp_path: Path) -> tuple[int, str]:
        """The command read as curl reads the options these examples use."""
        args = self.words(command)
        assert args[0] == "curl"
        method, url, data, headers = None, None, None, {}
        words = iter(args[1:])
        for word in words:
            if word in ("-s", "--silent", "-i"):
                continue
            if word in ("-X", "--request"):
                method = next(words)
            elif word in ("-H", "--header"):
                name, _, value = next(words).partition(":")
                headers[name.strip()] = value.strip()
            elif word in ("-d", "--data", "--data-raw"):
                data = next(words).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            elif not word.startswith("-"):
                url = word
            else:
                raise AssertionError(f"this test does not read curl's {word}: teach it")
        request = urllib.request.Request(
            url, data, headers, method=method or ("POST" if data is not None else "GET")
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()


@pytest.mark.parametrize("way", ["curl", "python"])
def test_every_curl_example_answers_its_documented_status(server, auth, tmp_path, way):
    if way == "curl" and shutil.which("curl") is None:
        pytest.skip("curl is not installed: the python reading of the examples still runs")
    token, _ = make_token(auth, "laptop")
    _, spare_id = make_token(auth, "old laptop")
    runner = Runner(server.url, {"TOKEN": token, "TOKEN_ID": spare_id})
    covered = set()
    for command, expected in examples():
        method, path = runner.request(command)
        covered.add(route_of(method, path))
        status, body = getattr(runner, way)(command, tmp_path)
        assert status == expected, f"{command}\nanswered {status}: {body}"
        if body:
            answer = json.loads(body)  # every answer is JSON
            if method == "POST" and path == "/api/jobs" and status == 201:
                runner.env["JOB"] = answer["id"]  # "keep its id as JOB"
    assert covered >= endpoints(), "an endpoint has no curl example"
