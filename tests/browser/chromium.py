"""Headless Chromium through Debian's chromedriver, started and stopped by PID.

Both paths are given to Selenium, so Selenium Manager never looks for (or downloads) a
browser or a driver. ``MOI_CHROMIUM`` and ``MOI_CHROMEDRIVER`` override them.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import psutil
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("MOI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MOI_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = "apt-get install chromium chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,1024",
)
QUIT_TIMEOUT = 10


def missing() -> list[str]:
    """The paths of the browser and driver that are not executable files here."""
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


class Browser(webdriver.Chrome):
    """A Chrome driver that keeps its console: Chromium hands each entry out only once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.console_entries: list[dict] = []
        self.allowed_errors: list[re.Pattern] = []

    def console(self) -> list[dict]:
        """Every console entry so far (level, message, source, timestamp)."""
        self.console_entries += self.get_log("browser")
        return self.console_entries

    def allow_console_errors(self, pattern: str) -> None:
        """Expect console errors matching ``pattern`` (e.g. refused sockets while down)."""
        self.allowed_errors.append(re.compile(pattern))

    def console_errors(self) -> list[str]:
        """The SEVERE entries no :meth:`allow_console_errors` pattern expects."""
        return [
            entry["message"]
            for entry in self.console()
            if entry.get("level") == "SEVERE"
            and not any(p.search(entry.get("message", "")) for p in self.allowed_errors)
        ]


def start(profile_dir: Path, driver_log: Path) -> Browser:
    """A new headless Chromium with a fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(driver_log))
    driver = Browser(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


def stop(*drivers: Browser) -> None:
    """Quit browsers and their drivers, then check that every one of their processes ended.

    A browser's processes are its chromedriver (the service's PID) and everything below
    it, taken before quitting. Any left after :data:`QUIT_TIMEOUT` are killed and reported.
    """
    tree: list[psutil.Process] = []
    errors: list[str] = []
    for driver in drivers:
        try:
            root = psutil.Process(driver.service.process.pid)
            tree += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
        try:
            driver.quit()
        except Exception as error:  # quit the others all the same
            errors.append(f"driver.quit() failed: {error.__class__.__name__}: {error}")
    _gone, alive = psutil.wait_procs(tree, timeout=QUIT_TIMEOUT)
    for process in alive:
        process.kill()
    if alive:
        described = ", ".join(f"{p.pid} ({_name(p)})" for p in alive)
        errors.append(f"browser processes outlived driver.quit() and were killed: {described}")
    assert not errors, "; ".join(errors)


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"


def save(driver: Browser, folder: Path, prefix: str) -> list[str]:
    """Save a screenshot, the console log and the page's HTML; return what could not be saved."""
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    steps = {
        "screenshot.png": lambda path: driver.save_screenshot(str(path)),
        "console.log": lambda path: path.write_text(_console(driver), encoding="utf-8"),
        "page.html": lambda path: path.write_text(
            f"<!-- {driver.current_url} -->\n{driver.page_source}", encoding="utf-8"
        ),
    }
    for name, step in steps.items():
        try:
            step(folder / f"{prefix}{name}")
        except (WebDriverException, OSError) as error:
            problems.append(f"{prefix}{name}: {error.__class__.__name__}: {error}")
    return problems


def _console(driver: Browser) -> str:
    lines = []
    for entry in driver.console():
        when = datetime.datetime.fromtimestamp(entry.get("timestamp", 0) / 1000, datetime.UTC)
        lines.append(f"{when:%H:%M:%S.%f} {entry.get('level')} {entry.get('message')}")
    return "\n".join(lines) + "\n"
