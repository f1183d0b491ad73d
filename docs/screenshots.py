"""Screenshots of the demo with a mix of jobs, for the README and reviews.

::

    .venv/bin/python -m docs.screenshots      # or: .venv/bin/python docs/screenshots.py

Starts the demo as ``make run`` does (``python -m app``, its own private Redis and local
cluster) but on a temporary var dir and a free port, signs up a user in headless
Chromium, submits jobs that end up running, queued, finished, failed and cancelled, and
writes into ``docs/screenshots/``: the list (``list-desktop.png`` at 1280×900,
``list-phone.png`` at 390×844), a running job's page (``job-desktop.png``,
``job-phone.png``), a failed job's page and the create-account page on a phone
(``failed-phone.png``, ``signup-phone.png``), the list in a dark system
(``list-desktop-dark.png``, ``list-phone-dark.png``) and a refused form on a phone
(``form-error-phone.png``: the message in view, with the focus), and moi's page of a
simulation printing as it runs, with its output pane (``job-output-desktop.png`` at
1280×800, ``job-output-phone.png``, and both again in a dark system, ``-dark``), then a
list of 100,000 jobs stored straight into the demo's Redis (``list-100k-desktop.png``,
``list-100k-phone.png``). ``--only list-100k`` (or any other name's start) takes only the
screenshots whose names start so, doing only the work they need. The app
is stopped by its PID with SIGINT, as Ctrl-C would, and the browser by
:func:`tests.browser.chromium.stop`.
Needs Chromium and chromedriver (``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file: the checkout's packages, as with -m
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from moi import groupset, keys, record  # noqa: E402
from tests.app.conftest import group_of  # noqa: E402
from tests.browser import chromium, demo  # noqa: E402
from tests.browser.appserver import READY_LINE, unused_port  # noqa: E402
from tests.browser.contrast import prefer_scheme  # noqa: E402

OUT = REPO / "docs" / "screenshots"
DESKTOP = (1280, 900)
OUTPUT_DESKTOP = (1280, 800)
PHONE = (390, 844)
START_TIMEOUT = 180
"""Seconds the demo may take to start its Redis and cluster on a slow machine."""
STOP_TIMEOUT = 60
BIG_LIST = 100_000
ONLY: tuple[str, ...] = ()
"""Name starts of the screenshots to take (``--only``); empty: all."""


def wanted(*names: str) -> bool:
    return not ONLY or any(name.startswith(only) for name in names for only in ONLY)


def start_demo(folder: Path) -> tuple[subprocess.Popen, str]:
    """``python -m app`` on a free port with its var dir in ``folder``; its process and URL."""
    config = folder / "config.ini"
    config.write_text(
        f"[ipyparallel]\nengines = 2\n\n[app]\nhost = 127.0.0.1\nvar_dir = {folder / 'var'}\n",
        encoding="utf-8",
    )
    port = unused_port()
    log = folder / "app.log"
    env = {key: value for key, value in os.environ.items() if key != "MOI_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while READY_LINE not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_demo(process)
            raise SystemExit(f"the demo did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}"


def stop_demo(process: subprocess.Popen) -> None:
    """SIGINT by PID, as Ctrl-C: the demo stops its Redis and cluster itself."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"the demo ignored SIGINT for {STOP_TIMEOUT} s and was killed", file=sys.stderr)


def running(driver, job_id: str) -> dict | None:
    found = demo.job(driver, job_id)
    return found if found and found["status"].endswith(" s to go") else None


def make_jobs(driver) -> str:
    """Submit the mix, oldest first; the ID of a countdown left running."""
    hello = demo.submit(driver, "hello", "name", "Ada")
    pi = demo.submit(driver, "pi", "samples", "200000")
    failed = demo.submit(driver, "fail", "message", "Out of coffee")
    demo.wait_all(driver, [hello, pi, failed], *demo.FINAL, timeout=60)
    cancelled = demo.submit(driver, "countdown", "seconds", "20")
    demo.wait(driver, lambda d: running(d, cancelled), "a countdown to run")
    demo.row(driver, cancelled).find_element(By.CSS_SELECTOR, ".moi-job-cancel").click()
    demo.wait_status(driver, cancelled, "Cancelled")
    long = demo.submit(driver, "countdown", "seconds", "60")
    shorter = demo.submit(driver, "countdown", "seconds", "45")
    for job_id in (long, shorter):
        demo.wait(driver, lambda d, job_id=job_id: running(d, job_id), "the countdowns to run")
    demo.submit(driver, "hello", "name", "Grace")  # both engines are busy: it waits, Queued
    demo.send_form(driver, "batch", "count", "3", expect=3)  # three more behind it, in line
    return long


