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


def refusal(driver, form: str) -> str:
    """Send the ``login`` or ``signup`` form shown, and return the refusal on the new page."""
    demo.mark_page(driver)
    driver.find_element(By.ID, f"{form}-submit").click()
    demo.wait(driver, demo.left_marked_page, f"the {form} form to come back")
    return driver.find_element(By.ID, f"{form}-error").text


def test_sign_in_and_creating_an_account_are_separate_choices(app, browser):
    driver = browser()
    user = demo.new_username()
    demo.login(driver, app.url, user)  # a new name: refused, then made on the other form
    demo.sign_out(driver)
    assert driver.find_element(By.ID, "notice").text == "You are signed out."
    driver.allow_console_errors(demo.REFUSED.format(path="signup"))  # refusals are 400s

    # A mistyped name makes no account; it reads exactly as a wrong password does.
    refusals = []
    for name, password in [(user + "x", demo.PASSWORD), (user, "not the password")]:
        driver.find_element(By.ID, "login-username").send_keys(name)
        driver.find_element(By.ID, "login-password").send_keys(password)
        refusals.append(refusal(driver, "login"))
        driver.find_element(By.ID, "login-username").clear()
    assert refusals == ["Wrong name or password."] * 2
    assert not driver.find_elements(By.ID, "current-user")

    # Creating an account wants the password twice, and a name nobody has.
    driver.find_element(By.ID, "signup-link").click()
    demo.wait(driver, lambda d: d.find_elements(By.ID, "signup-form"), "the create-account page")
    driver.find_element(By.ID, "signup-username").send_keys(user)
    driver.find_element(By.ID, "signup-password").send_keys("a brand new passphrase")
    driver.find_element(By.ID, "signup-confirm").send_keys("a brand new passphrase!")
    assert refusal(driver, "signup") == "The two passwords differ: type the same password twice."
    for field in ("signup-password", "signup-confirm"):
        driver.find_element(By.ID, field).send_keys("a brand new passphrase")
    assert refusal(driver, "signup") == f"The username {user} is taken: choose another, or sign in."


def test_a_stale_form_after_signing_out_elsewhere_leads_to_sign_in_and_back(app, browser):
    driver = browser()
    user = demo.new_username()
    demo.login(driver, app.url, user)
    index = driver.current_window_handle
    driver.switch_to.new_window("tab")  # the same browser: the same session cookie
    driver.get(f"{app.url}/account")  # a page without a live list to notice the sign-out
    account = driver.current_window_handle
    driver.find_element(By.ID, "token-name").send_keys("laptop")

    driver.switch_to.window(index)
    demo.sign_out(driver)

    driver.switch_to.window(account)
    demo.mark_page(driver)
    driver.find_element(By.ID, "token-submit").click()
    demo.wait(driver, demo.left_marked_page, "the stale form to be sent")
    notice = demo.wait(driver, lambda d: d.find_elements(By.ID, "notice"), "the sign-in page")
    assert notice[0].text == "You were signed out, so that form was not sent. Sign in to go on."
    assert driver.find_elements(By.ID, "login-form")
    assert "403" not in driver.title
    driver.find_element(By.ID, "login-username").send_keys(user)
    driver.find_element(By.ID, "login-password").send_keys(demo.PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    demo.wait(driver, lambda d: d.find_elements(By.ID, "token-form"), "the account page again")
    assert driver.current_url == f"{app.url}/account"
    assert not driver.find_elements(By.CSS_SELECTOR, "#token-list .token")  # nothing was made
