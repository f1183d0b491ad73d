"""The windowed ``moi.JobList`` (API version 2) and its view model, in Chromium.

On the unit page (``page``: the real ``moi.js`` and ``moi_list.js`` on a fake socket,
:mod:`tests.browser.test_moi_list_js`), with ``moi.css`` loaded, so that the rows have
the height they have on a real page. The list scrolls with the page, as moi.css has it,
or inside a box of its own (``box``: max-height and overflow auto).
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

MANY = 10_000
MAX_ROWS = 40
"""More rows than any window here may render (1024 px of 100 px rows, and 2 x 8 more)."""

# moi.css in the page, then a list on an open connection with `arguments[0]` jobs:
# job-00000 newest first, each Running unless `arguments[1]` says otherwise by index.
SETUP = """
await new Promise((done, fail) => {
  const link = Object.assign(document.createElement("link"),
                             {rel: "stylesheet", href: "/static/moi.css"});
  link.onload = done;
  link.onerror = fail;
  document.head.append(link);
});
const [count, statuses, options, box] = arguments;
const boxed = {maxHeight: "600px", overflowY: "auto"};
if (box) Object.assign(document.querySelector("#list").style, boxed);
t.connected();
const list = t.list(options || {});
// Scroll the list to `fraction` of its height: inside its box, or the page.
t.scrollList = (fraction) => {
  const el = t.jobList.el;
  if (box) el.scrollTop = fraction * el.scrollHeight;
  else window.scrollTo(0, el.getBoundingClientRect().top + scrollY + fraction * el.scrollHeight);
};
const ids = Array.from({length: count}, (_, i) => "job-" + String(i).padStart(5, "0"));
const base = Date.parse("2026-01-01T00:00:00Z");
t.socket.deliver({add: ids});
t.socket.deliver({update: ids.map((id, i) => t.info(id, {
  name: "Job " + i,
  status: (statuses || {})[i] || "Running",
  date_created: new Date(base - i * 1000).toISOString(),
}))});
list.flush();
"""


def setup(page, count=MANY, statuses=None, options=None, then="return null;", box=False):
    """Load moi.css, open a list of ``count`` jobs, and run ``then`` (an async body)."""
    seen = page.run_async(SETUP + then, count, statuses, options, box)
    assert not (isinstance(seen, dict) and "error" in seen), seen
    return seen


def frames(page, n=2):
    page.run_async(
        "for (let i = 0; i < arguments[0]; i++) await new Promise(requestAnimationFrame);", n
    )


def rendered(page):
    """The rendered rows: [id, posinset, setsize, in sight within the list's box]."""
    return page.run(
        """
        const el = t.jobList.el, box = el.getBoundingClientRect();
        const top = Math.max(0, box.top), bottom = Math.min(window.innerHeight, box.bottom);
        return t.jobList.rows().map((row) => {
          const r = row.getBoundingClientRect();
          return [row.dataset.jobId, Number(row.getAttribute("aria-posinset")),
                  Number(row.getAttribute("aria-setsize")), r.bottom > top && r.top < bottom];
        });
        """
    )


@pytest.mark.parametrize("box", [False, True], ids=["page", "box"])
def test_only_rows_near_the_view_are_in_the_dom_and_the_end_can_be_scrolled_to(page, box):
    first = setup(page, then="return {size: t.jobList.size, ids: t.jobList.ids().length};", box=box)
    assert first == {"size": MANY, "ids": MANY}
    rows = rendered(page)
    assert 5 <= len(rows) <= MAX_ROWS
    assert rows[0][:3] == ["job-00000", 1, MANY]
    assert page.run("return t.jobList.el.getAttribute('role');") == "list"
    assert page.run("return t.jobList.rows()[0].getAttribute('role');") == "listitem"

    page.run("t.scrollList(1);")
    page.wait("t.jobList.rows().some((r) => r.dataset.jobId === 'job-09999')", "the last row")
    rows = rendered(page)
    assert len(rows) <= MAX_ROWS
    last = rows[-1]
    assert last == ["job-09999", MANY, MANY, True], "the last job, in sight at the end"
    # Scrolled about, the DOM keeps a bounded number of rows, in order, each in its place.
    for fraction in (0.5, 0.1, 0.9, 0.0):
        page.run("t.scrollList(arguments[0]);", fraction)
        frames(page)
        rows = rendered(page)
        assert len(rows) <= MAX_ROWS
        positions = [row[1] for row in rows]
        assert positions == list(range(positions[0], positions[0] + len(rows)))
        assert any(row[3] for row in rows), f"no rendered row in sight at {fraction}"
        assert all(row[0] == f"job-{row[1] - 1:05}" for row in rows)


def test_a_row_updated_off_screen_shows_its_new_state_when_scrolled_to(page):
    setup(page)
    assert page.run("return t.row('job-05000');") is None
    page.run(
        """
        t.socket.deliver({update: t.info("job-05000", {name: "Job 5000",
          date_created: "2025-12-31T22:36:40.000Z", status: "Failed", result: "E: off screen"})});
        t.jobList.flush();
        """
    )
    assert page.run("return t.row('job-05000');") is None, "still out of the window"
    page.run("t.jobList.focusIndex(5000);")
    frames(page)
    row = page.run(
        """
        const row = t.row("job-05000");
        return {status: row.dataset.status,
                reason: row.querySelector(".moi-job-reason").textContent,
                focused: document.activeElement === row};
        """
    )
    assert row == {"status": "Failed", "reason": "E: off screen", "focused": True}


def test_up_down_home_end_move_the_focus_from_row_to_row(page):
    setup(page, count=500)
    page.run("t.jobList.rows()[0].focus();")

    def focused():
        return page.run(
            "const a = document.activeElement; return a.closest('.moi-job')?.dataset.jobId"
            " + (a.classList.contains('moi-job') ? '' : ' ' + a.className);"
        )

    keys = ActionChains(page.driver)
    for _ in range(3):
        keys.send_keys(Keys.ARROW_DOWN)
    keys.perform()
    assert focused() == "job-00003"
    ActionChains(page.driver).send_keys(Keys.ARROW_UP).perform()
    assert focused() == "job-00002"
    ActionChains(page.driver).send_keys(Keys.TAB).perform()
    assert focused() == "job-00002 moi-job-link", "Tab goes into the row's buttons"
    ActionChains(page.driver).send_keys(Keys.ARROW_DOWN).perform()
    assert focused() == "job-00003", "and the arrows go on from a button"
    ActionChains(page.driver).send_keys(Keys.END).perform()
    assert focused() == "job-00499"
    frames(page)
    assert rendered(page)[-1] == ["job-00499", 500, 500, True]
    ActionChains(page.driver).send_keys(Keys.HOME).perform()
    assert focused() == "job-00000"
    frames(page)
    assert rendered(page)[0][3], "the first row, in sight"


@pytest.mark.parametrize("box", [False, True], ids=["page", "box"])
def test_a_focused_row_stays_when_the_list_scrolls_away_from_it(page, box):
    setup(page, box=box)
    page.run("t.jobList.rows()[0].focus(); t.mark('job-00000');")
    page.run("t.scrollList(0.5);")
    frames(page)
    seen = page.run(
        """
        const row = t.row("job-00000");
        return {same: t.sameRows(), focused: document.activeElement === row,
                kept: row.classList.contains("moi-job-kept"), rows: t.jobList.rows().length,
                top: row.style.top};
        """
    )
    assert seen["same"] == ["job-00000"]
    assert seen["focused"] and seen["kept"] and seen["top"] == "0px"
    assert seen["rows"] <= MAX_ROWS + 1
    ActionChains(page.driver).send_keys(Keys.ARROW_DOWN).perform()
    assert page.run("return document.activeElement.dataset.jobId;") == "job-00001"
    frames(page)
    assert page.run("return t.row('job-00000').classList.contains('moi-job-kept');") is False


def test_filters_and_counts_follow_the_jobs_live(page):
    statuses = {0: "Queued", 1: "Success", 2: "Failed", 3: "Cancelled", 4: "3 s to go"}
    seen = setup(
        page,
        count=6,
        statuses=statuses,
        then="""
        list.on("change", (change) => (t.changes = (t.changes || []).concat([change])));
        const counts = list.counts();
        list.setFilter("running");
        const running = list.ids();
        const calls = (t.changes || []).length;
        t.socket.deliver({update: t.info("job-00005", {name: "Job 5", status: "Success",
          date_created: "2025-12-31T23:59:55.000Z"})});
        t.socket.deliver({add: ["job-00009"]});  // no info yet: in "all" only
        await new Promise(requestAnimationFrame);
        await new Promise(requestAnimationFrame);
        return {counts, running, calls, after: list.counts(), ids: list.ids(),
                filter: list.filter, changes: t.changes, matched: list.matching().map((i) => i.id)};
        """,
    )
    assert seen["counts"] == {
        "all": 6,
        "waiting": 1,
        "running": 2,
        "succeeded": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert seen["running"] == ["job-00004", "job-00005"]
    assert seen["calls"] == 1
    assert seen["after"] == {**seen["counts"], "all": 7, "running": 1, "succeeded": 2}
    assert seen["ids"] == seen["matched"] == ["job-00004"]
    assert seen["filter"] == "running"
    assert seen["changes"][-1] == {"counts": seen["after"], "matched": 1}
    assert len(seen["changes"]) == 2, "one change per frame"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("setFilter('done')", "no filter"),
        ("setSort('name')", "no sort"),
        ("setTimes('utc')", "no times"),
        ("setSearch(null)", "takes a string"),
        ("on('click', () => {})", "on("),
    ],
)
def test_a_bad_view_setting_is_refused_and_changes_nothing(page, call, message):
    seen = setup(
        page,
        count=3,
        then=f"""
        let refused = null;
        try {{ list.{call}; }} catch (err) {{ refused = err.message; }}
        const state = [list.filter, list.search, list.sort, list.times];
        return {{refused, state, ids: list.ids()}};
        """,
    )
    assert message in seen["refused"]
    assert seen["state"] == ["all", "", "newest", "relative"]
    assert seen["ids"] == ["job-00000", "job-00001", "job-00002"]


