"""Unit tests of ``moi/static/moi_list.js`` in Chromium: ``moi.JobList`` on a fake socket.

Each test gets the harness page freshly loaded (``page``, ``pages/moi_unit.js``): it
feeds the list the server's messages itself, then applies them with ``list.flush()`` or
waits on the page's state. Rows are read back as plain data with ``t.rows()``.
"""

from __future__ import annotations

import pytest

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
            "href": None,
            "text": "job aQueuedRemove",
        },
        {
            "id": "b",
            "status": "Running 50%",
            "tag": "li",
            "pending": False,
            "name": "b",  # no name: the ID stands in
            "badge": "moi-status moi-status-running-50-",
            "progress": None,
            "href": None,
            "text": "bRunning 50%Remove",
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


def test_only_a_final_job_links_to_its_result_page(page):
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
        ("run", None),
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
    rows = feed(page, ["j"], [{"id": "j", "status": "Success", "handler": handler}])
    assert [(row["id"], row["status"], row["href"]) for row in rows] == [("j", "Success", None)]


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


def test_the_remove_button_asks_the_server_to_remove_its_job(page):
    seen = feed(
        page,
        ["a", "b"],
        [{"id": "a", "name": "Alpha"}, {"id": "b"}],
        then="""
        const button = t.row("a").querySelector(".moi-job-remove");
        button.click();
        return {label: button.getAttribute("aria-label"), sent: t.socket.sent, ids: t.ids()};
        """,
    )
    assert seen["label"] == "Remove Alpha"
    assert seen["sent"][-1] == {"remove": "a"}
    assert seen["ids"] == ["a", "b"], "the row stays until the server's remove"


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
        const rows = [...list.el.children].map((row) => [row.tagName, row.className,
          row.getAttribute("data-job-id"), row.getAttribute("data-status"),
          row.firstChild.textContent]);
        t.row("z1", "#other").querySelector(".moi-job-remove").click();
        return {empty, rows, sent: t.socket.sent.slice(-1)};
        """
    )
    assert seen["empty"] == "Nothing."
    assert seen["rows"] == [
        ["DIV", "moi-job", "z2", "Success", "alpha: Success"],
        ["DIV", "moi-job", "z1", "Running", "beta: Running"],
    ]
    assert seen["sent"] == [{"remove": "z1"}]


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
    assert seen["tags"] == ["SPAN", "SPAN", "BUTTON"]
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
