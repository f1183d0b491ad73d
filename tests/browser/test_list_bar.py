"""The job list's toolbar on the demo's index (moi_listbar.js): filters with live counts,
search, sort, the state in the URL, bulk Hide and Cancel, the title's count, notifications.

Jobs that only need to have ended are stored in the user's group as an engine leaves
them (and announced, as a submit does), so a test has many of them at once; jobs that
must run or change state live are real countdowns on the session's cluster, cancelled
at the end of the test whatever happens (``countdowns``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from app import samples
from moi import groupset, keys, record
from tests.app.conftest import group_of, wait_for_status
from tests.browser import demo

TITLE = "Your jobs · moi demo"
LONG = "30"
"""A countdown that never ends by itself during a test; each is cancelled at its end."""

BAR_JS = """
const bar = document.getElementById('moi-listbar');
const one = (selector) => bar.querySelector(selector);
const button = (selector) => {
  const el = one(selector);
  if (!el) return null;
  return {text: el.textContent, disabled: el.disabled, pressed: el.getAttribute('aria-pressed')};
};
const filters = Array.from(bar.querySelectorAll('.moi-listbar-filter'));
const count = (b) => Number(b.querySelector('.moi-listbar-count').textContent.replace(/\\D/g, ''));
return {
  counts: Object.fromEntries(filters.map((b) => [b.dataset.filter, count(b)])),
  pressed: filters.filter((b) => b.ariaPressed === 'true').map((b) => b.dataset.filter),
  shown: one('.moi-listbar-shown').textContent,
  search: one('input[type=search]').value,
  sort: one('select').value,
  absolute: one('input[role=switch]').checked,
  hide: button('.moi-listbar-hide'),
  cancel: button('.moi-listbar-cancel'),
  notify: button('.moi-listbar-notify'),
  title: document.title,
  query: location.search,
};
"""

DIALOG_JS = """
const dialog = document.querySelector('dialog.moi-listbar-confirm');
if (!dialog || !dialog.open) return null;
return {
  title: dialog.querySelector('.moi-confirm-title').textContent,
  text: dialog.querySelector('.moi-confirm-text').textContent,
  choices: Array.from(dialog.querySelectorAll('button'), (b) => b.textContent),
  focused: document.activeElement.textContent,
};
"""

# Every message the page sends on its socket from now on, parsed (the real send still runs).
SPY_JS = """
window.__sent = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  window.__sent.push(JSON.parse(data));
  return send.call(this, data);
};
"""

# Each notification a page makes, noted in the page and in localStorage (which another tab
# of the site reads while this one is hidden); the real one is still made.
NOTES_JS = """
window.__notes = [];
window.Notification = class extends Notification {
  constructor(title, options) {
    super(title, options);
    window.__notes.push([title, options.body]);
    localStorage.setItem('test-notes', JSON.stringify(window.__notes));
  }
};
"""


def bar(driver) -> dict:
    return driver.execute_script(BAR_JS)


def dialog(driver) -> dict | None:
    return driver.execute_script(DIALOG_JS)


def sent(driver) -> list[dict]:
    return driver.execute_script("return window.__sent;")


def shown_ids(driver) -> set[str]:
    return {job["id"] for job in demo.jobs(driver)}


def signed_in(app, browser, query: str = ""):
    driver = browser()
    user = demo.new_username("bar")
    demo.login(driver, app.url, user)
    if query:
        driver.get(app.url + "/" + query)
    demo.wait_connected(driver)
    return driver, user


def store(r, user: str, jobs: list[tuple[str, str, float]]) -> list[str]:
    """Jobs that ended, ``(name, status, seconds it ran)`` each, stored in the user's group
    and announced in one transaction, oldest first (a second apart); their IDs."""
    group = group_of(r, user)
    start = datetime.now(UTC) - timedelta(hours=1)
    infos = []
    for number, (name, status, ran) in enumerate(jobs):
        info = record.new_info(group, name, "/result/hello")
        began = start + timedelta(seconds=number)
        info.update(
            status=status,
            result="Hello!" if status == "Success" else None,
            date_created=began.isoformat(timespec="microseconds"),
            date_start=began.isoformat(timespec="microseconds"),
            date_end=(began + timedelta(seconds=ran)).isoformat(timespec="microseconds"),
        )
        infos.append(info)
    with r.pipeline() as pipe:
        for info in infos:
            pipe.set(keys.job_key(info["id"]), record.encode(info))
        groupset.add(pipe, group, [info["id"] for info in infos], 0)
        pipe.execute()
    return [info["id"] for info in infos]


def wait_shown(driver, ids, what: str) -> None:
    """Wait until the list shows exactly the jobs ``ids``, each with its info."""
    wanted = set(ids)
    demo.wait(
        driver,
        lambda d: shown_ids(d) == wanted and not any(j["pending"] for j in demo.jobs(d)),
        what,
    )


def wait_bar(driver, check, what: str) -> dict:
    """The bar's state once ``check(state)`` holds."""

    def holds(d):
        state = bar(d)
        return state if check(state) else None

    return demo.wait(driver, holds, what)


