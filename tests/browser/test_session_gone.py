"""A page whose session the server forgot goes to the sign-in page, and says why.

Issue 22: Redis restarted empty left the open page "reconnecting" for ever, its upgrade
refused with a 403 the browser cannot see. Now the page learns it either way: an open
socket is closed 4401 once the app finds the session gone (it looks every few seconds),
and a socket refused before the upgrade makes moi.js ask the probe, which says 401.
"""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from app.handlers.auth import NOTICES
from tests.browser import demo

BOUND = 10
"""Seconds from the loss to the sign-in page (issue 22: "within seconds")."""
REFUSALS = (
    r"WebSocket connection to '\S+/moi-ws/' failed",
    r"/moi-ws/ready - Failed to load resource: the server responded with a status of 40[13]",
    r"/moi-ws/ready - Failed to load resource: the server responded with a status of 503",
    r"/moi-ws/ready - Failed to load resource: net::ERR_",
)
"""What Chromium logs while the page finds out: the refused socket and the probe."""


def at_sign_in_with_notice(driver) -> dict | None:
    """The sign-in page's address and notice, once the page is there."""
    if not driver.find_elements(By.ID, "login-form"):
        return None
    notice = driver.find_elements(By.ID, "notice")
    return {"url": driver.current_url, "notice": notice[0].text if notice else None}


def wait_for_sign_in(driver, since: float) -> dict:
    found = demo.wait(
        driver, at_sign_in_with_notice, "the sign-in page", timeout=since + BOUND - time.monotonic()
    )
    assert time.monotonic() - since < BOUND
    return found


def test_a_session_deleted_on_the_server_sends_the_open_page_to_sign_in(app, browser, r):
    driver = browser()
    for pattern in REFUSALS:
        driver.allow_console_errors(pattern)
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)

    r.delete(*r.keys("moi-app:session:*"))  # no sign-out: the server just forgot it
    forgotten = time.monotonic()

    found = wait_for_sign_in(driver, forgotten)
    assert found["notice"] == NOTICES["ended"]
    assert found["url"].endswith("/login?next=%2F&notice=ended")


def test_redis_restarted_empty_sends_the_open_page_to_sign_in(isolated_app, browser):
    """The issue's case: the hub drops the socket, the upgrade is refused (403, which
    the page cannot see), and the probe tells it the session is gone."""
    server, redis_server = isolated_app(persist=False)
    driver = browser()
    for pattern in REFUSALS:
        driver.allow_console_errors(pattern)
    demo.login(driver, server.url, demo.new_username())
    demo.wait_connected(driver)

    redis_server.stop()
    demo.wait(driver, lambda d: demo.list_state(d) == "reconnecting", "the list to reconnect")
    redis_server.start()  # empty: every session and account is gone
    restarted = time.monotonic()

    found = wait_for_sign_in(driver, restarted)
    assert found["notice"] == NOTICES["ended"]
    assert "next=%2F" in found["url"]
