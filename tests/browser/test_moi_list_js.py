"""Unit tests of ``moi/static/moi_list.js`` in Chromium: ``moi.JobList`` on a fake socket.

Each test gets the harness page freshly loaded (``page``, ``pages/moi_unit.js``): it
feeds the list the server's messages itself, then applies them with ``list.flush()`` or
waits on the page's state. Rows are read back as plain data with ``t.rows()``.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.test_durations import DURATIONS

PLACEHOLDER_DELAY_MS = 500

# A list on an open connection, fed `adds` then an update for each info.
FED = """
t.connected();
const list = t.list(arguments[2] || {});
t.socket.deliver({add: arguments[0]});
for (const info of arguments[1]) t.socket.deliver({update: t.info(info.id, info)});
list.flush();
"""


def feed(page, ids, infos=(), options=None, then="return t.rows();"):
    """Open a list, add ``ids``, send ``infos`` (dicts with at least ``id``), run ``then``."""
    return page.run(FED + then, list(ids), list(infos), options)


def test_the_empty_text_shows_until_a_row_goes_in_and_again_after_the_last_goes(page):
    seen = page.run(
        """
        t.connected();
        const list = t.list({emptyText: "Nothing running."});
        const before = t.emptyText();
        t.socket.deliver({add: ["a"]});
        t.socket.deliver({update: t.info("a")});
        list.flush();
        const during = t.emptyText();
        t.socket.deliver({remove: "a"});
        list.flush();
        return {before, during, after: t.emptyText()};
        """
    )
    assert seen == {"before": "Nothing running.", "during": None, "after": "Nothing running."}


def test_each_job_gets_one_row_with_its_id_status_name_and_badge(page):
    rows = feed(
        page,
        ["a", "b"],
        [
            {"id": "a", "status": "Queued", "date_created": "2026-01-01T00:00:02"},
            {"id": "b", "name": "", "status": "Running 50%"},
        ],
        {"locale": "en-US"},
    )
    assert rows == [
        {
            "id": "a",
            "status": "Queued",
            "tag": "li",
            "pending": False,
            "name": "job a",
            "badge": "moi-status moi-status-queued",
            "progress": None,
            "href": "/result/demo/a",
            "text": "job aQueuedsubmitted on Jan 1, 2026next in lineOpenCancelHide",
        },
        {
            "id": "b",
            "status": "Running 50%",
            "tag": "li",
            "pending": False,
            "name": "b",  # no name: the ID stands in
            "badge": "moi-status moi-status-running-50-",
            "progress": None,
            "href": "/result/demo/b",
            "text": "bRunning 50%submitted on Jan 1, 2026OpenCancelHide",
        },
    ]


def test_changes_reach_the_page_in_the_next_frame_without_flush(page):
    page.run(
        """
        t.connected();
        t.list();
        t.socket.deliver({add: ["a"]});
        t.socket.deliver({update: t.info("a")});
        """
    )
    page.wait("t.ids().join() === 'a'", "row a to go in on the next frame")


def test_an_update_renders_the_same_row_in_place(page):
    seen = feed(
        page,
        ["a"],
        [{"id": "a"}],
        then="""
        t.mark("a");
        t.socket.deliver({update: t.info("a", {name: "renamed", status: "Running 50%"})});
        list.flush();
        return {rows: t.rows(), same: t.sameRows()};
        """,
    )
    assert seen["same"] == ["a"]
    [row] = seen["rows"]
    assert (row["name"], row["status"]) == ("renamed", "Running 50%")
    assert row["badge"] == "moi-status moi-status-running-50-"


def test_a_repeated_add_never_duplicates_a_row(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a"}, {"id": "b"}],
        then="""
        t.mark("a", "b");
        t.socket.deliver({add: ["a"]});
        t.socket.deliver({add: ["b", "a"], update: t.info("a")});
        list.flush();
        return {ids: t.ids(), same: t.sameRows(), size: list.size};
        """,
    )
    assert seen == {"ids": ["a", "b"], "same": ["a", "b"], "size": 2}


def test_resync_keeps_the_listed_rows_in_place_and_drops_the_rest(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        const list = t.list();
        t.socket.deliver({add: ["a", "b"]});
        for (const id of ["a", "b"]) t.socket.deliver({update: t.info(id)});
        list.flush();
        t.mark("a", "b");
        t.socket.drop();
        t.timers.fire();  // the reconnect
        t.socket.open();  // emits "resync"
        const resyncing = list.el.classList.contains("moi-resyncing");
        t.socket.deliver({add: ["b", "c"]});  // the server's full list
        for (const id of ["b", "c"]) t.socket.deliver({update: t.info(id)});
        list.flush();
        return {resyncing, after: list.el.classList.contains("moi-resyncing"), ids: t.ids(),
                same: t.sameRows(), has: list.has("a")};
        """
    )
    assert seen == {
        "resyncing": True,
        "after": False,
        "ids": ["b", "c"],
        "same": ["b"],
        "has": False,
    }


