"""The account page in a browser: its dates in local time, and a new token whole and copyable."""

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


def test_the_account_page_shows_dates_in_local_time_as_job_pages_do(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    make_token(driver, app.url)
    made = driver.find_element(By.CSS_SELECTOR, ".token-created time")
    assert made.get_attribute("title").endswith(" UTC"), "UTC in the tooltip"
    assert not made.text.endswith(" UTC"), "the browser's local time in the text"
    assert made.text == driver.execute_script(
        "return new Date(arguments[0]).toLocaleString(undefined,"
        " {dateStyle: 'medium', timeStyle: 'medium'});",
        made.get_attribute("datetime"),
    )
