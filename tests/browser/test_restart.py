"""Scenario 9: the app server restarts while a job runs; the page rides it out."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from moi import job
from tests.browser import demo

RECONNECT_WAIT = 10
"""Seconds for the page to reconnect: it asks the probe at most 2 s apart (moi.js)."""


def indicator(driver) -> tuple[str | None, str]:
    state = driver.find_element(By.ID, "moi-state")
    return state.get_attribute("data-state"), state.text


def test_page_reconnects_after_a_restart_and_shows_the_final_status(own_app, browser):
    driver = browser()
    driver.allow_console_errors(r"WebSocket connection to '\S+/moi-ws/' failed")
    driver.allow_console_errors(r"/moi-ws/ready - Failed to load resource: net::ERR_CONNECTION")
    demo.login(driver, own_app.url, demo.new_username())
    demo.wait_connected(driver)
    job_id = demo.submit(driver, "countdown", "seconds", "5")
    running = demo.wait_status(driver, job_id, *(f"{n} s to go" for n in range(1, 6)))
    demo.record_rows(driver)

    assert own_app.stop() == 0, f"the app did not exit cleanly:\n{own_app.log()}"
    status = job.get(job_id)["status"]
    assert status not in demo.FINAL, f"the job ended ({status}) before the app stopped"
    demo.wait(driver, lambda d: demo.list_state(d) == "reconnecting", "the list to reconnect")
    assert indicator(driver) == ("reconnecting", "Reconnecting…")

    # The job ends while no server is there to tell the page.
    assert job.wait(job_id, timeout=30)["status"] == "Success"
    shown = demo.job(driver, job_id)
    assert shown["status"] not in demo.FINAL, f"the page knew the end with no server: {shown}"
    assert shown["progress"] >= running["progress"]

    own_app.start()
    demo.wait(
        driver,
        lambda d: demo.list_state(d) == "connected",
        "the page to reconnect to the restarted app",
        timeout=RECONNECT_WAIT,
    )
    done = demo.wait_status(driver, job_id, "Success")
    assert done["progress"] == 1
    assert done["href"] == f"/result/countdown/{job_id}"
    assert indicator(driver) == ("connected", "Live")
    assert demo.recorded_rows(driver) == {job_id}, "the page reloaded or showed other rows"
    assert [row["id"] for row in demo.jobs(driver)] == [job_id]
