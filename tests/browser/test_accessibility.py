"""Contrast, measured in Chromium from the computed CSS colours, and accessible names.

Contrast is WCAG 2.x's: the ratio of the relative luminances of the text colour and the
colour behind it (semi-transparent backgrounds and opacity composited), at least 4.5:1,
or 3:1 for large text (24 px, or 18.66 px bold). Every visible piece of text on each page
visited is measured, and badges of every status besides those the list happens to show.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser import demo
from tests.browser.contrast import low_contrast, prefer_scheme, surface_luminance

BADGES_JS = """
const box = document.createElement("div");
box.id = "badge-samples";
box.className = "panel";
for (const [text, slug, final] of arguments[0]) {
  const badge = document.createElement("span");
  badge.className = "moi-status moi-status-" + slug + (final ? " moi-status-final" : "");
  badge.textContent = text;
  box.append(badge);
}
document.querySelector("main").append(box);
"""

STATUSES = [
    ("Success", "success", True),
    ("Failed", "failed", True),
    ("Cancelled", "cancelled", True),
    ("Queued", "queued", False),
    ("Running", "running", False),
    ("…", "pending", False),
    ("3 s to go", "3-s-to-go", False),  # a job's own status text
    ("Saying hello", "saying-hello", False),
]


def check_page(driver, seen: dict[str, list[dict]]) -> None:
    seen[driver.current_url] = low_contrast(driver)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_and_badge_has_enough_contrast(app, browser, countdowns, scheme):
    driver = browser()
    prefer_scheme(driver, scheme)
    driver.allow_console_errors(demo.REFUSED.format(path="signup"))
    failures: dict[str, list[dict]] = {}
    driver.get(f"{app.url}/signup")
    driver.find_element(By.ID, "signup-submit").click()  # a refusal: its message too
    demo.wait(driver, lambda d: d.find_elements(By.ID, "signup-error"), "the refusal")
    check_page(driver, failures)
    # The demo follows the system's scheme: a dark page in a dark system, not a light one.
    ground = surface_luminance(driver, driver.find_element(By.TAG_NAME, "body"))
    assert ground < 0.05 if scheme == "dark" else ground > 0.8, ground

    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    hello = demo.submit(driver, "hello", "name", "Ada")
    failed = demo.submit(driver, "fail", "message", "Out of coffee")
    cancelled = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(cancelled)
    demo.row(driver, cancelled).find_element(By.CSS_SELECTOR, ".moi-job-cancel").click()
    running = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(running)
    demo.wait_all(driver, [hello, failed, cancelled], *demo.FINAL)
    own = demo.wait(
        driver,
        lambda d: (job := demo.job(d, running)) and job["status"].endswith(" s to go") and job,
        "the countdown's own status",
    )
    driver.execute_script(BADGES_JS, STATUSES)
    check_page(driver, failures)
    listed = surface_luminance(driver, driver.find_element(By.ID, "moi-joblist"))
    assert listed < 0.05 if scheme == "dark" else listed > 0.8, listed

    hrefs = {job["id"]: job["href"] for job in demo.jobs(driver)}
    for job_id in (running, failed, hello):
        driver.get(f"{app.url}{hrefs[job_id]}")
        demo.wait(driver, lambda d: d.find_elements(By.ID, "job"), f"the page of {job_id}")
        check_page(driver, failures)

    failures = {url: found for url, found in failures.items() if found}
    assert not failures, f"text below 4.5:1 (3:1 if large), by page: {failures}"
    assert own["status"].endswith(" s to go")


def test_a_jobs_own_status_looks_informative_not_like_a_warning(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    driver.execute_script(BADGES_JS, STATUSES)
    colours = driver.execute_script(
        """
        const look = (el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor];
        const root = getComputedStyle(document.documentElement);
        const probe = document.createElement("p");
        probe.className = "notice";
        document.querySelector("main").append(probe);
        return {
          own: look(document.querySelector("#badge-samples .moi-status-3-s-to-go")),
          warning: look(probe),
          info: root.getPropertyValue("--info-soft").trim(),
        };
        """
    )
    assert colours["own"] != colours["warning"]
    assert colours["own"][1] == hex_to_rgb(colours["info"])


def hex_to_rgb(text: str) -> str:
    value = text.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


def test_links_and_progress_bars_in_the_list_have_names_of_their_own(app, browser, countdowns):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    done = [demo.submit(driver, "hello", "name", name) for name in ("Ada", "Grace")]
    running = demo.submit(driver, "countdown", "seconds", "30")
    countdowns.append(running)
    demo.wait_all(driver, done, "Success")
    demo.wait(driver, lambda d: demo.job(d, running)["progress"] is not None, "a progress bar")
    rows = driver.find_elements(By.CSS_SELECTOR, "#moi-joblist .moi-job")
    links, bars = [], []
    for row in rows:
        name = row.find_element(By.CSS_SELECTOR, ".moi-job-name").text
        for link in row.find_elements(By.CSS_SELECTOR, "a.moi-job-link"):
            assert link.accessible_name == f"Open {name}"
            links.append(link.accessible_name)
        for bar in row.find_elements(By.CSS_SELECTOR, "progress"):
            assert bar.accessible_name == f"{name} progress"
            bars.append(bar.accessible_name)
        for button in row.find_elements(By.CSS_SELECTOR, "button"):
            assert button.accessible_name.endswith(f" {name}"), button.accessible_name
    assert len(links) == len(set(links)) == 3, links
    assert bars == ["Countdown from 30 s progress"]

    driver.get(f"{app.url}/result/countdown/{running}")
    bar = demo.wait(driver, lambda d: d.find_elements(By.ID, "job-progress"), "the job's page")
    assert bar[0].accessible_name == "Countdown from 30 s progress"


def test_placeholders_read_as_examples_not_as_typed_values(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    for field in driver.find_elements(By.CSS_SELECTOR, ".job-form input[placeholder]"):
        assert field.get_attribute("placeholder").startswith("e.g. ")
        typed, placeholder = driver.execute_script(
            "const el = arguments[0];"
            "return [getComputedStyle(el), getComputedStyle(el, '::placeholder')]"
            ".map((s) => [s.color, s.fontStyle]);",
            field,
        )
        assert placeholder[0] != typed[0] and placeholder[1] == "italic"


TAB_STOPS_JS = """
const main = document.querySelector("main");
const stops = "a[href], button, input:not([type=hidden]), textarea, [tabindex='0']";
return [...main.querySelectorAll(stops)]
  .filter((el) => el.getClientRects().length > 0)
  .map((el) => el.closest("section")?.id || null);
