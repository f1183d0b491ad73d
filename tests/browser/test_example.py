"""examples/hello_moi.py, run as a user would, and the README snippets taken from it."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.appserver import unused_port
from tests.browser.contrast import low_contrast, prefer_scheme, surface_luminance

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello_moi.py"


@pytest.fixture
def example(settings, r, tmp_path) -> Iterator[str]:
    """The example app, serving against the session's Redis and cluster; its URL."""
    ini = tmp_path / "moi.ini"
    ini.write_text(
        f"[redis]\nurl = {settings.redis_url}\n"
        f"[ipyparallel]\nconnection_file = {settings.ipp_connection_file}\n"
    )
    port = unused_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(port)],
        cwd=tmp_path,  # anywhere: nothing of the checkout is needed but moi
        env={"MOI_CONFIG": str(ini), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=30)
        assert line.startswith("hello moi at "), line
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()


def test_the_example_runs_a_job_and_shows_a_styled_live_row(example, browser):
    driver = browser()
    driver.get(example)
    driver.find_element(By.NAME, "n").clear()
    driver.find_element(By.NAME, "n").send_keys("7")
    driver.find_element(By.CSS_SELECTOR, "form button").click()

    row = WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, '.moi-job[data-status="Success"]')
    )
    name = row.find_element(By.CLASS_NAME, "moi-job-name")
    badge = row.find_element(By.CLASS_NAME, "moi-status")
    assert (name.text, badge.text) == ("square of 7", "Success")
    # moi.css lays the row out: the badge is a padded pill apart from the name, not run
    # into it ("square of 7Success").
    assert badge.value_of_css_property("border-radius") != "0px"
    assert badge.rect["x"] > name.rect["x"] + name.rect["width"] or badge.rect["y"] > name.rect["y"]


def run_square(driver, example: str) -> None:
    driver.get(example)
    driver.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '.moi-job[data-status="Success"]')
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_page_that_themes_nothing_keeps_a_readable_light_list(example, browser, scheme):
    driver = browser()
    prefer_scheme(driver, scheme)
    run_square(driver, example)
    listed = driver.find_element(By.ID, "moi-joblist")
    assert surface_luminance(driver, listed) > 0.8  # light in a dark system too: not opted in
    assert not low_contrast(driver)


@pytest.mark.parametrize("opt_in", ["color-scheme: light dark", "class moi-dark"])
def test_a_page_that_opts_in_gets_a_dark_list_that_reads(example, browser, opt_in):
    driver = browser()
    prefer_scheme(driver, "dark")
    run_square(driver, example)
    listed = driver.find_element(By.ID, "moi-joblist")
    if opt_in.startswith("class"):
        driver.execute_script("arguments[0].classList.add('moi-dark')", listed)
    else:
        driver.execute_script("document.documentElement.style.colorScheme = 'light dark'")
    assert surface_luminance(driver, listed) < 0.05
    assert not low_contrast(driver)


def readme_snippets() -> list[str]:
    """The Python blocks of the README's "Mounting the websocket" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Mounting the websocket", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_readme_snippets_are_the_examples_code():
    code = EXAMPLE.read_text()
    snippets = readme_snippets()
    assert snippets
    for snippet in snippets:
        for block in snippet.split("\n\n\n"):  # the example keeps more between the pieces
            assert block.strip() in code, block
