"""The output pane (moi_output.js) on moi's job page, in real Chromium: lines as they are
stored, following the end, find, download, and job text shown as text only."""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from moi import record
from moi.job import submit
from moi.output import Output, fragment
from tests import jobs as test_jobs
from tests.app.conftest import group_of
from tests.browser import demo
from tests.conftest import store_infos

PANE = "#moi-job-output"

LINES_JS = """
return Array.from(document.querySelectorAll('#moi-job-output .moi-line'), (line) => ({
  text: line.textContent,
  kind: line.className.replace('moi-line ', '').split(' ')[0],
  children: line.children.length,
}));
"""

VIEW_JS = """
const box = document.querySelector('#moi-job-output .moi-output-lines');
const jump = document.querySelector('#moi-job-output .moi-output-jump');
return {
  top: box.scrollTop,
  atEnd: box.scrollHeight - box.scrollTop - box.clientHeight <= 8,
  overflows: box.scrollHeight > box.clientHeight + 8,
  jump: !jump.hidden,
  count: box.querySelectorAll('.moi-line').length,
};
"""


@pytest.fixture
def user(app, browser, r):
    """A signed-in browser, its user's moi group and a way to store that group's jobs."""
    driver = browser()
    name = demo.new_username()
    demo.login(driver, app.url, name)
    return driver, group_of(r, name)


def running_job(r, group: str, name: str = "prints") -> str:
    """A job stored Running, in no queue: nothing runs it, the test prints for it."""
    info = record.new_info(group, name, None)
    info.update(status="Running", date_start=record.now())
    store_infos(r, [info])
    return info["id"]


def emit(r, job_id: str, *lines: tuple[str, str] | str) -> None:
    """Store lines of output as the job's engine would (a str is a stdout line)."""
    now = int(time.time() * 1000)
    pairs = [("stdout", line) if isinstance(line, str) else line for line in lines]
    stored = Output(r).append(job_id, 1, [fragment(s, now, t) for s, t in pairs], 3600, 0)
    assert stored == len(pairs)


def open_page(driver, url: str, job_id: str, state: str = "connected") -> None:
    driver.get(f"{url}/jobs/{job_id}")
    demo.wait(
        driver,
        lambda d: (
            d.execute_script(
                f"return document.querySelector('{PANE}')?.getAttribute('data-moi-state');"
            )
            == state
        ),
        f"the output pane to be {state}",
    )


def lines(driver) -> list[dict]:
    return driver.execute_script(LINES_JS)


def texts(driver) -> list[str]:
    return [line["text"] for line in lines(driver)]


def wait_texts(driver, expected: list[str]) -> None:
    demo.wait(driver, lambda d: texts(d) == expected, f"the pane to show {expected[-3:]}…")


def view(driver) -> dict:
    return driver.execute_script(VIEW_JS)


def test_lines_show_in_order_as_they_are_stored(app, user, r):
    driver, group = user
    job_id = running_job(r, group)
    emit(r, job_id, "before the page")
    open_page(driver, app.url, job_id)
    wait_texts(driver, ["before the page"])
    emit(r, job_id, "one", ("stderr", "a warning"), ("log", "WARNING:sample:logged"))
    emit(r, job_id, ("moi", "attempt 2"), "\x1b[31mred\x1b[0m and plain", "")
    expected = ["before the page", "one", "a warning", "WARNING:sample:logged", "attempt 2"]
    wait_texts(driver, [*expected, "red and plain", ""])
    kinds = [line["kind"] for line in lines(driver)]
    assert kinds == ["moi-line-stdout", "moi-line-stdout", "moi-line-stderr", "moi-line-log"] + [
        "moi-line-moi",
        "moi-line-stdout",
        "moi-line-stdout",
    ]
    # A stderr line looks different from a stdout line.
    colours = driver.execute_script(
        "const [a, b] = document.querySelectorAll('#moi-job-output .moi-line');"
        "return [getComputedStyle(a).color, "
        "getComputedStyle(document.querySelector('.moi-line-stderr')).color];"
    )
    assert colours[0] != colours[1]


def test_job_text_shows_as_text(app, user, r):
    driver, group = user
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    job_id = running_job(r, group, name=evil)
    emit(r, job_id, evil, ("stderr", evil))
    open_page(driver, app.url, job_id)
    wait_texts(driver, [evil, evil])
    assert all(line["children"] == 0 for line in lines(driver))
    assert driver.find_element(By.ID, "moi-job-name").text == evil
    assert not driver.find_elements(By.CSS_SELECTOR, "#moi-jobpage img, #moi-job-output script")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading it is the check)


def test_follows_the_end_until_scrolled_up_and_jump_to_end_resumes(app, user, r):
    driver, group = user
    job_id = running_job(r, group)
    open_page(driver, app.url, job_id)
    emit(r, job_id, *[f"line {i}" for i in range(300)])
    wait_texts(driver, [f"line {i}" for i in range(300)])
    shown = view(driver)
    assert shown["overflows"] and shown["atEnd"] and not shown["jump"], shown

    # The reader scrolls up: the pane stops following and offers the way back.
    driver.execute_script(
        "document.querySelector('#moi-job-output .moi-output-lines').scrollTop = 0;"
    )
    demo.wait(driver, lambda d: view(d)["jump"], "the Jump to end button")
    emit(r, job_id, *[f"more {i}" for i in range(100)])
    demo.wait(driver, lambda d: view(d)["count"] == 400, "the new lines")
    shown = view(driver)
    assert shown["top"] == 0 and not shown["atEnd"], "the view stays where the reader left it"

    jump = driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-jump")
    assert jump.tag_name == "button" and jump.text == "Jump to end"
    jump.click()
    demo.wait(driver, lambda d: view(d)["atEnd"] and not view(d)["jump"], "the end, followed")
    emit(r, job_id, *[f"last {i}" for i in range(100)])
    demo.wait(driver, lambda d: view(d)["count"] == 500, "the last lines")
    assert view(driver)["atEnd"], "it follows the end again"


