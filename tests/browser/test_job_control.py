"""Job control in the browser: Cancel, Hide with its question, times, and the job's page.

Each test runs countdowns (a status and a progress each second) on the session's
two-engine cluster, and cancels whatever it leaves running, so the next test finds
both engines free.
"""

from __future__ import annotations

import json

from selenium.webdriver.common.by import By

from moi import keys
from tests.app.conftest import group_of
from tests.browser import demo

COUNTDOWN = "30"
"""Long enough never to end by itself during a test; every test cancels its countdowns."""
NAME = f"Countdown from {COUNTDOWN} s"
CANCELLED_WITHIN = 10
"""Seconds from a click on Cancel to the row saying so (the library's goal is 2)."""


def signed_in(app, browser, prefix: str = "u"):
    driver = browser()
    user = demo.new_username(prefix)
    demo.login(driver, app.url, user)
    demo.wait_connected(driver)
    return driver, user


def start_countdown(driver, countdowns: list[str], seconds: str = COUNTDOWN) -> str:
    """Submit a countdown and wait until it runs; return its ID."""
    job_id = demo.submit(driver, "countdown", "seconds", seconds)
    countdowns.append(job_id)
    wait_running(driver, job_id)
    return job_id


def wait_running(driver, job_id: str) -> dict:
    def running(d):
        found = demo.job(d, job_id)
        return found if found and found["status"].endswith(" s to go") else None

    return demo.wait(driver, running, f"countdown {job_id} to run")


def click(driver, job_id: str, selector: str) -> None:
    demo.row(driver, job_id).find_element(By.CSS_SELECTOR, selector).click()


def dialog(driver) -> dict | None:
    """The list's Hide question while it is open: its text, its buttons, the focused one."""
    return driver.execute_script(
        """
        const dialog = document.querySelector("dialog.moi-confirm[open]");
        if (!dialog) return null;
        return {
          text: dialog.querySelector(".moi-confirm-text").textContent,
          choices: Array.from(dialog.querySelectorAll("button"), (b) => b.textContent),
          focused: document.activeElement.textContent,
        };
        """
    )


def choose(driver, label: str) -> None:
    """Answer the open Hide question with the button ``label``, and wait until it is gone."""
    demo.wait(driver, dialog, "the Hide question to open")
    driver.find_element(By.XPATH, f"//dialog[@open]//button[text()={json.dumps(label)}]").click()
    demo.wait(driver, lambda d: dialog(d) is None, f"the Hide question to close on {label!r}")


def stored_status(r, job_id: str) -> str:
    return json.loads(r.get(keys.job_key(job_id)))["status"]


def test_cancel_in_the_list_ends_a_countdown_cancelled_in_every_tab(app, browser, countdowns):
    driver, _user = signed_in(app, browser)
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    second = driver.current_window_handle
    driver.get(f"{app.url}/")
    demo.wait_connected(driver)

    driver.switch_to.window(first)
    job_id = start_countdown(driver, countdowns)
    driver.switch_to.window(second)
    shown = wait_running(driver, job_id)
    assert shown["cancel"] == "Cancel"

    driver.switch_to.window(first)
    button = demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "button.moi-job-cancel")
    assert button.get_attribute("aria-label") == f"Cancel {NAME}"
    button.click()
    for window in (first, second):
        driver.switch_to.window(window)
        done = demo.wait_status(driver, job_id, *demo.FINAL, timeout=CANCELLED_WITHIN)
        assert done["status"] == "Cancelled", done
        assert done["cancel"] is None, "an ended job has no Cancel button"
        assert done["ran"].startswith("ran "), done


def test_another_user_cannot_cancel_a_job(app, browser, r, countdowns):
    alice, _ = signed_in(app, browser, "alice")
    job_id = start_countdown(alice, countdowns)
    bob, _ = signed_in(app, browser, "bob")

    bob.set_script_timeout(demo.WAIT)
    reply = bob.execute_async_script(
        """
        const [jobId, done] = arguments;
        const conn = new moi.Connection({path: "/moi-ws/"});
        conn.on("error", (message) => { conn.close(); done(message); });
        conn.cancel(jobId);
        """,
        job_id,
    )
    assert reply.startswith("not jobs of yours: "), reply
    assert reply.endswith("nothing was cancelled"), reply

    # Still running: its countdown goes on, in Redis and in alice's list.
    before = demo.job(alice, job_id)["status"]
    assert stored_status(r, job_id).endswith(" s to go")
    demo.wait(
        alice,
        lambda d: (s := demo.job(d, job_id)["status"]) != before and s.endswith(" s to go"),
        f"countdown {job_id} to go on after bob's cancel",
    )


