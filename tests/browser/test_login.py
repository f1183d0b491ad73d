"""Scenario 1: a new user signs in and sees an empty, live job list."""

from selenium.webdriver.common.by import By

from tests.browser import demo


def test_new_user_sees_an_empty_job_list(app, browser):
    driver = browser()
    user = demo.new_username()
    demo.login(driver, app.url, user)
    demo.wait_connected(driver)
    empty = demo.wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#moi-joblist .moi-empty"),
        "the empty-list text",
    )
    assert empty[0].is_displayed()
    assert empty[0].text == "No jobs yet. Run one with a form on this page."
    assert demo.jobs(driver) == []
    assert driver.find_element(By.ID, "moi-state").get_attribute("data-state") == "connected"


def test_signing_out_in_one_tab_sends_the_other_tab_to_sign_in(app, browser):
    driver = browser()
    user = demo.new_username()
    demo.login(driver, app.url, user)
    demo.wait_connected(driver)
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")  # the same browser: the same session cookie
    driver.get(f"{app.url}/")
    demo.wait_connected(driver)
    second = driver.current_window_handle

    driver.switch_to.window(first)
    driver.get(f"{app.url}/logout")
    driver.find_element(By.CSS_SELECTOR, "#logout-page-form button[type=submit]").click()
    demo.wait(driver, lambda d: "/login" in d.current_url, "the first tab at the sign-in page")

    # Nobody touches the second tab: its live list is closed by the server, and it goes.
    driver.switch_to.window(second)
    demo.wait(
        driver,
        lambda d: d.find_elements(By.ID, "login-username"),
        "the second tab to go to the sign-in page by itself",
    )
    assert "/login?next=" in driver.current_url
