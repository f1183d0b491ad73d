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