def test_search_finds_names_and_ids_in_any_case_and_says_when_none_match(page):
    seen = setup(
        page,
        count=200,
        then="""
        const found = {};
        for (const text of ["JOB 12", "job 123", "JOB-0019", "nothing", ""]) {
          list.setSearch(text);
          found[text] = {ids: list.ids(), count: list.matchCount,
                         empty: t.emptyText(), search: list.search};
        }
        return found;
        """,
        options={"noMatchText": "Nothing here."},
    )
    job_12 = ["job-00012"] + [f"job-{n:05}" for n in range(120, 130)]
    assert seen["JOB 12"] == {"ids": job_12, "count": 11, "empty": None, "search": "job 12"}
    assert seen["job 123"]["ids"] == ["job-00123"]
    assert seen["JOB-0019"]["ids"] == [f"job-{n:05}" for n in range(190, 200)]
    assert seen["nothing"] == {"ids": [], "count": 0, "empty": "Nothing here.", "search": "nothing"}
    assert seen[""]["count"] == 200 and seen[""]["empty"] is None


def test_sort_by_duration_puts_the_longest_first_and_running_jobs_by_their_time_so_far(page):
    seen = setup(
        page,
        count=0,
        then="""
        const at = (s) => new Date(Date.now() - s * 1000).toISOString();
        const jobs = {
          short: {status: "Success", date_start: at(100), date_end: at(99)},
          long: {status: "Failed", date_start: at(100), date_end: at(10)},
          running: {status: "Running", date_start: at(50)},
          queued: {status: "Queued"},
        };
        t.socket.deliver({add: Object.keys(jobs)});
        for (const [id, info] of Object.entries(jobs)) t.socket.deliver({update: t.info(id, info)});
        list.flush();
        list.setSort("duration");
        const duration = list.ids();
        const longest = {status: "Success", date_start: at(500), date_end: at(1)};
        t.socket.deliver({update: t.info("short", longest)});
        const longer = list.ids();
        list.setSort("newest");
        return {duration, longer, sort: list.sort, newest: list.ids()};
        """,
    )
    assert seen["duration"] == ["long", "running", "short", "queued"]
    assert seen["longer"] == ["short", "long", "running", "queued"]
    assert seen["sort"] == "newest"
    assert seen["newest"] == ["long", "queued", "running", "short"], "same dates: by ID"


