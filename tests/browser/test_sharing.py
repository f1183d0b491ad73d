"""Scenarios 7 and 10: who sees which jobs, live, in several browsers and tabs."""

from __future__ import annotations

from tests.browser import demo


def test_two_users_each_see_only_their_own_jobs_live(app, browser):
    alice, bob = browser(), browser()
    demo.login(alice, app.url, demo.new_username("alice"))
    demo.login(bob, app.url, demo.new_username("bob"))
    demo.wait_connected(alice)
    demo.wait_connected(bob)

    # Each page records every row it ever shows from just after its own job was sent,
    # while both jobs run side by side, so a row of the other user's would be caught.
    alices = demo.submit(alice, "countdown", "seconds", "2")
    demo.record_rows(alice)
    bobs = demo.submit(bob, "countdown", "seconds", "2")
    demo.record_rows(bob)

    demo.wait_status(alice, alices, "Success")
    demo.wait_status(bob, bobs, "Success")
    assert [job["id"] for job in demo.jobs(alice)] == [alices]
    assert [job["id"] for job in demo.jobs(bob)] == [bobs]
    assert demo.recorded_rows(alice) == {alices}
    assert demo.recorded_rows(bob) == {bobs}


def test_a_job_sent_in_one_tab_appears_live_in_another(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    first = driver.current_window_handle

    driver.switch_to.new_window("tab")
    second = driver.current_window_handle
    driver.get(f"{app.url}/")
    demo.wait_connected(driver)
    assert demo.jobs(driver) == []
    demo.record_rows(driver)

    driver.switch_to.window(first)
    job_id = demo.submit(driver, "hello", "name", "Two tabs")
    demo.wait_status(driver, job_id, "Success")

    driver.switch_to.window(second)
    done = demo.wait_status(driver, job_id, "Success")
    assert done["name"] == "Hello Two tabs"
    assert demo.recorded_rows(driver) == {job_id}
    assert [job["id"] for job in demo.jobs(driver)] == [job_id]