def test_flush_puts_in_the_rows_with_info_and_holds_those_without(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a"}],
        then="return {ids: t.ids(), size: list.size, has: list.has('b'), info: list.get('b')};",
    )
    assert seen == {"ids": ["a"], "size": 2, "has": True, "info": None}


def test_a_job_without_info_shows_as_a_placeholder_first_once_its_hold_ends(page):
    started = page.run(
        """
        t.connected();
        const list = t.list();
        t.socket.deliver({add: ["a"]});
        t.socket.deliver({update: t.info("a")});
        list.flush();
        t.watchInsertions();
        const started = performance.now();
        t.socket.deliver({add: ["p"]});
        return started;
        """
    )
    page.wait("t.row('p')", "the placeholder row of p")
    seen = page.run("return {waited: t.insertedAt.p - arguments[0], rows: t.rows()};", started)
    assert seen["waited"] >= PLACEHOLDER_DELAY_MS, seen
    assert [row["id"] for row in seen["rows"]] == ["p", "a"]
    placeholder = seen["rows"][0]
    assert placeholder["pending"] is True
    assert (placeholder["status"], placeholder["name"]) == ("…", "p")
    assert placeholder["badge"] == "moi-status moi-status-pending"


def test_a_placeholder_is_filled_in_place_when_its_info_comes(page):
    page.run("t.connected(); t.list(); t.socket.deliver({add: ['p']});")
    page.wait("t.row('p')", "the placeholder row of p")
    seen = page.run(
        """
        t.mark("p");
        t.socket.deliver({update: t.info("p", {status: "Success"})});
        t.jobList.flush();
        return {rows: t.rows(), same: t.sameRows()};
        """
    )
    assert seen["same"] == ["p"]
    [row] = seen["rows"]
    assert (row["pending"], row["status"], row["name"]) == (False, "Success", "job p")
    assert row["badge"] == "moi-status moi-status-success moi-status-final"


def test_default_order_is_newest_first_with_ties_by_id(page):
    ids = feed(
        page,
        ["old", "new", "mid", "tie2", "tie1"],
        [
            {"id": "old", "date_created": "2026-01-01T00:00:01"},
            {"id": "new", "date_created": "2026-01-01T00:00:09"},
            {"id": "mid", "date_created": "2026-01-01T00:00:05"},
            {"id": "tie2", "date_created": "2026-01-01T00:00:03"},
            {"id": "tie1", "date_created": "2026-01-01T00:00:03"},
        ],
        then="return t.ids();",
    )
    assert ids == ["new", "mid", "tie1", "tie2", "old"]


def test_an_update_that_changes_the_order_moves_the_same_row(page):
    seen = feed(
        page,
        ["a", "b", "c"],
        [
            {"id": "a", "date_created": "2026-01-01T00:00:03"},
            {"id": "b", "date_created": "2026-01-01T00:00:02"},
            {"id": "c", "date_created": "2026-01-01T00:00:01"},
        ],
        then="""
        const before = t.ids();
        t.mark("a", "b", "c");
        t.socket.deliver({update: t.info("c", {date_created: "2026-01-01T00:00:09"})});
        list.flush();
        return {before, after: t.ids(), same: t.sameRows()};
        """,
    )
    assert seen == {"before": ["a", "b", "c"], "after": ["c", "a", "b"], "same": ["a", "b", "c"]}


def test_every_job_links_to_its_page_running_or_not(page):
    rows = feed(
        page,
        ["run", "ok", "bad", "a b"],
        [
            {"id": "run", "date_created": "4"},
            {"id": "ok", "status": "Success", "date_created": "3"},
            {"id": "bad", "status": "Failed", "handler": "/result/demo/", "date_created": "2"},
            {"id": "a b", "status": "Success", "date_created": "1"},
        ],
    )
    assert [(row["id"], row["href"]) for row in rows] == [
        ("run", "/result/demo/run"),
        ("ok", "/result/demo/ok"),
        ("bad", "/result/demo/bad"),
        ("a b", "/result/demo/a%20b"),
    ]


