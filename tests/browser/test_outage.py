"""Redis away for a while: the open page says it is not live, and shows the truth soon
after Redis is back.

Issue 22: with Redis away 35 s the list showed final states 27 s after Redis was back,
its reconnect backoff grown to 30 s. Now moi.js waits at most 3 s between tries (full
jitter), asks the probe while the server is away, and reconnects as soon as it answers.
"""

from __future__ import annotations

import datetime
import json
import time

import redis
from selenium.webdriver.common.by import By

from tests.browser import demo
from tests.browser.test_session_gone import REFUSALS

AWAY = 10
"""Seconds Redis stays away (the fault's length, not a wait for a condition)."""
BOUND = 5
"""Seconds from Redis's return to the final state on the page (issue 22)."""


def badge_suffix(driver, job_id: str) -> str:
    """What moi.css adds after the job's status badge ("none" if nothing)."""
    return driver.execute_script(
        "const row = document.querySelector(`#moi-joblist [data-job-id='${arguments[0]}']`);"
        "return getComputedStyle(row.querySelector('.moi-status'), '::after').content;",
        job_id,
    )


def page_status(driver) -> str | None:
    """The status on a job's own page (None between two loads of it)."""
    found = driver.find_elements(By.ID, "job-status")
    return found[0].text if found else None


def page_badge_suffix(driver) -> str:
    """The same on a job's own page."""
    return driver.execute_script(
        "return getComputedStyle(document.getElementById('job-status'), '::after').content;"
    )


def test_a_job_that_ended_while_redis_was_away_shows_its_end_soon_after(isolated_app, browser):
    server, redis_server = isolated_app(persist=True)
    driver, job_page = browser(), browser()  # the list, and the job's own page
    for pattern in REFUSALS:
        driver.allow_console_errors(pattern)
        job_page.allow_console_errors(pattern)
    user = demo.new_username()
    demo.login(driver, server.url, user)
    demo.wait_connected(driver)
    job_id = demo.submit(driver, "countdown", "seconds", "8")  # ends within the outage
    demo.login(job_page, server.url, user)
    job_page.get(f"{server.url}/result/countdown/{job_id}")
    demo.wait(
        job_page,
        lambda d: (page_status(d) or "").endswith("s to go"),
        "the job's page to follow the countdown",
    )
    demo.wait_status(driver, job_id, *(f"{n} s to go" for n in range(1, 9)))
    assert badge_suffix(driver, job_id) == "none"
    assert page_badge_suffix(job_page) == "none"
    demo.record_rows(driver)

    redis_server.stop()
    stopped = time.monotonic()
    demo.wait(driver, lambda d: demo.list_state(d) == "reconnecting", "the list to reconnect")
    # The frozen countdown says that it is not live.
    demo.wait(
        driver, lambda d: badge_suffix(d, job_id) == '" (not live)"', "the row to say not live"
    )
    demo.wait(job_page, lambda d: page_badge_suffix(d) == '" (not live)"', "the page to say so")
    assert demo.job(driver, job_id)["status"] not in demo.FINAL

    time.sleep(max(0.0, stopped + AWAY - time.monotonic()))  # the outage itself
    redis_server.start()  # the same data; the job's final write has waited for it
    back = time.monotonic()
    back_wall = datetime.datetime.now(datetime.UTC)

    done = demo.wait_status(driver, job_id, "Success", timeout=back + BOUND - time.monotonic())
    took = time.monotonic() - back
    assert took < BOUND, f"the page showed the end {took:.1f} s after Redis was back"
    assert done["progress"] == 1
    assert badge_suffix(driver, job_id) == "none"
    assert demo.list_state(driver) == "connected"
    assert demo.recorded_rows(driver) == {job_id}, "the page reloaded or showed other rows"
    # The job's page reloads itself when the job ends, and the server renders the result.
    demo.wait(
        job_page,
        lambda d: page_status(d) == "Success",
        "the job's page to show Success",
        timeout=back + BOUND - time.monotonic(),
    )
    # It did end during the outage: its end was stored only once Redis was back.
    with redis.Redis.from_url(redis_server.url) as client:
        ended = json.loads(client.get(job_id))["date_end"]
    assert datetime.datetime.fromisoformat(ended).replace(tzinfo=datetime.UTC) < back_wall
