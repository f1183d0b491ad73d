"""A function defined in a script's ``__main__`` runs on the cluster too."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    from moi.job import submit, wait

    GREETING = "hi"

    def greet(name, status_update, **kwargs):
        status_update("greeting")
        return f"{GREETING}, {name}"

    job_id = submit("scripts", "greet", None, greet, "Jo")
    print(json.dumps(wait(job_id, timeout=30)))
    """
)


def test_function_from_main_runs(r, settings, tmp_path):
    ini = tmp_path / "moi.ini"
    ini.write_text(
        f"[redis]\nurl = {settings.redis_url}\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={"MOI_CONFIG": str(ini), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    info = __import__("json").loads(done.stdout.splitlines()[-1])
    assert info["status"] == "Success"
    assert info["result"] == "hi, Jo"
    assert r.sismember("scripts:jobs", info["id"])