@pytest.mark.parametrize(
    "handler",
    [
        "//evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\\evil.com",
        "/result\\..\\..\\/evil.com",
        "javascript:alert(1)",
        "https://evil.com/result",
        "result/demo",
        "",
        None,
    ],
)
def test_no_result_link_for_a_handler_that_is_not_a_same_origin_path(page, handler):
    rows = feed(page, ["j"], [{"id": "j", "status": "Running", "handler": handler}])
    assert [(row["id"], row["status"], row["href"]) for row in rows] == [("j", "Running", None)]


def test_a_link_goes_when_its_handler_turns_bad(page):
    hrefs = feed(
        page,
        ["j"],
        [{"id": "j", "status": "Success"}],
        then="""
        const hrefs = [t.rows()[0].href];
        t.socket.deliver({update: t.info("j", {status: "Success", handler: "//evil.com"})});
        list.flush();
        return hrefs.concat(t.rows()[0].href);
        """,
    )
    assert hrefs == ["/result/demo/j", None]


def test_the_progress_bar_shows_progress_clamped_to_0_1_and_goes_without_it(page):
    values = feed(
        page,
        ["j"],
        [{"id": "j"}],
        then="""
        const values = [];
        for (const progress of [0.25, 1.7, -1, "50%", 0.5, null]) {
          t.socket.deliver({update: t.info("j", {progress})});
          list.flush();
          values.push(t.rows()[0].progress);
        }
        return values;
        """,
    )
    assert values == [0.25, 1, 0, None, 0.5, None]


def test_hide_on_an_ended_job_asks_the_server_to_remove_it_at_once(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a", "name": "Alpha", "status": "Success"}, {"id": "b"}],
        then="""
        const button = t.row("a").querySelector(".moi-job-remove");
        button.click();
        return {label: button.getAttribute("aria-label"), text: button.textContent,
                sent: t.socket.sent, ids: t.ids(), dialog: t.dialog()};
        """,
    )
    assert (seen["label"], seen["text"]) == ("Hide Alpha", "Hide")
    assert seen["sent"][-1] == {"remove": "a"}
    assert seen["ids"] == ["a", "b"], "the row stays until the server's remove"
    assert seen["dialog"] is None


def test_hide_on_a_job_that_has_not_ended_asks_first(page):
    asked = feed(
        page,
        ["a"],
        [{"id": "a", "name": "Alpha", "status": "3 s to go"}],
        then="""
        t.socket.sent = [];
        t.row("a").querySelector(".moi-job-remove").click();
        return {dialog: t.dialog(), sent: t.socket.sent.length};
        """,
    )
    assert asked["sent"] == 0
    assert asked["dialog"] == {
        "open": True,
        "text": "“Alpha” has not ended. Hiding only takes it off this list: the job goes on.",
        "choices": ["Hide anyway", "Cancel the job", "Keep"],
        "focused": "Keep",
    }
    # Count the dialog's close events, heard after the list's own listener has acted.
    page.run(
        "t.closes = 0;"
        "document.querySelector('dialog.moi-confirm').addEventListener('close', () => t.closes++);"
    )
    sent = {}
    for number, choice in enumerate(("Keep", "Cancel the job", "Hide anyway"), 1):
        if number > 1:
            page.run("t.row('a').querySelector('.moi-job-remove').click();")
        page.run("t.socket.sent = []; t.choose(arguments[0]);", choice)
        page.wait(
            f"t.closes === {number} && !t.dialog().open", f"the dialog to close on {choice!r}"
        )
        sent[choice] = page.run("return t.socket.sent;")
    assert sent == {
        "Keep": [],
        "Cancel the job": [{"cancel": "a"}],
        "Hide anyway": [{"remove": "a"}],
    }


def test_escape_keeps_the_job_and_a_job_hidden_elsewhere_closes_the_question(page):
    text = feed(
        page,
        ["a"],
        [{"id": "a", "status": "Queued"}],
        then="""
        t.socket.sent = [];
        t.row("a").querySelector(".moi-job-remove").click();
        return t.dialog().text;
        """,
    )
    assert (
        text
        == "“job a” is waiting for an engine. Hiding only takes it off this list: the job goes on."
    )
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait("!t.dialog().open", "Escape to close the dialog")
    page.run("t.row('a').querySelector('.moi-job-remove').click();")
    assert page.run("return t.dialog().open;")
    page.run("t.socket.deliver({remove: 'a'}); t.jobList.flush();")
    page.wait("!t.dialog().open", "the question to go with its job")
    assert page.run("return t.socket.sent;") == []