"""


def test_on_a_wide_screen_tab_follows_the_columns_and_a_link_skips_the_list(app, browser):
    driver = browser()
    demo.viewport(driver, 1280, 900)
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    done = [demo.submit(driver, "hello", "name", name) for name in ("Ada", "Grace")]
    demo.wait_all(driver, done, "Success")
    jobs, forms = (driver.find_element(By.ID, name).rect for name in ("jobs", "forms"))
    assert jobs["x"] + jobs["width"] <= forms["x"], "two columns, the list on the left"
    stops = [section for section in driver.execute_script(TAB_STOPS_JS) if section]
    assert stops[0] == "jobs" and stops[-1] == "forms", stops
    assert stops == sorted(stops, key=["jobs", "forms"].index), "Tab goes column by column"

    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = driver.switch_to.active_element
    assert skip.text == "Skip to the forms" and skip.is_displayed()
    skip.send_keys(Keys.ENTER)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element == driver.find_element(By.ID, "hello-name")


def test_other_pages_skip_to_their_main_content(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    driver.get(f"{app.url}/account")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = driver.switch_to.active_element
    assert skip.text == "Skip to main content"
    skip.send_keys(Keys.ENTER)
    assert driver.switch_to.active_element == driver.find_element(By.ID, "content")


def test_the_list_says_a_jobs_end_in_a_polite_region_of_its_own(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    job_id = demo.submit(driver, "countdown", "seconds", "3")  # seen running, then ending
    region = driver.find_element(By.CSS_SELECTOR, "#moi-joblist + .moi-announce")
    assert region.get_attribute("role") == "status"
    assert region.get_attribute("textContent") == ""  # nothing said for the rows put in
    demo.wait_status(driver, job_id, "Success")
    demo.wait(
        driver,
        lambda d: region.get_attribute("textContent") == "Countdown from 3 s: Success",
        "the end said aloud",
    )