def test_find_marks_and_steps_through_matches(app, user, r):
    driver, group = user
    job_id = running_job(r, group)
    emit(r, job_id, *[f"line {i}" + (" needle" if i in (20, 150, 280) else "") for i in range(300)])
    open_page(driver, app.url, job_id)
    demo.wait(driver, lambda d: view(d)["count"] == 300, "the lines")

    box = driver.find_element(By.CSS_SELECTOR, f"{PANE} input[type=search]")
    label = driver.find_element(By.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']")
    assert label.text == "Find in output"
    box.send_keys("NEEDLE")
    count = driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-count")
    demo.wait(driver, lambda d: count.text == "1 of 3", "the first of 3 matches")
    current = f"{PANE} .moi-match-current"
    assert driver.find_element(By.CSS_SELECTOR, current).text == "line 20 needle"
    assert not view(driver)["atEnd"] and view(driver)["jump"], "a match away from the end"

    driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-next").click()
    assert count.text == "2 of 3"
    assert driver.find_element(By.CSS_SELECTOR, current).text == "line 150 needle"
    box.send_keys(Keys.ENTER)
    assert count.text == "3 of 3"
    driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-prev").click()
    assert count.text == "2 of 3"

    # New lines are searched too; "Only matching lines" hides the rest.
    emit(r, job_id, "a late needle")
    demo.wait(driver, lambda d: count.text == "2 of 4", "the late match counted")
    driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-only input").click()
    visible = driver.execute_script(
        f"return Array.from(document.querySelectorAll('{PANE} .moi-line'))"
        ".filter((l) => l.offsetParent !== null).map((l) => l.textContent);"
    )
    assert visible == ["line 20 needle", "line 150 needle", "line 280 needle", "a late needle"]
    box.send_keys(Keys.ESCAPE)
    demo.wait(driver, lambda d: count.text == "", "the search cleared")
    assert not driver.find_elements(By.CSS_SELECTOR, f"{PANE} .moi-match")


def test_download_gives_the_whole_output(app, user, r):
    driver, group = user
    job_id = running_job(r, group)
    emit(r, job_id, "first", ("stderr", "<b>second</b>"))
    open_page(driver, app.url, job_id)
    wait_texts(driver, ["first", "<b>second</b>"])
    link = driver.find_element(By.CSS_SELECTOR, f"{PANE} a.moi-output-download")
    assert link.text == "Download"
    assert link.get_attribute("href") == f"{app.url}/jobs/{job_id}/output.txt"
    assert link.get_attribute("download") == f"job-{job_id}.txt"
    fetched = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(async (r) => done({status: r.status,"
        " type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'),"
        " text: await r.text()}));",
        link.get_attribute("href"),
    )
    assert fetched == {
        "status": 200,
        "type": "text/plain; charset=utf-8",
        "disposition": f'attachment; filename="job-{job_id}.txt"',
        "text": "first\n<b>second</b>\n",
    }


def test_a_job_that_ends_is_read_to_its_end_and_followed_no_more(app, user, r, settings):
    driver, group = user
    cue = f"cue-{demo.new_username()}"
    job_id = submit(group, "on cue", None, test_jobs.prints_on_cue, settings.redis_url, cue)
    r.rpush(cue, "printed early")
    open_page(driver, app.url, job_id)
    wait_texts(driver, ["printed early"])
    r.rpush(cue, "printed live", "end")
    demo.wait(
        driver,
        lambda d: d.find_element(By.ID, "moi-job-status").text == "Success",
        "the page to show the job's end",
    )
    state = driver.find_element(By.CSS_SELECTOR, f"{PANE} .moi-output-state")
    demo.wait(driver, lambda d: "all of its output" in state.text, "the pane to say it has all")
    assert texts(driver) == ["printed early", "printed live"]
    assert driver.find_element(By.ID, "moi-job-result").text == "done"  # a str as it is

    # Opened again, the ended job's output comes over HTTP, without a socket.
    open_page(driver, app.url, job_id, state="ended")
    wait_texts(driver, ["printed early", "printed live"])
    assert not driver.execute_script("return !!window.moi.Connection;")


def test_a_row_without_a_page_of_its_own_links_to_the_job_page(app, user, r):
    driver, group = user
    job_id = running_job(r, group, name="from the command line")
    driver.get(app.url)
    demo.wait_connected(driver)
    row = demo.wait(driver, lambda d: demo.job(d, job_id), "the job's row")
    assert row["href"] == f"/jobs/{job_id}"
    demo.row(driver, job_id).find_element(By.CSS_SELECTOR, "a.moi-job-link").click()
    demo.wait(driver, lambda d: d.find_elements(By.ID, "moi-jobpage"), "the job's page")
    assert driver.find_element(By.ID, "moi-job-name").text == "from the command line"


def test_the_demos_result_page_shows_the_output_too(app, user, r):
    driver, _group = user
    driver.get(app.url)
    demo.wait_connected(driver)
    job_id = demo.submit(driver, "hello", "name", "Ada")
    demo.wait_status(driver, job_id, "Success")
    emit(r, job_id, "said hello")
    driver.get(f"{app.url}/result/hello/{job_id}")
    demo.wait(
        driver,
        lambda d: (
            d.execute_script(
                "return Array.from(document.querySelectorAll('#job-output .moi-line'),"
                " (l) => l.textContent);"
            )[-1:]
            == ["said hello"]
        ),
        "the result page's output pane",
    )