def test_a_cancel_button_on_each_job_that_has_not_ended(page):
    statuses = ["Queued", "Running", "3 s to go", "Success", "Failed", "Cancelled"]
    infos = [{"id": s, "status": s, "name": f"Job {s}"} for s in statuses]
    seen = feed(page, statuses, infos, then="return t.ids().map((id) => [id, t.parts(id).cancel]);")
    assert dict(seen) == {
        s: {"text": "Cancel", "aria-label": f"Cancel Job {s}", "disabled": False}
        if s in ("Queued", "Running", "3 s to go")
        else None
        for s in statuses
    }


def test_cancel_sends_cancel_and_waits_for_the_jobs_end_or_a_refusal(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a", "status": "Running"}, {"id": "b", "status": "Queued"}],
        then="""
        const states = () => ["a", "b"].map((id) =>
          [t.parts(id).cancel, t.row(id).classList.contains("moi-job-cancelling")]);
        const cancel = (id) => t.row(id).querySelector(".moi-job-cancel").click();
        t.socket.sent = [];
        cancel("a");
        cancel("a");  // disabled now: no second message
        cancel("b");
        list.flush();
        const sent = t.socket.sent.slice();
        const cancelling = states();
        t.socket.deliver({update: t.info("a", {status: "Cancelled"})});
        t.socket.deliver({error: "b has already ended; it was left as it is"});
        list.flush();
        return {sent, cancelling, after: states()};
        """,
    )
    assert seen["sent"] == [{"cancel": "a"}, {"cancel": "b"}]
    busy = {"text": "Cancelling…", "aria-label": "Cancel job {}", "disabled": True}
    assert seen["cancelling"] == [
        [{**busy, "aria-label": "Cancel job a"}, True],
        [{**busy, "aria-label": "Cancel job b"}, True],
    ]
    assert seen["after"] == [
        [None, False],  # Cancelled: final, no button
        [{"text": "Cancel", "aria-label": "Cancel job b", "disabled": False}, False],
    ]


def test_a_refused_cancel_says_why_in_its_row_for_a_while(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a", "status": "Running"}, {"id": "b", "status": "Running"}],
        then="""
        t.timers.install();
        const note = (id) => [t.parts(id).refused, t.row(id).classList.contains("moi-job-refused")];
        const cancel = (id) => t.row(id).querySelector(".moi-job-cancel").click();
        cancel("b");
        list.flush();
        t.socket.deliver({error: "already ended, left as they were: b"});
        list.flush();
        const refused = {a: note("a"), b: note("b"), delays: t.timers.delays()};
        t.timers.fire();
        list.flush();
        const later = note("b");
        cancel("b");  // and a refusal shown again goes when the user asks again
        t.socket.deliver({error: "no"});
        list.flush();
        const shown = note("b");
        cancel("b");
        list.flush();
        const again = note("b");
        t.socket.deliver({error: "already ended, left as they were: b"});
        t.socket.deliver({update: t.info("b", {status: "Success"})});  // the end, just after
        list.flush();
        return {refused, later, shown, again, ended: note("b")};
        """,
    )
    says = {"text": "Not cancelled: already ended, left as they were: b", "role": "alert"}
    assert seen["refused"] == {"a": [None, False], "b": [says, True], "delays": [10000]}
    assert seen["later"] == [None, False]
    assert seen["shown"] == [{"text": "Not cancelled: no", "role": "alert"}, True]
    assert seen["again"] == [None, False]
    ended = {"text": "Not cancelled: it had already ended.", "role": "alert"}
    assert seen["ended"] == [ended, True]


def test_custom_rows_get_cancel_and_hide_from_their_classes(page):
    sent = page.run(
        """
        t.connected();
        const list = t.list({renderRow(info, row) {
          if (!row.firstChild) {
            for (const name of ["moi-job-cancel", "moi-job-remove"]) {
              const button = document.createElement("button");
              button.className = name;
              row.append(button);
            }
          }
        }});
        t.socket.deliver({add: ["a", "b"]});
        t.socket.deliver({update: t.info("a")});
        t.socket.deliver({update: t.info("b", {status: "Failed"})});
        list.flush();
        t.socket.sent = [];
        t.row("a").querySelector(".moi-job-cancel").click();
        t.row("b").querySelector(".moi-job-remove").click();
        list.flush();
        const cancelling = t.row("a").classList.contains("moi-job-cancelling");
        return {sent: t.socket.sent, cancelling};
        """
    )
    assert sent == {"sent": [{"cancel": "a"}, {"remove": "b"}], "cancelling": True}


def test_a_remove_takes_the_row_away_and_a_late_update_does_not_bring_it_back(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a"}, {"id": "b"}],
        then="""
        t.socket.deliver({remove: "a"});
        t.socket.deliver({update: t.info("a")});
        list.flush();
        return {ids: t.ids(), has: list.has("a"), size: list.size};
        """,
    )
    assert seen == {"ids": ["b"], "has": False, "size": 1}