def start_countdown(driver, countdowns: list[str], seconds: str = LONG) -> str:
    job_id = demo.submit(driver, "countdown", "seconds", seconds)
    countdowns.append(job_id)
    return job_id


def wait_running(driver, job_id: str) -> None:
    demo.wait_status(driver, job_id, *(f"{n} s to go" for n in range(1, 61)))


def click_filter(driver, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#moi-listbar [data-filter="{name}"]').click()


def choose(driver, label: str) -> None:
    """Press ``label`` in the open bulk question, and wait until it closes."""
    demo.wait(driver, dialog, "the bulk action's question to open")
    buttons = driver.find_elements(By.CSS_SELECTOR, "dialog.moi-listbar-confirm[open] button")
    next(b for b in buttons if b.text == label).click()
    demo.wait(driver, lambda d: dialog(d) is None, f"the question to close on {label!r}")


def test_filters_show_live_counts_and_only_their_jobs(app, browser, r, countdowns):
    driver, user = signed_in(app, browser)
    ok = store(r, user, [("Hello Ada", "Success", 1), ("Hello Grace", "Success", 1)])
    [failed] = store(r, user, [("Fail on purpose", "Failed", 0.5)])
    wait_shown(driver, [*ok, failed], "the stored jobs")
    state = wait_bar(driver, lambda s: s["counts"]["all"] == 3, "the counts of the stored jobs")
    assert state["counts"] == dict(
        all=3, waiting=0, running=0, succeeded=2, failed=1, cancelled=0
    ), state
    assert state["pressed"] == ["all"] and state["query"] == ""

    # Live: a countdown runs, then ends; the counts follow without a reload.
    job_id = start_countdown(driver, countdowns, "3")
    demo.record_rows(driver)
    wait_bar(driver, lambda s: s["counts"]["running"] + s["counts"]["waiting"] == 1, "it to count")
    state = wait_bar(driver, lambda s: s["counts"]["succeeded"] == 3, "its end to be counted")
    assert state["counts"] == dict(
        all=4, waiting=0, running=0, succeeded=3, failed=1, cancelled=0
    ), state
    assert job_id in demo.recorded_rows(driver)  # the same page all along

    click_filter(driver, "failed")
    wait_shown(driver, [failed], "only the failed job")
    state = bar(driver)
    assert state["pressed"] == ["failed"]
    assert state["query"] == "?status=failed"
    assert state["shown"] == "Showing 1 of 4"
    assert state["counts"]["all"] == 4, "the counts stay those of every job"

    click_filter(driver, "succeeded")
    wait_shown(driver, [*ok, job_id], "the three jobs that succeeded")
    click_filter(driver, "all")
    wait_shown(driver, [*ok, failed, job_id], "every job again")
    assert bar(driver)["query"] == ""


def test_search_applies_when_typing_pauses_or_on_enter_and_escape_clears_it(app, browser, r):
    driver, user = signed_in(app, browser)
    pi = store(r, user, [("Pi from 100 samples", "Success", 1), ("PI by hand", "Failed", 1)])
    [hello] = store(r, user, [("Hello Ada", "Success", 1)])
    wait_shown(driver, [*pi, hello], "the stored jobs")

    box = driver.find_element(By.CSS_SELECTOR, "#moi-listbar input[type=search]")
    label = driver.execute_script("return arguments[0].labels[0].textContent;", box)
    assert label == "Search"
    box.send_keys("pi")
    wait_shown(driver, pi, "the two jobs whose name has 'pi', in any case")
    state = wait_bar(driver, lambda s: s["hide"]["text"] == "Hide ended jobs (2)", "2 to hide")
    assert state["query"] == "?q=pi" and state["shown"] == "Showing 2 of 3"
    assert state["counts"]["all"] == 3

    box.send_keys(Keys.ESCAPE)
    wait_shown(driver, [*pi, hello], "every job once Escape cleared the search")
    assert bar(driver)["query"] == "" and box.get_attribute("value") == ""

    # An ID finds its job. Typing waits for a pause; Enter searches at once.
    typed = driver.execute_script(
        """
        const box = arguments[0];
        box.value = arguments[1];
        box.dispatchEvent(new Event('input', {bubbles: true}));
        const before = location.search;
        box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
        return [before, location.search];
        """,
        box,
        hello[:8],
    )
    assert typed == ["", f"?q={hello[:8]}"]
    wait_shown(driver, [hello], "the job found by its ID")


def test_longest_first_sorts_by_run_time_and_is_kept_in_the_url(app, browser, r):
    driver, user = signed_in(app, browser)
    # Stored oldest first, so newest first is the reverse of the run times' order.
    ids = store(r, user, [("Hello short", "Success", 1), ("Hello long", "Success", 90),
                          ("Hello middle", "Failed", 20)])  # fmt: skip
    wait_shown(driver, ids, "the stored jobs")
    assert [job["id"] for job in demo.jobs(driver)] == ids[::-1]

    Select(driver.find_element(By.CSS_SELECTOR, "#moi-listbar select")).select_by_visible_text(
        "Longest first"
    )
    longest = [ids[1], ids[2], ids[0]]
    demo.wait(driver, lambda d: [j["id"] for j in demo.jobs(d)] == longest, "longest first")
    assert bar(driver)["query"] == "?sort=duration"

    driver.refresh()
    demo.wait_connected(driver)
    demo.wait(driver, lambda d: [j["id"] for j in demo.jobs(d)] == longest, "the sort reloaded")
    assert bar(driver)["sort"] == "duration"


def test_the_url_sets_the_state_on_load_and_follows_each_change(app, browser, r):
    driver, user = signed_in(app, browser)
    done = store(r, user, [("Pi a", "Success", 1), ("Pi b", "Failed", 2), ("Hello c", "Failed", 3)])
    wait_shown(driver, done, "the stored jobs")

    # A shared link: the page's own parameters are kept beside the bar's.
    driver.get(f"{app.url}/?status=failed&q=PI&sort=duration&times=absolute&notice=no-engines")
    demo.wait_connected(driver)
    wait_shown(driver, [done[1]], "the failed job whose name has 'pi'")
    state = bar(driver)
    assert state["pressed"] == ["failed"]
    assert (state["search"], state["sort"], state["absolute"]) == ("PI", "duration", True)

    click_filter(driver, "all")
    assert bar(driver)["query"] == "?q=PI&sort=duration&times=absolute&notice=no-engines"
    driver.find_element(By.CSS_SELECTOR, "#moi-listbar input[role=switch]").click()
    assert bar(driver)["query"] == "?q=PI&sort=duration&notice=no-engines"
    wait_shown(driver, done[:2], "both jobs whose name has 'pi'")

    # Going back and forth in the history (entries made by the page) is followed too.
    driver.execute_script(
        "history.pushState(null, '', '/?status=succeeded');"
        "history.pushState(null, '', '/?status=cancelled');"
        "history.back();"
    )
    wait_shown(driver, [done[0]], "the succeeded job after going back")
    state = bar(driver)
    assert state["pressed"] == ["succeeded"] and state["search"] == ""

    # Nonsense in the URL is the default, not an error.
    driver.get(f"{app.url}/?status=bogus&sort=%3Cb%3E&times=1")
    demo.wait_connected(driver)
    wait_shown(driver, done, "every job")
    state = bar(driver)
    assert (state["pressed"], state["sort"], state["absolute"]) == (["all"], "newest", False)


def test_hide_ended_asks_then_sends_one_remove_and_the_jobs_leave(app, browser, r, countdowns):
    driver, user = signed_in(app, browser)
    ended = store(r, user, [(f"Hello {n}", "Success", 1) for n in range(4)])
    ended += store(r, user, [("Fail on purpose", "Failed", 1)])
    wait_shown(driver, ended, "the stored jobs")
    running = start_countdown(driver, countdowns)
    wait_running(driver, running)
    wait_shown(driver, [*ended, running], "the ended jobs and the countdown")
    state = wait_bar(driver, lambda s: s["hide"]["text"] == "Hide ended jobs (5)", "5 to hide")
    assert state["hide"]["disabled"] is False
    driver.execute_script(SPY_JS)

    # Escape keeps them, and gives the focus back to the button.
    hide = driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-hide")
    hide.click()
    asked = demo.wait(driver, dialog, "the question")
    assert asked["title"] == "Hide 5 ended jobs?"
    assert "All 5 of your ended jobs will leave your list" in asked["text"]
    assert asked["choices"] == ["Hide 5 jobs", "Keep"] and asked["focused"] == "Keep"
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    demo.wait(driver, lambda d: dialog(d) is None, "Escape to close the question")
    assert driver.switch_to.active_element == hide
    assert sent(driver) == []

    hide.click()
    choose(driver, "Hide 5 jobs")
    wait_shown(driver, [running], "the countdown alone")
    [message] = sent(driver)  # one message for all five
    assert sorted(message["remove"]) == sorted(ended), message
    assert r.smembers(keys.group_jobs_key(group_of(r, user))) == {running}
    state = bar(driver)
    assert state["hide"] == {"text": "Hide ended jobs (0)", "disabled": True, "pressed": None}
    assert state["counts"]["all"] == 1
    # The button is off now: the focus went to the filters rather than to nowhere.
    assert driver.switch_to.active_element.get_attribute("data-filter") == "all"


def test_cancel_stops_the_jobs_of_the_filter_in_one_message(app, browser, r, countdowns):
    driver, _user = signed_in(app, browser)
    busy = [start_countdown(driver, countdowns) for _ in range(2)]
    for job_id in busy:
        wait_running(driver, job_id)
    waiting = start_countdown(driver, countdowns)  # both engines are busy: it waits
    demo.wait_status(driver, waiting, "Queued")
    driver.execute_script(SPY_JS)

    click_filter(driver, "running")
    wait_shown(driver, busy, "the two running countdowns")
    state = wait_bar(driver, lambda s: s["cancel"]["text"] == "Cancel 2 jobs", "2 to cancel")
    assert state["hide"]["disabled"] is True, "nothing shown has ended"
    driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-cancel").click()
    asked = demo.wait(driver, dialog, "the question")
    assert asked["title"] == "Cancel 2 jobs?"
    assert "this view shows (Running)" in asked["text"]
    choose(driver, "Cancel 2 jobs")

    [message] = sent(driver)
    assert sorted(message["cancel"]) == sorted(busy)
    for job_id in busy:
        assert wait_for_status(r, job_id, "Cancelled")["status"] == "Cancelled"
    click_filter(driver, "cancelled")
    wait_shown(driver, busy, "the two cancelled countdowns")
    click_filter(driver, "all")
    row = demo.job(driver, waiting)
    assert row is not None and row["status"] != "Cancelled", "the waiting one was not shown"


def test_the_title_counts_the_jobs_not_ended(app, browser, countdowns):
    driver, _user = signed_in(app, browser)
    demo.wait(driver, lambda d: d.title == TITLE, "the page's own title")
    job_id = start_countdown(driver, countdowns, "2")
    demo.wait(driver, lambda d: d.title == f"(1) {TITLE}", "one job counted in the title")
    demo.wait_status(driver, job_id, "Success")
    demo.wait(driver, lambda d: d.title == TITLE, "the page's own title once it ended")


def test_notifications_are_asked_for_on_a_click_and_shown_while_the_tab_is_hidden(
    app, browser, r, countdowns
):
    driver, _user = signed_in(app, browser)
    notify = driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-notify")
    assert notify.text == "Notify me when jobs end"
    assert notify.get_attribute("aria-pressed") == "false"
    assert driver.execute_script("return Notification.permission;") == "default"

    # Granted (headless Chromium cannot answer the prompt: the test grants it), then asked for.
    driver.execute_cdp_cmd(
        "Browser.grantPermissions", {"permissions": ["notifications"], "origin": app.url}
    )
    notify.click()
    demo.wait(driver, lambda d: notify.get_attribute("aria-pressed") == "true", "it to be on")
    assert driver.execute_script("return localStorage.getItem('moi-notify');") == "on"
    driver.refresh()  # the choice is remembered
    demo.wait_connected(driver)
    notify = driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-notify")
    assert notify.get_attribute("aria-pressed") == "true"

    # Each notification a page of this tab makes is noted (and still made).
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NOTES_JS})
    seen = start_countdown(driver, countdowns, "2")
    demo.wait_status(driver, seen, "Success")
    assert driver.execute_script("return window.__notes;") == [], "not while the tab is shown"

    job_id = start_countdown(driver, countdowns, "5")  # seconds to hide the tab before it ends
    wait_running(driver, job_id)
    page = driver.current_window_handle
    driver.switch_to.new_window("tab")  # the list's tab is hidden now
    try:
        driver.get(f"{app.url}/account")  # of the same site: it sees the notes' record
        noted = demo.wait(
            driver,
            lambda d: d.execute_script("return localStorage.getItem('test-notes');"),
            "a notification from the hidden tab",
        )
        assert wait_for_status(r, job_id, "Success")["status"] == "Success"
    finally:
        driver.close()
        driver.switch_to.window(page)
    assert json.loads(noted) == [["Countdown from 5 s", "Success"]]
    assert driver.execute_script("return window.__notes;") == json.loads(noted)

    # Pressed again: off, and remembered as off.
    notify = driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-notify")
    notify.click()
    assert notify.get_attribute("aria-pressed") == "false"
    assert driver.execute_script("return localStorage.getItem('moi-notify');") == "off"