def test_times_switch_between_ago_and_the_local_date(page):
    seen = setup(
        page,
        count=1,
        options={"locale": "en-US"},
        then="""
        const when = () => t.parts("job-00000").submitted;
        const relative = when();
        list.setTimes("absolute");
        list.flush();
        const absolute = when();
        list.setTimes("relative");
        list.flush();
        return {relative, absolute, back: when(), times: list.times};
        """,
    )
    assert seen["relative"]["text"].startswith("submitted on Jan 1, 2026")
    title = seen["relative"]["title"]
    assert title.startswith("Submitted Jan 1, 2026, ") or title.startswith("Submitted Dec 31, 2025")
    assert seen["absolute"]["text"] == "submitted " + title.removeprefix("Submitted ")
    assert seen["absolute"]["title"] == title
    assert seen["back"] == seen["relative"]
    assert seen["times"] == "relative"


def test_run_again_shows_where_the_app_says_and_sends_one_message(page):
    seen = setup(
        page,
        count=3,
        statuses={0: "Success", 1: "Failed"},
        then="""
        const again = (id) => t.row(id).querySelector(".moi-job-again");
        const jobs = ["job-00000", "job-00001", "job-00002"];
        const shown = jobs.map((id) => again(id) && again(id).textContent);
        return {shown};
        """,
        options={},
    )
    assert seen["shown"] == [None, None, None], "no canRunAgain: no button"
    seen = page.run(
        """
        t.jobList.destroy();
        const list = t.list({canRunAgain: (info) => info.status !== "Running"});
        t.socket.deliver({add: ["a", "b"]});
        t.socket.deliver({update: [t.info("a", {status: "Success"}), t.info("b")]});
        list.flush();
        const again = (id) => t.row(id).querySelector(".moi-job-again");
        t.socket.sent = [];
        again("a").click();
        return {b: again("b"), sent: t.socket.sent, label: again("a").getAttribute("aria-label"),
                text: again("a").textContent};
        """
    )
    assert seen == {
        "b": None,
        "sent": [{"moi:again": "a"}],
        "label": "Run again job a",
        "text": "Run again",
    }