TIMES = """
const now = Date.now();
const iso = (ms) => new Date(now - ms).toISOString();
t.connected();
const list = t.list({locale: "en-US"});
const jobs = {
  queued: {status: "Queued", date_created: iso(90e3)},
  running: {date_created: iso(6e3), date_start: iso(5.5e3)},
  done: {status: "Success", date_created: iso(3 * 3600e3), date_start: iso(3 * 3600e3),
         date_end: new Date(now - 3 * 3600e3 + 4210).toISOString()},
  again: {status: "Queued", attempt: 2, retries: 1, date_created: iso(0)},
  micro: {status: "Cancelled", date_created: "2026-11-30T11:21:08.123456+00:00"},
  naive: {status: "Failed", date_created: "2026-11-30T11:21:08"},
  none: {status: "Queued", date_created: null},
};
t.socket.deliver({add: Object.keys(jobs)});
for (const [id, info] of Object.entries(jobs)) t.socket.deliver({update: t.info(id, info)});
list.flush();
"""


def test_a_row_shows_when_its_job_was_submitted_and_how_long_it_ran(page):
    parts = page.run(
        TIMES + "return Object.fromEntries(Object.keys(jobs).map((id) => [id, t.parts(id)]));"
    )
    texts = {
        job: (
            p["submitted"]["text"],
            p["ran"] and p["ran"]["text"],
            p["attempt"] and p["attempt"]["text"],
        )
        for job, p in parts.items()
    }
    assert texts["queued"] == ("submitted 1 minute ago", None, None)
    assert texts["running"] == ("submitted just now", "running 5 s", None)
    assert texts["done"] == ("submitted 3 hours ago", "ran 4.2 s", None)
    assert texts["again"] == ("submitted just now", None, "attempt 2 of 2")
    assert texts["none"] == ("", None, None)
    micro = parts["micro"]["submitted"]
    assert micro["datetime"] == "2026-11-30T11:21:08.123Z"
    # The tooltip is the local date and time; a date without a zone is UTC, as on the server.
    assert micro["title"].startswith("Submitted Nov 30, 2026, ")
    assert parts["naive"]["submitted"]["datetime"] == "2026-11-30T11:21:08.000Z"
    assert parts["none"]["submitted"]["datetime"] is None


def test_a_row_links_to_its_page_and_labels_its_controls_with_the_job_name(page):
    parts = feed(
        page,
        ["a"],
        [{"id": "a", "name": "Countdown", "progress": 0.5}],
        then="return t.parts('a');",
    )
    assert parts["link"] == {
        "text": "Open",
        "href": "/result/demo/a",
        "aria-label": "Open Countdown",
    }
    assert parts["cancel"]["aria-label"] == "Cancel Countdown"
    assert parts["hide"]["aria-label"] == "Hide Countdown"
    assert parts["progress"]["aria-label"] == "Countdown progress"


def test_one_timer_ticks_the_running_rows_and_stops_when_no_row_needs_it(page):
    seen = page.run(
        """
        t.intervals.install();
        const realNow = Date.now;
        let clock = realNow();
        Date.now = () => clock;
        const iso = (ms) => new Date(clock - ms).toISOString();
        const texts = () => ["a", "b", "c"].map((id) => {
          const p = t.parts(id);
          return [p.submitted.text, p.ran && p.ran.text];
        });
        try {
          t.connected();
          const list = t.list({locale: "en-US"});
          const seen = {empty: t.intervals.periods()};
          t.socket.deliver({add: ["a", "b", "c"]});
          for (const id of ["a", "b"]) {
            const info = t.info(id, {date_created: iso(6e3), date_start: iso(5.5e3)});
            t.socket.deliver({update: info});
          }
          t.socket.deliver({update: t.info("c", {status: "Success", date_created: iso(6e3),
                                                 date_start: iso(5.5e3), date_end: iso(3e3)})});
          list.flush();
          seen.running = {periods: t.intervals.periods(), texts: texts()};
          clock += 60e3;
          t.intervals.tick();
          seen.ticked = texts();
          t.socket.deliver({update: t.info("a", {status: "Success", date_created: iso(66e3),
                                                 date_start: iso(65.5e3), date_end: iso(1e3)})});
          list.flush();
          seen.oneRunning = t.intervals.periods();
          t.socket.deliver({update: t.info("b", {status: "Cancelled", date_created: iso(66e3),
                                                 date_start: iso(65.5e3), date_end: iso(0)})});
          list.flush();
          seen.noneRunning = t.intervals.periods();
          clock += 3600e3;
          t.intervals.tick();
          seen.later = texts();
          t.socket.deliver({remove: ["a", "b", "c"]});
          list.flush();
          seen.gone = t.intervals.periods();
          seen.made = t.intervals.made;
          return seen;
        } finally {
          Date.now = realNow;
        }
        """
    )
    assert seen["empty"] == []
    assert seen["running"] == {
        "periods": [1000],  # one timer for both running rows
        "texts": [
            ["submitted just now", "running 5 s"],
            ["submitted just now", "running 5 s"],
            ["submitted just now", "ran 2.5 s"],
        ],
    }
    assert seen["ticked"] == [
        ["submitted 1 minute ago", "running 1:05"],
        ["submitted 1 minute ago", "running 1:05"],
        ["submitted 1 minute ago", "ran 2.5 s"],
    ]
    assert seen["oneRunning"] == [1000]
    assert seen["noneRunning"] == [15000], "with no row running, only the ago texts need it"
    assert seen["later"] == [
        ["submitted 1 hour ago", "ran 1:04"],
        ["submitted 1 hour ago", "ran 1:05"],
        ["submitted 1 hour ago", "ran 2.5 s"],
    ]
    assert seen["gone"] == []
    assert seen["made"] == 2


