"""The cluster page in Chromium: engines and jobs waiting, live from the dispatcher."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from moi import job as moi_job
from tests import jobs
from tests.browser import demo


def figure(driver, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'[data-moi-cluster="{key}"]').text


def test_the_cluster_page_shows_engines_and_jobs_waiting_live(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    driver.get(f"{app.url}/cluster")
    demo.wait(
        driver,
        lambda d: figure(d, "engines").endswith(" of 2"),  # the session's cluster: 2 engines
        "the panel to show the engines",
    )
    assert figure(driver, "waiting") == "0" and figure(driver, "mine") == "0"
    assert figure(driver, "controller") == "reachable"
    region = driver.find_element(By.ID, "moi-cluster-state")
    assert region.get_attribute("role") == "region"
    assert region.get_attribute("aria-labelledby") == "cluster-heading"
    chart = region.find_element(By.CSS_SELECTOR, "svg[role=img]")
    assert (
        chart.find_element(By.TAG_NAME, "title")
        .get_attribute("textContent")
        .startswith("Jobs per minute, last hour: ")
    )
    # A job ends: the count of this minute goes up, with no reload.
    before = driver.find_element(By.CLASS_NAME, "moi-cluster-caption").text
    moi_job.wait(moi_job.submit("someone", "double", None, jobs.double, 1), timeout=30)
    demo.wait(
        driver,
        lambda d: d.find_element(By.CLASS_NAME, "moi-cluster-caption").text != before,
        "the jobs per minute to count the job that ended",
    )
    assert "this minute" in driver.find_element(By.CLASS_NAME, "moi-cluster-caption").text


def test_the_index_shows_the_cluster_beside_the_list(app, browser):
    driver = browser()
    demo.login(driver, app.url, demo.new_username())
    demo.wait_connected(driver)
    demo.wait(
        driver,
        lambda d: figure(d, "engines").endswith(" of 2"),
        "the index's panel to show the engines",
    )
    assert figure(driver, "controller") == "reachable"
    assert driver.find_element(By.ID, "moi-joblist").is_displayed()