def test_ended_is_heard_for_jobs_that_end_live_only(page):
    seen = setup(
        page,
        count=3,
        statuses={1: "Success"},
        then="""
        const heard = [];
        const off = list.on("ended", (info) => heard.push([info.id, info.status]));
        t.socket.deliver({update: t.info("job-00000", {status: "Failed"})});
        t.socket.deliver({update: t.info("job-00001", {status: "Success"})});  // had ended
        t.socket.deliver({update: t.info("job-00000", {status: "Failed"})});  // heard again
        t.socket.deliver({add: ["late"]});
        t.socket.deliver({update: t.info("late", {status: "Cancelled"})});  // new to the list
        off();
        t.socket.deliver({update: t.info("job-00002", {status: "Cancelled"})});
        return heard;
        """,
    )
    assert seen == [["job-00000", "Failed"]]


def test_a_custom_row_is_refilled_when_it_is_reused_for_another_job(page):
    seen = setup(
        page,
        options=None,
        count=0,
        box=True,
        then="""
        list.destroy();
        const custom = t.list({renderRow(info, row) {
          if (!row.firstChild) row.append(document.createElement("span"));
          row.style.height = "40px";
          row.firstChild.textContent = info.name;
        }});
        const cs = Array.from({length: 2000}, (_, i) => "c" + String(i).padStart(4, "0"));
        t.socket.deliver({add: cs});
        t.socket.deliver({update: cs.map((id) => t.info(id, {name: "name " + id}))});
        custom.flush();
        const made = new Set(custom.rows());
        custom.el.scrollTop = 40 * 1000;
        await new Promise(requestAnimationFrame);
        await new Promise(requestAnimationFrame);
        const rows = custom.rows();
        return {reused: rows.filter((row) => made.has(row)).length,
                right: rows.every((row) => row.textContent === "name " + row.dataset.jobId),
                count: rows.length};
        """,
    )
    assert seen["right"] is True
    assert seen["reused"] > 0
    assert seen["count"] <= MAX_ROWS


STATES = {
    0: "Queued",
    1: "Success",
    2: "Failed",
    3: "Cancelled",
    4: "A custom status that is rather long, as an app may write one",
}
ROW_HEIGHTS = """
const many = (id, extra) => t.socket.deliver({update: t.info(id, extra)});
many("job-00005", {progress: 0.4, attempt: 3, retries: 4,
  name: "A very long name ".repeat(20), date_start: new Date().toISOString()});
many("job-00002", {status: "Failed", result: "ValueError: " + "why ".repeat(200)});
list.flush();
t.row("job-00006").querySelector(".moi-job-cancel").click();
t.socket.deliver({error: "refused, and the server says so at length ".repeat(10)});
list.flush();
return list.rows().slice(0, 8).map((row) => row.getBoundingClientRect().height);
"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_default_row_has_the_same_height_on_a_desktop_and_a_phone(page, width):
    if width != 1280:
        page.driver.set_window_size(width, 844)
    try:
        heights = setup(
            page,
            count=20,
            statuses=STATES,
            options={"canRunAgain": None, "jobPage": "/jobs/"},
            then=ROW_HEIGHTS,
        )
    finally:
        page.driver.set_window_size(1280, 1024)
    assert len(set(heights)) == 1, heights
    assert 60 <= heights[0] <= 160