def test_custom_rows_start_no_timer(page):
    periods = page.run(
        """
        t.intervals.install();
        t.connected();
        const list = t.list({renderRow(info, row) { row.textContent = info.name; }});
        t.socket.deliver({add: ["a"]});
        t.socket.deliver({update: t.info("a", {date_start: new Date().toISOString()})});
        list.flush();
        return t.intervals.periods();
        """
    )
    assert periods == []


MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-30, "just now"),  # the browser's clock is behind the server's
        (0, "just now"),
        (44, "just now"),
        (45, "1 minute ago"),
        (150, "2 minutes ago"),
        (59 * MINUTE + 59, "59 minutes ago"),
        (HOUR, "1 hour ago"),
        (3 * HOUR + 10 * MINUTE, "3 hours ago"),
        (DAY + 2 * HOUR, "yesterday"),
        (3 * DAY, "3 days ago"),
        (10 * DAY, "on Nov 20, 2026"),
    ],
)
def test_format_ago(page, seconds, shown):
    now = "Date.UTC(2026, 10, 30, 12)"
    ago = page.run(
        f"return moi.JobList.formatAgo({now} - arguments[0] * 1000, {now}, 'en-US');", seconds
    )
    assert ago == shown


@pytest.mark.parametrize(("seconds", "live", "shown"), DURATIONS)  # moi.durations' table too
def test_format_duration(page, seconds, live, shown):
    assert (
        page.run("return moi.JobList.formatDuration(arguments[0], arguments[1]);", seconds, live)
        == shown
    )


def test_custom_render_row_and_compare(page):
    seen = page.run(
        """
        t.connected();
        const list = t.list({
          element: "#other",
          emptyText: "Nothing.",
          compare: (a, b) => String(a.name).localeCompare(String(b.name)),
          renderRow(info, row) {
            if (!row.firstChild) {
              const button = document.createElement("button");
              button.className = "moi-job-remove";
              row.append(document.createElement("span"), button);
            }
            row.firstChild.textContent = `${info.name}: ${info.status}`;
          },
        });
        const empty = t.emptyText("#other");
        t.socket.deliver({add: ["z1", "z2"]});
        t.socket.deliver({update: t.info("z1", {name: "beta"})});
        t.socket.deliver({update: t.info("z2", {name: "alpha", status: "Success"})});
        list.flush();
        // API version 2: the element also holds the window's spacers; rows() are the rows.
        const rows = list.rows().map((row) => [row.tagName, row.className,
          row.getAttribute("data-job-id"), row.getAttribute("data-status"),
          row.firstChild.textContent]);
        t.row("z2", "#other").querySelector(".moi-job-remove").click();  // Success: at once
        return {empty, rows, sent: t.socket.sent.slice(-1)};
        """
    )
    assert seen["empty"] == "Nothing."
    assert seen["rows"] == [
        ["DIV", "moi-job", "z2", "Success", "alpha: Success"],
        ["DIV", "moi-job", "z1", "Running", "beta: Running"],
    ]
    assert seen["sent"] == [{"remove": "z2"}]


