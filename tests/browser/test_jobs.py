"""Scenarios 2 to 6 and 8: one user runs jobs and watches the live list."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from moi import keys
from tests.app.conftest import group_of
from tests.browser import demo


def signed_in(app, browser):
    driver = browser()
    user = demo.new_username()
    demo.login(driver, app.url, user)
    demo.wait_connected(driver)
    return driver, user


def open_result(driver, job_id: str, href: str) -> None:
    """Follow the row's link to the job's page, as a person would click it."""
    demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "a.moi-job-link").click()
    demo.wait(
        driver,
        lambda d: d.current_url.endswith(href) and d.find_elements(By.ID, "job"),
        f"the result page {href}",
    )
    assert driver.find_element(By.ID, "job").get_attribute("data-job-id") == job_id


def test_hello_row_turns_success_live_and_links_to_its_page(app, browser):
    driver, _user = signed_in(app, browser)
    # Two countdowns keep both engines busy, so the hello job waits and its row is seen
    # before it ends.
    busy = [demo.submit(driver, "countdown", "seconds", "2") for _ in range(2)]
    for job_id in busy:
        demo.wait_status(driver, job_id, "2 s to go", "1 s to go", "Lift-off", *demo.FINAL)
    job_id = demo.submit(driver, "hello", "name", "Ada")
    first = demo.job(driver, job_id)
    assert first["status"] in ("Queued", "Running", "Saying hello"), first
    assert first["href"] == f"/result/hello/{job_id}", "a job links to its page before it ends"
    demo.record_rows(driver)

    done = demo.wait_status(driver, job_id, *demo.FINAL)
    assert done["status"] == "Success", done
    assert job_id in demo.recorded_rows(driver)  # and the page was not reloaded
    assert done["name"] == "Hello Ada"
    assert done["href"] == f"/result/hello/{job_id}"

    open_result(driver, job_id, done["href"])
    assert driver.find_element(By.ID, "job-status").text == "Success"
    assert driver.find_element(By.ID, "job-result").text == "Hello, Ada!"


def test_failing_job_shows_failed_and_its_traceback(app, browser):
    driver, _user = signed_in(app, browser)
    job_id = demo.submit(driver, "fail", "message", "Boom in a browser test")
    done = demo.wait_status(driver, job_id, *demo.FINAL)
    assert done["status"] == "Failed", done
    assert done["href"] == f"/result/fail/{job_id}"

    open_result(driver, job_id, done["href"])
    assert driver.find_element(By.ID, "job-status").text == "Failed"
    traceback = driver.find_element(By.ID, "job-traceback").text
    assert "Traceback" in traceback
    assert "DemoFailure: Boom in a browser test" in traceback


def test_a_failed_row_says_why_and_its_page_starts_at_the_users_frame(app, browser):
    driver, _user = signed_in(app, browser)
    job_id = demo.submit(driver, "fail", "message", "<i>Out</i> of coffee")
    demo.wait_status(driver, job_id, "Failed")
    reason = demo.wait(
        driver,
        lambda d: demo.row(d, job_id).find_elements(By.CSS_SELECTOR, ".moi-job-reason"),
        "the failure's reason in the row",
    )[0]
    assert reason.text == "app.jobs.DemoFailure: <i>Out</i> of coffee"
    assert not reason.find_elements(By.CSS_SELECTOR, "*")  # text, never markup

    driver.get(f"{app.url}/result/fail/{job_id}")
    traceback = demo.wait(driver, lambda d: d.find_elements(By.ID, "job-traceback"), "the page")[0]
    files = [line for line in traceback.text.splitlines() if line.strip().startswith("File ")]
    assert files and "app/jobs.py" in files[0], traceback.text
    assert not any("/moi/" in line for line in files)
    fold = traceback.find_element(By.CSS_SELECTOR, "details.moi-frames")
    assert fold.find_element(By.TAG_NAME, "summary").text.startswith("moi's frames (")
    fold.find_element(By.TAG_NAME, "summary").click()
    demo.wait(driver, lambda d: "moi/jobprocess.py" in fold.text, "moi's frames, unfolded")


def test_progress_bar_grows_then_the_job_succeeds(app, browser):
    driver, _user = signed_in(app, browser)
    job_id = demo.submit(driver, "countdown", "seconds", "4")
    seen: list[float] = []

    def progress_until_final(d):
        job = demo.job(d, job_id)
        if job and job["progress"] is not None and (not seen or seen[-1] != job["progress"]):
            seen.append(job["progress"])
        return job if job and job["status"] in demo.FINAL else None

    done = demo.wait(driver, progress_until_final, f"countdown {job_id} to end")
    assert done["status"] == "Success", done
    assert len(seen) >= 3, f"saw the progress bar at {seen} only"
    assert seen == sorted(seen), f"the progress bar went backwards: {seen}"
    assert seen[-1] == 1, f"the bar of a finished countdown is not full: {seen}"


def test_batch_of_twenty_shows_twenty_rows_that_all_succeed(app, browser):
    driver, _user = signed_in(app, browser)
    sent = demo.send_form(driver, "batch", "count", "20", expect=20)
    rows = demo.wait_all(driver, sent, "Success")
    ids = [job["id"] for job in rows]
    names = sorted(job["name"] for job in rows)
    assert len(rows) == 20, f"{len(rows)} rows: {rows}"
    assert len(set(ids)) == 20, f"duplicate rows: {ids}"
    assert set(ids) == set(sent)
    assert names == sorted(f"Hello batch {n} of 20" for n in range(1, 21))
    assert driver.execute_script("return window.moiJobList.size") == 20
    rendered = [job["id"] for job in rows if job["rendered"]]
    start = ids.index(rendered[0]) if rendered else 0
    assert rendered and rendered == ids[start : start + len(rendered)], "rows in order, no gap"


def test_hidden_job_disappears_and_stays_gone_after_reload(app, browser, r):
    driver, user = signed_in(app, browser)
    kept = demo.submit(driver, "hello", "name", "Kept")
    hidden = demo.submit(driver, "hello", "name", "Hidden")
    demo.wait_status(driver, kept, "Success")
    demo.wait_status(driver, hidden, "Success")

    button = demo.row(driver, hidden).find_element(By.CSS_SELECTOR, "button.moi-job-remove")
    assert (button.text, button.get_attribute("aria-label")) == ("Hide", "Hide Hello Hidden")
    button.click()  # an ended job: no question asked
    demo.wait(driver, lambda d: demo.job(d, hidden) is None, f"row {hidden} to disappear")
    assert demo.job(driver, kept) is not None, "Hide took away the other row too"
    assert not r.sismember(keys.group_jobs_key(group_of(r, user)), hidden)

    driver.refresh()
    demo.wait_connected(driver)
    demo.wait_status(driver, kept, "Success")
    assert [job["id"] for job in demo.jobs(driver)] == [kept]


def test_job_name_with_markup_is_shown_as_text(app, browser):
    driver, _user = signed_in(app, browser)
    title = driver.title
    name = """<img src=x onerror="document.title='pwned'">"""
    job_id = demo.submit(driver, "hello", "name", name)
    done = demo.wait_status(driver, job_id, "Success")
    assert done["name"] == f"Hello {name}"
    assert driver.find_elements(By.CSS_SELECTOR, "#moi-joblist img") == []
    assert driver.title == title == "Your jobs · moi demo"

    open_result(driver, job_id, done["href"])
    assert driver.find_element(By.ID, "job-name").text == f"Hello {name}"
    assert driver.find_element(By.ID, "job-result").text == f"Hello, {name}!"
    assert driver.find_elements(By.CSS_SELECTOR, "#job img") == []
    assert driver.title == f"Hello {name} · moi demo"


SCROLLERS_JS = """
return [...document.querySelectorAll("body *")]
  .filter((el) => /auto|scroll/.test(getComputedStyle(el).overflowY))
  .filter((el) => el.scrollHeight > el.clientHeight)
  .map((el) => el.id || el.className);
"""


def test_a_long_list_on_a_wide_screen_scrolls_with_the_page_alone(app, browser):
    driver, _user = signed_in(app, browser)
    demo.viewport(driver, 1280, 800)
    demo.send_form(driver, "batch", "count", "30", expect=30)
    demo.wait(
        driver,
        lambda d: d.find_element(By.ID, "jobs").rect["height"] > 800,
        "a list taller than the window",
    )
    assert driver.execute_script(SCROLLERS_JS) == [], "a second scrollbar, in a box"
    assert driver.execute_script(
        "return document.documentElement.scrollHeight > window.innerHeight"
    ), "the page itself scrolls"
