"""The demo on a phone (390 × 844): the job just started is in view, nothing scrolls sideways."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser import demo

PHONE = (390, 844)

IN_VIEW_JS = """
const rect = arguments[0].getBoundingClientRect();
return rect.top >= 0 && rect.bottom <= window.innerHeight && rect.height > 0;
"""
SIDEWAYS_JS = "return [document.documentElement.scrollWidth, window.innerWidth];"


def on_a_phone(app, browser):
    driver = browser()
    demo.viewport(driver, *PHONE, mobile=True)
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    return driver


def assert_no_sideways_scroll(driver) -> None:
    width, viewport = driver.execute_script(SIDEWAYS_JS)
    assert width <= viewport, f"{driver.current_url} is {width} px wide on a {viewport} px screen"


def test_a_job_submitted_on_a_phone_is_in_view_when_the_page_comes_back(app, browser):
    driver = on_a_phone(app, browser)
    assert driver.execute_script("return window.innerWidth") == PHONE[0]
    demo.send_form(driver, "batch", "count", "8", expect=8)  # a list taller than the screen
    job_id = demo.submit(driver, "hello", "name", "Ada")  # its form is below the list
    row = demo.row(driver, job_id)
    assert driver.execute_script(IN_VIEW_JS, row), (
        f"the new job's row is out of view: {row.rect}, scrolled to "
        f"{driver.execute_script('return window.scrollY')}"
    )
    jobs, forms = (driver.find_element(By.ID, name).rect["y"] for name in ("jobs", "forms"))
    assert jobs < forms, "on a phone the list comes first"
    assert_no_sideways_scroll(driver)


def test_a_refused_form_on_a_phone_is_brought_into_view(app, browser):
    driver = on_a_phone(app, browser)
    driver.allow_console_errors(demo.REFUSED.format(path="jobs/countdown"))
    batch = demo.send_form(driver, "batch", "count", "8", expect=8)  # a list taller than the screen
    box = driver.find_element(By.ID, "countdown-seconds")
    box.clear()
    box.send_keys("999")
    demo.mark_page(driver)
    driver.find_element(By.ID, "countdown-submit").click()
    demo.wait(driver, demo.left_marked_page, "the refused form to come back")
    # The list fills in after the page has come back, above the form: the message stays in view.
    demo.wait(
        driver,
        lambda d: {job["id"] for job in demo.jobs(d) if not job["pending"]} >= set(batch),
        "the list's rows",
    )
    error = driver.find_element(By.ID, "countdown-error")
    assert driver.find_element(By.ID, "jobs").rect["height"] > PHONE[1] / 2
    demo.wait(driver, lambda d: d.execute_script(IN_VIEW_JS, error), "the form's message in view")
    # The message has the focus (read out as an alert); the field it describes is next.
    assert driver.switch_to.active_element == error
    assert error.get_attribute("role") == "alert"
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element == driver.find_element(By.ID, "countdown-seconds")


def test_a_failed_jobs_traceback_wraps_on_a_phone(app, browser):
    driver = on_a_phone(app, browser)
    message = "no-space-" * 22  # one long word, as a path or a repr may be
    job_id = demo.submit(driver, "fail", "message", message)
    done = demo.wait_status(driver, job_id, *demo.FINAL)
    assert done["status"] == "Failed", done
    driver.get(f"{app.url}{done['href']}")
    traceback = demo.wait(driver, lambda d: d.find_elements(By.ID, "job-traceback"), "the page")
    assert message.strip("-") in traceback[0].text.replace("\n", "")
    assert_no_sideways_scroll(driver)
    inner, box = driver.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth];", traceback[0]
    )
    assert inner <= box, "the traceback wraps rather than scrolling sideways"