def shoot(driver, size: tuple[int, int], name: str, refresh: bool = True) -> None:
    """The page at ``size``, loaded again (``refresh``), or as it is (already at ``size``)."""
    if refresh:
        demo.viewport(driver, *size, mobile=size == PHONE)
        driver.refresh()
    if driver.find_elements(By.ID, "moi-joblist"):
        demo.wait_connected(driver)
    time.sleep(1.5)  # a countdown tick or two: progress bars and "running" times move
    OUT.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUT / f"{name}.png"))
    print(f"wrote {(OUT / f'{name}.png').relative_to(REPO)}")


def main(argv: list[str] | None = None) -> int:
    global ONLY
    parser = argparse.ArgumentParser(description="Screenshots of the demo for docs/screenshots/.")
    parser.add_argument(
        "--only", action="append", default=[], help="a name's start, e.g. list-100k"
    )
    ONLY = tuple(parser.parse_args(argv).only)
    missing = chromium.missing()
    if missing:
        print(f"needs {' and '.join(missing)}: {chromium.INSTALL_HINT}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="moi-screenshots-") as tmp:
        folder = Path(os.environ.get("MOI_SCREENSHOTS_DIR") or tmp)
        process, url = start_demo(folder)
        driver = None
        try:
            driver = chromium.start(folder / "profile", folder / "chromedriver.log")
            driver.get(f"{url}/signup")
            if wanted("signup-phone"):
                shoot(driver, PHONE, "signup-phone")
            demo.viewport(driver, *DESKTOP)
            demo.login(driver, url, "ada")
            demo.wait_connected(driver)
            if wanted("job-output"):
                job_output(driver, url)
            if wanted("list-desktop", "list-phone", "job-", "failed-phone", "form-error"):
                mix(driver, url)
            if wanted("list-100k"):
                big_list(driver, url, redis_url(folder), "ada")
        finally:
            if driver is not None:
                chromium.stop(driver)
            stop_demo(process)
    return 0


def mix(driver, url: str) -> None:
    """The list of a few jobs in every state, a job's page, a failed job, a refused form."""
    countdown = make_jobs(driver)
    shoot(driver, DESKTOP, "list-desktop")
    shoot(driver, PHONE, "list-phone")
    driver.get(f"{url}/result/countdown/{countdown}")
    shoot(driver, DESKTOP, "job-desktop")
    shoot(driver, PHONE, "job-phone")
    failed = next(job for job in demo_jobs(driver, url) if job["status"] == "Failed")
    driver.get(f"{url}{failed['href']}")
    shoot(driver, PHONE, "failed-phone")
    prefer_scheme(driver, "dark")
    driver.get(f"{url}/")
    shoot(driver, DESKTOP, "list-desktop-dark")
    shoot(driver, PHONE, "list-phone-dark")
    prefer_scheme(driver, "light")
    refused_form(driver, url)
    shoot(driver, PHONE, "form-error-phone", refresh=False)


def redis_url(folder: Path) -> str:
    """The demo's private Redis, as its start-up banner names it."""
    found = re.search(r"Redis\s+(redis://\S+)", (folder / "app.log").read_text(errors="replace"))
    if not found:
        raise SystemExit("the demo's log names no Redis URL")
    return found.group(1)


def big_list(driver, url: str, redis_url: str, user: str) -> None:
    """100,000 ended jobs of ``user``'s group stored as engines leave them, then the list."""
    client = redis.Redis.from_url(redis_url)
    try:
        group = group_of(client, user)
        now = time.time()
        statuses = ["Success"] * 8 + ["Failed", "Cancelled"]
        for first in range(0, BIG_LIST, 10_000):
            infos = [
                big_job(group, n, statuses[n % len(statuses)], now - n * 30)
                for n in range(first, first + 10_000)
            ]
            with client.pipeline() as pipe:
                for info in infos:
                    pipe.set(keys.job_key(info["id"]), record.encode(info))
                groupset.add(pipe, group, [info["id"] for info in infos], 0)
                pipe.execute()
    finally:
        client.close()
    demo.viewport(driver, *DESKTOP)
    driver.get(f"{url}/")
    demo.wait_connected(driver)
    for size, name in ((DESKTOP, "list-100k-desktop"), (PHONE, "list-100k-phone")):
        demo.viewport(driver, *size, mobile=size == PHONE)
        driver.refresh()
        demo.wait(driver, lambda d: listed(d) >= BIG_LIST, "100,000 rows", timeout=120)
        shoot(driver, size, name, refresh=False)


def listed(driver) -> int:
    """How many jobs the list's model holds (the DOM has only the rows in sight)."""
    return driver.execute_script("return window.moiJobList ? window.moiJobList.size : 0")


def big_job(group: str, n: int, status: str, ended: float) -> dict:
    """The info object of an ended sample job, as the demo's own would read."""
    kind = ("hello", "pi", "countdown", "simulate")[n % 4]
    started = ended - (n % 97) - 1
    stamp = lambda t: datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")  # noqa: E731
    return {
        "id": f"{n:08x}-0000-4000-8000-{n:012x}",
        "group": group,
        "name": f"{kind} #{n}",
        "handler": f"/result/{kind}",
        "status": status,
        "result": None,
        "date_created": stamp(started - 1),
        "date_start": stamp(started),
        "date_end": stamp(ended),
    }


def job_output(driver, url: str) -> None:
    """A simulation printing as it runs, on moi's job page (``/jobs/<id>``): light, dark.
    Cancelled after, so both engines are free for the list's jobs."""
    demo.viewport(driver, *OUTPUT_DESKTOP)
    [job_id] = demo.send_form(driver, "simulate", "steps", "300")
    driver.get(f"{url}/jobs/{job_id}")
    lines = "#moi-job-output .moi-line"
    demo.wait(
        driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, lines)) >= 40, "40 lines printed"
    )
    for scheme in ("light", "dark"):
        prefer_scheme(driver, scheme)
        suffix = "-dark" if scheme == "dark" else ""
        for size, name in ((OUTPUT_DESKTOP, "job-output-desktop"), (PHONE, "job-output-phone")):
            demo.viewport(driver, *size, mobile=size == PHONE)
            driver.refresh()
            demo.wait(
                driver,
                lambda d: len(d.find_elements(By.CSS_SELECTOR, lines)) >= 40,
                "the output again",
            )
            shoot(driver, size, name + suffix, refresh=False)
    prefer_scheme(driver, "light")
    demo.viewport(driver, *DESKTOP)
    driver.get(f"{url}/")
    demo.wait_connected(driver)
    demo.wait(driver, lambda d: demo.job(d, job_id), "the simulation's row")
    demo.row(driver, job_id).find_element(By.CSS_SELECTOR, ".moi-job-cancel").click()
    demo.wait_status(driver, job_id, "Cancelled")


def refused_form(driver, url: str) -> None:
    """Send the countdown form with too many seconds, on a phone: it comes back refused."""
    demo.viewport(driver, *PHONE, mobile=True)
    driver.get(f"{url}/")
    demo.wait_connected(driver)
    box = driver.find_element(By.ID, "countdown-seconds")
    box.clear()
    box.send_keys("999")
    demo.mark_page(driver)
    driver.find_element(By.ID, "countdown-submit").click()
    demo.wait(driver, demo.left_marked_page, "the refused form to come back")
    demo.wait(driver, lambda d: d.find_elements(By.ID, "countdown-error"), "the form's message")


def demo_jobs(driver, url: str) -> list[dict]:
    """The rows of the list, from the index page."""
    driver.get(f"{url}/")
    demo.wait_connected(driver)
    demo.wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".moi-job-link"), "the rows")
    return demo.jobs(driver)


if __name__ == "__main__":
    sys.exit(main())
