"""What a person does on the demo site, as Selenium steps with explicit waits.

Every wait is a :class:`WebDriverWait` on page state, with a message that says what was
expected and what the page showed instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.chromium import Browser

PASSWORD = "browser-test-password"
WAIT = 20
"""Seconds any one page state may take to appear (a hello job takes well under one)."""

FINAL = ("Success", "Failed", "Cancelled")
REFUSED = r"/{path}\S* - Failed to load resource: the server responded with a status of 400"
"""A console error Chromium logs for a refused form (``path``: its address), a pattern."""
_usernames = itertools.count(1)

JOBS_JS = """
// The list is windowed: its model (window.moiJobList, app.js) knows every job, the DOM
// only the rows in sight. A row's parts are read where it is rendered, null elsewhere.
const list = window.moiJobList;
const el = document.getElementById('moi-joblist');
if (!list || !el) return [];
return list.ids().map((id) => {
  const info = list.get(id);
  const row = el.querySelector('.moi-job[data-job-id="' + CSS.escape(id) + '"]');
  const part = (selector) => (row ? row.querySelector(selector) : null);
  const text = (selector) => part(selector)?.textContent ?? null;
  const progress = part('progress.moi-progress');
  const link = part('a.moi-job-link');
  return {
    id: id,
    status: info ? String(info.status) : (row ? row.getAttribute('data-status') : null),
    pending: !info,
    name: info ? String(info.name ?? id) : text('.moi-job-name'),
    progress: progress ? progress.value : null,
    href: link ? link.getAttribute('href') : null,
    cancel: text('button.moi-job-cancel'),
    submitted: text('time.moi-job-submitted'),
    ran: text('.moi-job-ran'),
    rendered: !!row,
  };
});
"""


def new_username(prefix: str = "u") -> str:
    """A username no other test of this run uses (and valid: a letter, then a-z0-9)."""
    return f"{prefix}{os.getpid()}x{next(_usernames)}"


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout=WAIT):
    """``condition``'s first truthy value, or a failure naming ``what`` and the job list."""
    try:
        return WebDriverWait(
            driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(condition)
    except TimeoutException:
        raise AssertionError(f"waited {timeout} s for {what}; {describe(driver)}") from None


def describe(driver: WebDriver) -> str:
    """Where the page is and what its job list shows, for a failure message."""
    try:
        return (
            f"page {driver.current_url!r}, list state {list_state(driver)!r}, rows {jobs(driver)!r}"
        )
    except WebDriverException as error:
        return f"the browser did not answer: {error.__class__.__name__}: {error.msg}"


def list_state(driver: WebDriver) -> str | None:
    return driver.execute_script(
        "const el = document.getElementById('moi-joblist');"
        "return el ? el.getAttribute('data-moi-state') : null;"
    )


def jobs(driver: WebDriver) -> list[dict[str, Any]]:
    """The jobs of ``#moi-joblist`` as they are now, in its order: id, status, pending,
    name, and, for rows rendered (``rendered``: the list draws only those in sight), the
    progress, href, and the texts of the Cancel button, the submitted time and the run
    time (None if absent or not rendered).

    ``pending`` is true while a job has no info yet (its ID and status "…" are shown).
    """
    return driver.execute_script(JOBS_JS)


def login(driver: Browser, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in and land on the index page; a new user first makes the account on the
    create-account form (:func:`signup`), as a person would."""
    driver.get(f"{base_url}/login")
    field = wait(driver, ec.element_to_be_clickable((By.ID, "login-username")), "the login form")
    field.send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait(
        driver,
        lambda d: d.find_elements(By.ID, "login-error") or d.find_elements(By.ID, "hello-form"),
        f"the index page after signing in as {username!r}",
    )
    if driver.find_elements(By.ID, "login-error"):
        driver.allow_console_errors(REFUSED.format(path="login"))  # that 400, and only it
        driver.find_element(By.ID, "signup-link").click()
        signup(driver, username, password)
    assert driver.find_element(By.ID, "current-user").text == username


def signup(driver: WebDriver, username: str, password: str = PASSWORD) -> None:
    """Fill in the create-account form shown now, and land on the page it leads to."""
    field = wait(driver, ec.element_to_be_clickable((By.ID, "signup-username")), "the form")
    field.clear()
    field.send_keys(username)
    driver.find_element(By.ID, "signup-password").send_keys(password)
    driver.find_element(By.ID, "signup-confirm").send_keys(password)
    driver.find_element(By.ID, "signup-submit").click()
    wait(
        driver,
        lambda d: d.find_elements(By.ID, "signup-error") or d.find_elements(By.ID, "current-user"),
        f"a signed-in page after creating the account {username!r}",
    )
    errors = driver.find_elements(By.ID, "signup-error")
    assert not errors, f"creating the account {username!r} was refused: {errors[0].text}"


def viewport(driver: WebDriver, width: int, height: int, mobile: bool = False) -> None:
    """Show pages at ``width`` × ``height`` CSS pixels (``mobile``: as a phone does, touch
    and all), whatever size the headless window is. Lasts until the browser quits."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile})


def sign_out(driver: WebDriver) -> None:
    """Press the header's Sign out button and land on the sign-in page."""
    driver.find_element(By.CSS_SELECTOR, "#logout-form button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.ID, "login-form"), "the sign-in page")


def wait_connected(driver: WebDriver) -> None:
    wait(
        driver,
        lambda d: list_state(d) == "connected",
        "the job list to be connected (data-moi-state=connected)",
    )


def mark_page(driver: WebDriver) -> None:
    """Tag the current document, so :func:`left_marked_page` can tell when it is replaced."""
    driver.execute_script("window.__moiTestMarked = true;")


def left_marked_page(driver: WebDriver) -> bool:
    """True once a new document has loaded in place of the one :func:`mark_page` tagged.

    Asks the page itself instead of polling an element of the old document: mid-navigation
    chromedriver may answer that with an "unknown error" instead of a stale element.
    """
    try:
        return driver.execute_script(
            "return !window.__moiTestMarked && document.readyState === 'complete';"
        )
    except WebDriverException:
        return False  # between documents: ask again


def send_form(driver: WebDriver, form: str, field: str, value: str, expect: int = 1) -> list[str]:
    """Fill in and send one job form; return the IDs of the ``expect`` rows it added.

    Waits for the index to load again (the form redirects back to it) and for the new
    rows to show their jobs' info, so the caller gets jobs it can follow.
    """
    known = {job["id"] for job in jobs(driver)}
    box = driver.find_element(By.ID, f"{form}-{field}")
    box.clear()
    box.send_keys(value)
    mark_page(driver)
    driver.find_element(By.ID, f"{form}-submit").click()
    wait(driver, left_marked_page, f"the {form} form to be sent")
    errors = driver.find_elements(By.ID, f"{form}-error")
    assert not errors, f"the {form} form was refused: {errors[0].text}"
    wait_connected(driver)
    fresh = wait(
        driver,
        lambda d: (
            len(ids := [j["id"] for j in jobs(d) if j["id"] not in known]) >= expect
            and not any(j["pending"] for j in jobs(d) if j["id"] in ids)
            and ids
        ),
        f"{expect} new row(s) after sending the {form} form",
    )
    assert len(fresh) == expect, f"the {form} form added {len(fresh)} rows: {jobs(driver)}"
    return fresh


def submit(driver: WebDriver, form: str, field: str, value: str) -> str:
    """Send a form that submits one job; return its ID."""
    [job_id] = send_form(driver, form, field, value)
    return job_id


def row(driver: WebDriver, job_id: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'#moi-joblist .moi-job[data-job-id="{job_id}"]')


def job(driver: WebDriver, job_id: str) -> dict[str, Any] | None:
    return next((job for job in jobs(driver) if job["id"] == job_id), None)


def wait_status(driver: WebDriver, job_id: str, *statuses: str, timeout=WAIT) -> dict[str, Any]:
    """Wait until the job's row has one of ``statuses``; return the row as :func:`jobs` does."""

    def reached(d: WebDriver):
        found = job(d, job_id)
        return found if found and found["status"] in statuses else None

    return wait(driver, reached, f"job {job_id} to show {' or '.join(statuses)}", timeout)


def wait_all(driver: WebDriver, job_ids: list[str], *statuses: str, timeout=WAIT) -> list[dict]:
    """Wait until every one of ``job_ids`` shows one of ``statuses``; return all rows."""
    wanted = set(job_ids)

    def reached(d: WebDriver):
        rows = jobs(d)
        done = {job["id"] for job in rows if job["status"] in statuses}
        return rows if wanted <= done else None

    return wait(driver, reached, f"{len(wanted)} jobs to show {' or '.join(statuses)}", timeout)


RECORD_JS = """
const list = document.getElementById('moi-joblist');
const seen = window.__moiTestSeen = new Set();
const note = () => {
  for (const row of list.querySelectorAll('.moi-job')) seen.add(row.getAttribute('data-job-id'));
};
note();
new MutationObserver(note).observe(list, {childList: true, subtree: true, attributes: true});
"""


def record_rows(driver: WebDriver) -> None:
    """From now on, note the ID of every row this page shows, however briefly.

    The record lives in the page, so it also proves the page was not reloaded:
    :func:`recorded_rows` fails if it is gone.
    """
    driver.execute_script(RECORD_JS)


def recorded_rows(driver: WebDriver) -> set[str]:
    seen = driver.execute_script(
        "return window.__moiTestSeen ? Array.from(window.__moiTestSeen) : null;"
    )
    assert seen is not None, "the page was reloaded since record_rows()"
    return set(seen)