def test_job_data_is_written_as_text_never_as_markup(page):
    job_id = "<i>id</i>"
    name = '<img src="x" onerror="window.pwned = true"><b>bold</b>'
    status = "<script>window.pwned = true</script>"
    seen = feed(
        page,
        [job_id],
        [{"id": job_id, "name": name, "status": status}],
        then="""
        const row = list.el.querySelector(".moi-job");
        return {rows: t.rows(), tags: [...row.querySelectorAll("*")].map((el) => el.tagName),
                pwned: window.pwned === true};
        """,
    )
    assert seen["tags"] == ["SPAN", "SPAN", "SPAN", "TIME", "SPAN", "A", "BUTTON", "BUTTON"]
    assert seen["pwned"] is False
    [row] = seen["rows"]
    assert (row["id"], row["name"], row["status"]) == (job_id, name, status)


def test_the_list_element_shows_the_connection_state(page):
    states = page.run(
        """
        t.timers.install();
        const conn = t.connect();
        const list = t.list();
        const state = () => list.el.getAttribute("data-moi-state");
        const states = [state()];
        t.socket.open();
        states.push(state());
        t.socket.drop();
        states.push(state());
        t.timers.fire();
        t.socket.open();
        states.push(state());
        conn.close();
        return states.concat(state());
        """
    )
    assert states == ["connecting", "connected", "reconnecting", "connected", "closed"]


