"""The account page in a browser: its dates as "5 minutes ago" with the local time on hover,
and a new token whole and copyable."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser import demo
from tests.browser.test_phone import PHONE, assert_no_sideways_scroll

WHOLE_JS = """
const el = arguments[0];
return [el.scrollWidth <= el.clientWidth, el.scrollHeight <= el.clientHeight];
"""


def make_token(driver, base_url: str) -> None:
    driver.get(f"{base_url}/account")
    driver.find_element(By.ID, "token-name").send_keys("laptop")
    demo.mark_page(driver)
    driver.find_element(By.ID, "token-submit").click()
    demo.wait(driver, demo.left_marked_page, "the account page with the new token")


def test_a_new_token_shows_whole_on_a_phone_and_its_copy_button_copies_it(app, browser):
    driver = browser()
    demo.viewport(driver, *PHONE, mobile=True)
    demo.login(driver, app.url, demo.new_username())
    make_token(driver, app.url)
    token = driver.find_element(By.ID, "new-token")
    value = token.get_attribute("value")
    assert len(value) > 30
    assert driver.execute_script(WHOLE_JS, token) == [True, True], "the token is cut off"
    assert_no_sideways_scroll(driver)

    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": app.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    copy = driver.find_element(By.ID, "new-token-copy")
    assert copy.is_displayed() and copy.text == "Copy"
    copy.click()
    said = driver.find_element(By.ID, "new-token-copied")
    demo.wait(driver, lambda d: said.text == "Copied.", "the copy to be confirmed")
    pasted = driver.execute_async_script(
        "const done = arguments[0];"
        "navigator.clipboard.readText().then(done, (e) => done(String(e)));"
    )
    assert pasted == value


CLOCK_JS = """
// Before the page's own scripts: a clock the test moves on (t.later(ms)), and every
// setInterval kept (t.intervals), so that the test can count the timers and run them.
const realNow = Date.now.bind(Date);
const realSetInterval = window.setInterval.bind(window);
let shift = 0;
Date.now = () => realNow() + shift;
window.t = {intervals: [], later: (ms) => (shift += ms)};
window.setInterval = (fn, ms, ...args) => {
  window.t.intervals.push({fn, ms});
  return realSetInterval(fn, ms, ...args);
};
"""

MOMENT_JS = """
const time = arguments[0];
return {
  datetime: time.getAttribute("datetime"),
  ago: time.querySelector(".moment-ago").textContent,
  said: time.querySelector(".visually-hidden").textContent,
  title: time.title,
  local: new Date(time.getAttribute("datetime"))
    .toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"}),
};
"""

TICK_JS = "for (const timer of t.intervals) if (timer.ms === 30000) timer.fn();"


def account_page_on_a_clock(app, browser):
    """A browser on the account page with a new token, its clock movable (``CLOCK_JS``)."""
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CLOCK_JS})
    make_token(driver, app.url)
    return driver


def test_the_account_page_says_how_long_ago_its_dates_are_local_time_on_hover(app, browser):
    driver = account_page_on_a_clock(app, browser)
    made = driver.find_element(By.CSS_SELECTOR, ".token-created time.moment")
    shown = driver.execute_script(MOMENT_JS, made)
    assert shown["ago"] == "just now"
    assert shown["title"] == shown["local"], "the local date and time on hover"
    assert shown["said"] == f" ({shown['local']})", "and for screen readers"
    assert not shown["title"].endswith(" UTC")
    assert driver.find_element(By.CSS_SELECTOR, ".token-used").text == "never"
    expires = driver.execute_script(
        MOMENT_JS, driver.find_element(By.CSS_SELECTOR, ".token-expires time.moment")
    )
    assert expires["ago"].startswith("on "), expires  # 90 days ahead: its date

    intervals = driver.execute_script("return t.intervals.map((timer) => timer.ms);")
    assert intervals == [30000], "one timer for all the dates, every 30 s"
    driver.execute_script("t.later(5 * 60 * 1000 + 1000);" + TICK_JS)
    later = driver.execute_script(MOMENT_JS, made)
    assert later == {**shown, "ago": "5 minutes ago"}


MINUTE, HOUR, DAY = 60, 3600, 86400


def test_dates_say_how_far_they_are_behind_or_ahead_in_the_lists_words(app, browser):
    driver = account_page_on_a_clock(app, browser)
    # Times ahead stay clear of a unit's edge: the clock moves on before the page's tick.
    offsets = [
        -30, 30, -150, 150, -(3 * HOUR + 10 * MINUTE), 3 * HOUR + 10 * MINUTE,
        -(DAY + 2 * HOUR), DAY + 2 * HOUR, -3 * DAY, 3 * DAY + 2 * HOUR, -10 * DAY, 10 * DAY,
    ]  # fmt: skip
    texts = driver.execute_script(
        """
        const times = arguments[0].map((seconds) => {
          const time = document.createElement("time");
          time.className = "moment";
          time.setAttribute("datetime", new Date(Date.now() + seconds * 1000).toISOString());
          document.body.append(time);
          return time;
        });
        """
        + TICK_JS
        + "return times.map((time) => time.querySelector('.moment-ago').textContent);",
        offsets,
    )
    assert texts[:10] == [
        "just now",
        "just now",
        "2 minutes ago",
        "in 2 minutes",
        "3 hours ago",
        "in 3 hours",
        "yesterday",
        "tomorrow",
        "3 days ago",
        "in 3 days",
    ]
    assert all(text.startswith("on ") for text in texts[10:]), texts