def test_a_refused_permission_turns_notifications_off_and_says_so(app, browser):
    driver, _user = signed_in(app, browser)
    notify = driver.find_element(By.CSS_SELECTOR, "#moi-listbar .moi-listbar-notify")
    # Headless Chromium answers the prompt itself: "denied", as a user's No.
    notify.click()
    demo.wait(driver, lambda d: notify.text == "Notifications blocked", "the refusal to show")
    assert notify.get_attribute("disabled") == "true"
    assert notify.get_attribute("aria-pressed") == "false"
    assert driver.execute_script("return localStorage.getItem('moi-notify');") == "off"


def test_the_list_offers_run_again_on_the_jobs_of_the_handlers_the_page_names(app, browser, r):
    driver, user = signed_in(app, browser)
    text = driver.find_element(By.ID, "moi-joblist").get_attribute("data-again-handlers")
    assert json.loads(text) == samples.AGAIN_HANDLERS
    [job_id] = store(r, user, [("Hello Ada", "Success", 1)])  # handler /result/hello
    wait_shown(driver, [job_id], "the stored job")
    again = demo.row(driver, job_id).find_elements(By.CSS_SELECTOR, ".moi-job-again")
    assert [button.text for button in again] == ["Run again"]


def test_on_a_phone_the_toolbar_fits_and_the_filters_scroll(app, browser, r):
    driver, user = signed_in(app, browser)
    store(r, user, [(f"Hello {n}", "Success", 1) for n in range(12)])
    demo.viewport(driver, 390, 844, mobile=True)
    driver.refresh()
    demo.wait_connected(driver)
    wait_bar(driver, lambda s: s["counts"]["all"] == 12, "the counts")
    fit = driver.execute_script(
        """
        const filters = document.querySelector('#moi-listbar .moi-listbar-filters');
        const counts = Array.from(filters.querySelectorAll('.moi-listbar-count'));
        return {
          page: document.documentElement.scrollWidth,
          filtersScroll: filters.scrollWidth > filters.clientWidth,
          oneLine: new Set(counts.map((c) => c.getBoundingClientRect().top)).size === 1,
          barRight: document.getElementById('moi-listbar').getBoundingClientRect().right,
        };
        """
    )
    assert fit["page"] <= 390, f"the page scrolls sideways: {fit}"
    assert fit["barRight"] <= 390 and fit["oneLine"], fit