def test_rows_of_unfinished_jobs_say_they_are_not_live_until_the_full_list_is_back(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        const list = t.list();
        t.socket.deliver({add: ["run", "done"]});
        t.socket.deliver({update: [t.info("run", {status: "19 s to go"}),
                                   t.info("done", {status: "Success"})]});
        list.flush();
        const stale = () => Object.fromEntries(["run", "done"].map((id) =>
          [id, t.row(id).classList.contains("moi-job-stale")]));
        const seen = {live: stale()};
        t.socket.drop();
        seen.reconnecting = stale();
        t.timers.fire();
        t.socket.open();  // reopened, but the server's list has not come yet
        seen.resyncing = stale();
        t.socket.deliver({add: ["run", "done"]});
        seen.back = stale();
        return seen;
        """
    )
    assert seen["live"] == {"run": False, "done": False}
    assert seen["reconnecting"] == {"run": True, "done": False}  # an ended job never changes
    assert seen["resyncing"] == {"run": True, "done": False}
    assert seen["back"] == {"run": False, "done": False}


def test_a_list_made_after_the_socket_opened_asks_for_the_list(page):
    seen = page.run(
        """
        t.connect();
        t.list();
        t.socket.open();
        const early = t.socket.sent.slice();  // the server sends the list on open
        t.list({element: "#other"});
        return {early, late: t.socket.sent};
        """
    )
    assert seen == {"early": [], "late": [{"get": None}]}


def test_destroy_empties_the_element_and_stops_listening(page):
    seen = feed(
        page,
        ["a"],
        [{"id": "a"}],
        then="""
        list.destroy();
        t.socket.deliver({add: ["b"]});
        t.socket.deliver({update: t.info("b")});
        list.flush();
        return {html: list.el.innerHTML, state: list.el.getAttribute("data-moi-state")};
        """,
    )
    assert seen == {"html": "", "state": None}
    # Nor does a frame or a state change bring anything back.
    after = page.run_async(
        """
        t.conn.close();
        await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        return {html: t.jobList.el.innerHTML, state: t.jobList.el.getAttribute("data-moi-state")};
        """
    )
    assert after == {"html": "", "state": None}


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/jobs.py", line 3, in fail\n'
    "    raise ValueError(message)\n"
    "ValueError: <b>out</b> of coffee\n\n"
)


@pytest.mark.parametrize(
    "info",
    [
        {"status": "Failed", "result": TRACEBACK},
        {"status": "Failed", "result": "one line"},
        {"status": "Failed", "result": "first\r\nsecond \r\n \t\r\n"},
        {"status": "Failed", "result": "kept\x1c\x1f \u2028\x85"},  # Python's line ends
        {"status": "Failed", "result": "\ufeffBOM stays\u3000"},  # strip() as Python's
        {"status": "Failed", "result": "E: " + "x" * 400},
        {"status": "Failed", "result": "E: " + "😀" * 400},  # code points, not UTF-16
        {"status": "Failed", "result": "E: " + "y" * 297},  # exactly 300: not cut
        {"status": "Failed", "result": "   \n\n"},
        {"status": "Failed", "result": None},
        {"status": "Failed", "result": 42},
        {"status": "Success", "result": "ValueError: no"},
        {"status": "Running", "result": None},
    ],
)
def test_the_failure_reason_is_moi_status_failure_reason(page, info):
    from moi.status import failure_reason

    shown = page.run("return moi.JobList.failureReason(arguments[0]);", info)
    assert shown == failure_reason(info)


def test_a_failed_row_shows_its_exceptions_last_line_as_text(page):
    rows = feed(
        page,
        ["f", "s"],
        [
            {"id": "f", "status": "Failed", "result": TRACEBACK},
            {"id": "s", "status": "Success", "result": "ValueError: not a failure"},
        ],
        {},
        """
        return Array.from(document.querySelectorAll(".moi-job"), (row) => {
          const reason = row.querySelector(".moi-job-reason");
          return [row.dataset.jobId, reason?.textContent ?? null, reason?.children.length ?? null];
        });
        """,
    )
    assert sorted(rows) == [["f", "ValueError: <b>out</b> of coffee", 0], ["s", None, None]]


def test_ends_heard_live_are_said_politely_at_most_every_two_seconds(page):
    seen = feed(
        page,
        ["a", "b", "c", "d", "e", "f", "g"],
        [{"id": "a"}, {"id": "b", "status": "Queued"}, {"id": "c", "status": "Success"}]
        + [{"id": x} for x in "defg"],
        then="""
        t.timers.install();
        const region = document.querySelector("#list + .moi-announce");
        const said = () => region.textContent;
        const first = said();  // c had ended before the list heard of it: not news
        t.socket.deliver({update: t.info("a", {status: "Success"})});
        const a = said();
        t.socket.deliver({update: t.info("b", {status: "Failed"})});
        t.socket.deliver({update: t.info("b", {status: "Failed"})});  // heard again: said once
        const held = said();
        const delays = t.timers.delays();
        t.timers.fire();
        const b = said();
        for (const id of "defg") t.socket.deliver({update: t.info(id, {status: "Cancelled"})});
        t.socket.deliver({update: t.info("a", {status: "Running"})});  // not an end
        t.timers.fire();
        const many = said();
        t.timers.fire();  // a quiet interval: the timer stops
        return {
          role: region.getAttribute("role"),
          inList: document.querySelector("#list").contains(region),
          listLive: document.querySelector("#list").getAttribute("aria-live"),
          first, a, held, delays, b, many, after: t.timers.delays(),
        };
        """,
    )
    assert seen == {
        "role": "status",
        "inList": False,
        "listLive": None,  # the rows tick every second: not read out
        "first": "",
        "a": "job a: Success",
        "held": "job a: Success",
        "delays": [2000],
        "b": "job b: Failed",
        "many": "4 jobs ended: 4 Cancelled",
        "after": [],
    }


def test_a_list_told_not_to_announce_makes_no_region_and_destroy_takes_it_away(page):
    seen = page.run(
        """
        t.connected();
        const quiet = t.list({announce: false});
        const none = document.querySelectorAll(".moi-announce").length;
        quiet.destroy();
        const list = t.list();
        const one = document.querySelectorAll(".moi-announce").length;
        list.destroy();
        return [none, one, document.querySelectorAll(".moi-announce").length];
        """
    )
    assert seen == [0, 1, 0]


def test_a_waiting_row_says_how_many_of_the_lists_waiting_jobs_go_first(page):
    """Counted in the page from the jobs it has (moi's queue is FIFO within a group): when
    one starts or is cancelled, the rows behind it move up, with no message for them."""
    waiting = [
        {"id": name, "status": "Queued", "date_created": f"2026-01-01T00:00:0{n}"}
        for n, name in enumerate(["w0", "w1", "w2"])
    ]
    again = {"id": "again", "status": "Queued", "attempt": 2, "requeues": 1}
    again["date_created"] = "2026-01-01T00:00:09"
    running = {"id": "r", "status": "Running", "date_created": "2026-01-01T00:00:00"}
    seen = page.run(
        FED
        + """
        const ahead = (ids) => Object.fromEntries(
            ids.map((id) => [id, t.parts(id).ahead?.text ?? null]));
        const before = ahead(["w0", "w1", "w2", "again", "r"]);
        t.socket.deliver({update: t.info("w0", {...arguments[1][0], status: "Running"})});
        t.socket.deliver({remove: "w1"});
        list.flush();
        const after = ahead(["w0", "w2", "again", "r"]);
        return {before, after, attempt: t.parts("again").attempt};
        """,
        ["w0", "w1", "w2", "again", "r"],
        [*waiting, again, running],
    )
    assert seen["before"] == {
        "w0": "next in line",
        "w1": "1 ahead in line",
        "w2": "2 ahead in line",
        "again": "3 ahead in line",
        "r": None,
    }
    assert seen["after"] == {
        "w0": None,
        "w2": "next in line",
        "again": "1 ahead in line",
        "r": None,
    }
    assert seen["attempt"] is None, "a run its engine never started is not an attempt"