def test_hide_on_a_running_job_asks_first(app, browser, r, countdowns):
    driver, user = signed_in(app, browser)
    job_id = start_countdown(driver, countdowns)

    click(driver, job_id, "button.moi-job-remove")
    question = demo.wait(driver, dialog, "the Hide question")
    assert question == {
        "text": f"“{NAME}” has not ended. Hiding only takes it off this list: the job goes on.",
        "choices": ["Hide anyway", "Cancel the job", "Keep"],
        "focused": "Keep",
    }
    choose(driver, "Keep")
    assert demo.job(driver, job_id)["status"].endswith(" s to go")
    assert r.sismember(keys.group_jobs_key(group_of(r, user)), job_id)

    click(driver, job_id, "button.moi-job-remove")
    choose(driver, "Cancel the job")
    done = demo.wait_status(driver, job_id, *demo.FINAL, timeout=CANCELLED_WITHIN)
    assert done["status"] == "Cancelled", "the row stays, Cancelled"

    other = start_countdown(driver, countdowns)
    click(driver, other, "button.moi-job-remove")
    choose(driver, "Hide anyway")
    demo.wait(driver, lambda d: demo.job(d, other) is None, f"row {other} to go")
    assert not r.sismember(keys.group_jobs_key(group_of(r, user)), other)
    assert stored_status(r, other).endswith(" s to go"), "hidden, not stopped"


def test_a_cancel_that_comes_after_the_job_ended_says_so_in_the_row(app, browser, r, countdowns):
    driver, _user = signed_in(app, browser)
    job_id = start_countdown(driver, countdowns)
    # The job ends before the cancel arrives, and this tab has not heard of it yet: its
    # end is stored without a notice (the countdown's next step is then refused).
    ended = {**json.loads(r.get(keys.job_key(job_id))), "status": "Success", "result": 0}
    r.set(keys.job_key(job_id), json.dumps(ended), keepttl=True)
    try:
        click(driver, job_id, "button.moi-job-cancel")
        note = demo.wait(
            driver,
            lambda d: d.find_elements(
                By.CSS_SELECTOR, f'[data-job-id="{job_id}"] .moi-job-refused-note'
            ),
            "the row to say the cancel was refused",
        )[0]
        assert note.text.startswith("Not cancelled: already ended"), note.text
        assert note.get_attribute("role") == "alert"
        cancel = demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "button.moi-job-cancel")
        assert cancel.is_enabled() and cancel.text == "Cancel", "the button works again"
        assert stored_status(r, job_id) == "Success", "the refused cancel changed nothing"
    finally:  # the countdown still runs on its engine: interrupt it, as a cancel would
        r.publish(keys.CANCELS, json.dumps({"cancel": job_id}))


def test_times_show_and_tick_while_the_job_runs(app, browser, countdowns):
    driver, _user = signed_in(app, browser)
    job_id = start_countdown(driver, countdowns)

    submitted = demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "time.moi-job-submitted")
    assert submitted.text == "submitted just now"
    assert submitted.get_attribute("title").startswith("Submitted ")
    assert submitted.get_attribute("datetime").endswith("Z")
    first = demo.wait(driver, lambda d: demo.job(d, job_id)["ran"], "the run time to show")
    assert first.startswith("running "), first
    demo.wait(
        driver,
        lambda d: (ran := demo.job(d, job_id)["ran"]) != first and ran.startswith("running "),
        f"the run time to tick on from {first!r}",
    )

    click(driver, job_id, "button.moi-job-cancel")
    done = demo.wait_status(driver, job_id, *demo.FINAL, timeout=CANCELLED_WITHIN)
    assert done["ran"].startswith("ran "), done


def test_a_running_jobs_row_links_to_its_page_whose_cancel_button_ends_it(app, browser, countdowns):
    driver, _user = signed_in(app, browser)
    job_id = start_countdown(driver, countdowns)
    page = f"/result/countdown/{job_id}"
    link = demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "a.moi-job-link")
    assert (link.text, link.get_attribute("aria-label")) == ("Open", f"Open {NAME}")
    assert link.get_attribute("href") == app.url + page

    link.click()
    demo.wait(driver, lambda d: d.find_elements(By.ID, "job-cancel"), "the job's page")
    started = driver.find_element(By.CSS_SELECTOR, "#job-started time.moment")
    assert started.find_element(By.CSS_SELECTOR, ".moment-ago").text == "just now"
    assert not started.get_attribute("title").endswith(" UTC"), "local time in the tooltip"
    ran = driver.find_element(By.ID, "job-duration").text
    demo.wait(
        driver,
        lambda d: d.find_element(By.ID, "job-duration").text not in ("", "—", ran),
        f"the page's run time to tick on from {ran!r}",
    )

    demo.mark_page(driver)
    driver.find_element(By.ID, "job-cancel").click()
    demo.wait(driver, demo.left_marked_page, "the page after Cancel")
    assert driver.current_url == app.url + page
    assert driver.find_element(By.ID, "job-status").text == "Cancelled"
    assert driver.find_element(By.CSS_SELECTOR, "#job-cancelled h2").text == "Cancelled"
    assert driver.find_elements(By.ID, "job-cancel") == []

    driver.get(f"{app.url}/")
    demo.wait_connected(driver)
    assert demo.wait_status(driver, job_id, *demo.FINAL)["status"] == "Cancelled"
