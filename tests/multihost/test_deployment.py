"""moi across hosts: jobs cross from one web process to another's pages, run on another
host's engines, and outlive the web process that took them; the deployment script
itself leaves nothing behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import subprocess
import sys
import time

import psutil
import pytest

from examples.multihost import Deployment, NotReady, ready
from examples.multihost.deployment import CHECKOUT
from examples.multihost.netns import ip, wait_gone
from tests.app.conftest import PASSWORD, wait_for_status
from tests.browser import demo
from tests.multihost.clients import infos, live_socket, monitored, new_username, signed_in

FINAL = ("Success", "Failed", "Cancelled")


def watch_socket(deployment, web, client, ids: queue.Queue, connected: queue.Queue) -> list[dict]:
    """On ``web``'s websocket as ``client``'s user: put the first job added in ``ids``,
    and return every info of it that arrives, up to its end."""

    async def watch() -> list[dict]:
        socket = await live_socket(deployment, web, client)
        try:
            await socket.snapshot()
            connected.put(True)
            added = await socket.until(lambda message: "add" in message)
            [job_id] = added[-1]["add"]
            ids.put(job_id)
            seen = await socket.until(
                lambda m: any(i["id"] == job_id and i["status"] in FINAL for i in infos(m))
            )
            return [info for message in seen for info in infos(message) if info["id"] == job_id]
        finally:
            await socket.aclose()

    return asyncio.run(watch())


def test_a_job_sent_to_web_1_is_live_on_web_2_and_runs_on_an_engines_host(
    deployment, browser, tmp_path
):
    user = new_username()
    web1 = signed_in(deployment, "web-1", user)
    driver = browser()
    demo.login(driver, deployment.url("web-2"), user, PASSWORD)
    demo.wait_connected(driver)
    demo.mark_page(driver)
    ids: queue.Queue = queue.Queue()
    connected: queue.Queue = queue.Queue()
    with (
        monitored(deployment, tmp_path / "monitor.txt") as monitor,
        concurrent.futures.ThreadPoolExecutor(1) as pool,  # its thread is on the client host
    ):
        socket = pool.submit(watch_socket, deployment, "web-2", web1, ids, connected)
        connected.get(timeout=30)
        sent = time.monotonic()
        answer = web1.post("/jobs/countdown", seconds="3")
        assert answer.status == 303, answer.text
        job_id = ids.get(timeout=30)
        seen_live = time.monotonic() - sent
        running = demo.wait_status(driver, job_id, "3 s to go", "2 s to go", "1 s to go")
        demo.wait_status(driver, job_id, "Success", timeout=30)
        updates = socket.result(timeout=30)
    assert not demo.left_marked_page(driver), "web-2's page was reloaded, not updated live"
    assert running["name"] == "Countdown from 3 s"
    statuses = [info["status"] for info in updates]
    assert statuses[-1] == "Success", statuses
    assert {"3 s to go", "2 s to go", "1 s to go"} & set(statuses), statuses
    assert seen_live < 5, f"web-2's socket heard of the job {seen_live:.2f} s after the submit"
    print(f"web-2's socket had the job {seen_live * 1000:.0f} ms after the submit to web-1")
    ran_on = {host for host in monitor.hosts_that_sent(job_id) if host.startswith("engines-")}
    assert len(ran_on) == 1, f"the job's writes came from {monitor.hosts_that_sent(job_id)}"


def test_web_1_killed_mid_job_the_job_ends_and_a_page_on_web_2_shows_it(deployment, browser):
    user = new_username()
    web1 = signed_in(deployment, "web-1", user)
    driver = browser()
    demo.login(driver, deployment.url("web-2"), user, PASSWORD)
    demo.wait_connected(driver)
    assert web1.post("/jobs/countdown", seconds="4").status == 303
    [row] = demo.wait(driver, lambda d: demo.jobs(d), "the job on web-2's page")
    demo.wait_status(driver, row["id"], "4 s to go", "3 s to go", "2 s to go")
    killed = deployment.services["web-1"].pid
    try:
        deployment.kill("web-1")
        assert not psutil.pid_exists(killed)
        done = demo.wait_status(driver, row["id"], *FINAL, timeout=30)
        assert done["status"] == "Success", done
        with deployment.redis() as redis:
            assert wait_for_status(redis, row["id"], "Success", 10)["result"] == (
                "Counted down from 4."
            )
    finally:
        deployment.restart("web-1")  # for the module's next test; waits until it answers


def test_a_cut_host_reaches_nobody_until_it_is_mended(deployment):
    web2 = deployment.hosts["web-2"]
    assert ready.http_status(web2.addr, 8888) == 302  # / sends a stranger to sign in
    deployment.cut("web-2")
    try:
        assert web2.is_cut
        began = time.monotonic()
        assert ready.http_status(web2.addr, 8888, timeout=1) is None
        assert time.monotonic() - began >= 0.9, "refused at once: a cut host does not answer"
        assert deployment.services["web-2"].running  # its processes live on
    finally:
        deployment.mend("web-2")
    assert not web2.is_cut
    assert ready.http_status(web2.addr, 8888) == 302


def root_network() -> list[str]:
    """The root namespace's links, addresses and routes, which a run must never touch."""
    return [ip("-o", "link", "show"), ip("-o", "addr", "show"), ip("route", "show")]


def run_script(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "examples.multihost", *args],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_script_up_status_down_from_other_shells_leaves_nothing(tmp_path):
    network = root_network()
    run = tmp_path / "run"
    began = time.monotonic()
    try:
        up = run_script("up", "--run-dir", str(run))
        up_seconds = time.monotonic() - began
        assert up.returncode == 0, up.stderr
        state = json.loads((run / "state.json").read_text())
        deployment = Deployment.load(run)
        namespaces = deployment.topology.namespaces()
        pids = {pid for host in deployment.hosts.values() for pid in host.pids()}
        assert len(pids) >= 9, pids  # Redis, controller, dispatcher, 4 engines, 2 web
        assert {s["pid"] for s in state["services"].values()} <= pids
        status = run_script("status", str(run))
        assert status.returncode == 0, status.stderr
        assert deployment.url("web-2") in status.stdout
        down = run_script("down", str(run))
        assert down.returncode == 0, down.stderr
    finally:
        if (run / "state.json").exists():
            Deployment.load(run).close()  # whatever the test left, if it failed
    listed = ip("netns", "list")
    assert not [ns for ns in namespaces if ns in listed.split()], listed
    assert root_network() == network
    assert not wait_gone(pids, 0), "processes of the run still run"  # a zombie: for PID 1 to reap
    print(f"up took {up_seconds:.1f} s")


def test_a_failure_mid_up_names_the_host_and_its_log_and_leaves_nothing(tmp_path):
    with pytest.raises(NotReady) as failed:
        Deployment.start(tmp_path, settings={"app": {"port": "0"}})  # a port no app takes
    message = str(failed.value)
    assert "web-1 on host web-1" in message, message
    assert str(tmp_path / "web-1" / "web-1.log") in message
    assert "port" in message  # the log's end says why
    left = Deployment.load(tmp_path)
    assert left.closed
    assert left.leftovers() == []
    listed = ip("netns", "list").split()
    assert not set(left.topology.namespaces()) & set(listed)
