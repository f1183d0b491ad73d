"""``python -m app`` tells the ``moi`` command where its servers are: ``var/moi.ini``."""

from __future__ import annotations

import json

from tests.app.test_main import launch  # noqa: F401 (the fixture)
from tests.test_cli import run_here


def test_the_moi_command_finds_the_demos_own_servers(launch, tmp_path):  # noqa: F811
    var = tmp_path / "var"
    app = launch(f"[ipyparallel]\nengines = 1\n[app]\nvar_dir = {var}\n")
    app.wait_ready()
    said = {}  # where everything is, until the moi command's line
    while "moi command" not in said:
        name, _, value = app.next_line().strip().partition("  ")
        said[name] = value.strip()
    written = var / "moi.ini"
    assert said["moi command"] == f"export MOI_CONFIG={written}"
    redis_url = said["Redis"].split()[0]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, env in ((tmp_path, None), (elsewhere, {"MOI_CONFIG": str(written)})):
        status = run_here(cwd, "status", "--json", env=env)  # in tmp_path: var/moi.ini
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["redis"]["url"] == redis_url
        assert report["cluster"]["engines"] == 1

    assert app.stop() == 0
    assert not written.exists()
