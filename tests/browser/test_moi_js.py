"""Unit tests of ``moi/static/moi.js`` in Chromium: ``moi.Connection``, ``moi.isFinal``,
``moi.statusSlug``.

Each test gets the harness page freshly loaded (``page``): the real script, a fake
WebSocket that the test opens, feeds and drops itself, timers it fires by hand, so that
backoff delays are read rather than waited for, and a fake fetch whose probes it answers
(``pages/moi_unit.js``).
"""

from __future__ import annotations

import pytest

from moi.status import Status, is_final, status_slug

BACKOFF_START_MS = 500
BACKOFF_MAX_MS = 2000
RANDOM = 0.75  # Math.random() in the tests that read exact waits: a wait is that × the backoff
QUEUE_MAX = 100


def host(page) -> str:
    return page.base_url.removeprefix("http://")


def backoffs(count: int) -> list[int]:
    """The backoff before each of ``count`` failed attempts in a row: doubling, then capped."""
    return [min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2**i) for i in range(count)]


def assert_waits(delays: list[list[float]], bases: list[int]) -> None:
    """One reconnect timer after each attempt, waiting Math.random() (:data:`RANDOM`) times
    its backoff: full jitter."""
    assert [len(pending) for pending in delays] == [1] * len(bases), delays
    assert [delay for [delay] in delays] == pytest.approx([base * RANDOM for base in bases])


def test_socket_url_is_ws_on_the_page_host(page):
    urls = page.run(
        """
        t.connect();
        t.connect({path: "/jobs/ws/"});
        t.connect({path: "jobs/ws"});
        return t.FakeSocket.all.map((ws) => ws.url);
        """
    )
    assert urls == [
        f"ws://{host(page)}/moi-ws/",
        f"ws://{host(page)}/jobs/ws/",
        f"ws://{host(page)}/jobs/ws",
    ]


def test_socket_url_is_wss_on_an_https_page(page):
    # moi.js run again with a window whose location is an https page.
    made = page.run_async(
        """
        const made = [];
        const fake = {
          location: {protocol: "https:", host: "jobs.example.org:8443"},
          WebSocket: class { constructor(url) { made.push(url); } },
        };
        const moi = await t.moiWith(fake);
        new moi.Connection({path: "/moi-ws/"});
        return made;
        """
    )
    assert made == ["wss://jobs.example.org:8443/moi-ws/"]


def test_url_option_overrides_path(page):
    url = page.run("t.connect({url: 'wss://other.example/ws', path: '/x/'}); return t.socket.url;")
    assert url == "wss://other.example/ws"


def test_state_callbacks_report_each_state_once(page):
    seen = page.run(
        """
        t.timers.install();
        const conn = t.connect();
        const first = conn.state;
        t.socket.open();
        t.socket.drop();
        t.timers.fire();
        t.socket.open();
        conn.close();
        return {first, states: t.log.filter(([kind]) => kind === "state").map(([, s]) => s)};
        """
    )
    assert seen["first"] == "connecting"
    assert seen["states"] == ["connected", "reconnecting", "connected", "closed"]


def test_one_message_dispatches_add_then_update_then_remove_then_other_keys(page):
    log = page.run(
        """
        t.connected();
        for (const action of ["zeta", "extra"]) t.conn.on(action, (v) => t.log.push([action, v]));
        t.socket.deliver(
          '{"remove": "j1", "zeta": 1, "update": {"id": "j1"}, "extra": 2, "add": ["j1"]}');
        return t.log.filter(([kind]) => kind !== "state");
        """
    )
    assert log == [
        ["add", ["j1"]],
        ["update", {"id": "j1"}],
        ["remove", ["j1"]],
        ["zeta", 1],
        ["extra", 2],
    ]


def test_add_and_remove_values_become_arrays_of_string_ids(page):
    log = page.run(
        """
        t.connected();
        t.socket.deliver({add: "a"});
        t.socket.deliver({add: ["b", 5, null, "c"]});
        t.socket.deliver({remove: null});
        return t.log.filter(([kind]) => kind !== "state");
        """
    )
    assert log == [["add", ["a"]], ["add", ["b", "c"]], ["remove", []]]


def test_an_update_with_a_list_reaches_listeners_as_one_call_per_job(page):
    log = page.run(
        """
        t.connected();
        t.socket.deliver({update: [{id: "a"}, {id: "b"}]});
        t.socket.deliver({update: {id: "c"}});
        return t.log.filter(([kind]) => kind === "update");
        """
    )
    assert log == [["update", {"id": "a"}], ["update", {"id": "b"}], ["update", {"id": "c"}]]


def test_messages_that_are_not_json_objects_are_ignored_with_a_warning(page):
    seen = page.run(
        """
        t.connected();
        for (const data of ["not json", "[1, 2]", "null", "3"]) t.socket.deliver(data);
        return {log: t.log.filter(([kind]) => kind !== "state"), warned: t.console.warn};
        """
    )
    assert seen["log"] == []
    assert len(seen["warned"]) == 4
    assert "not JSON" in seen["warned"][0]


def test_a_throwing_listener_does_not_keep_the_others_from_the_message(page):
    page.driver.allow_console_errors("Error: listener bug")
    seen = page.run(
        """
        t.connected();
        t.conn.on("add", () => { throw new Error("listener bug"); });
        t.socket.deliver({add: ["a"]});
        return {log: t.log.filter(([kind]) => kind !== "state"), errors: t.console.error};
        """
    )
    assert seen["log"] == [["add", ["a"]]]
    assert len(seen["errors"]) == 1
    assert "listener bug" in seen["errors"][0]


def test_unregistered_listeners_hear_nothing(page):
    heard = page.run(
        """
        const heard = [];
        const conn = t.connect();
        const offAdd = conn.on("add", (ids) => heard.push(ids));
        const offState = conn.onState((state) => heard.push(state));
        offAdd();
        offState();
        t.socket.open();
        t.socket.deliver({add: ["a"]});
        return heard;
        """
    )
    assert heard == []


def test_messages_sent_before_open_are_queued_and_sent_on_open_in_order(page):
    seen = page.run(
        """
        const conn = t.connect();
        const results = [conn.send("remove", "a"), conn.remove(["b", "c"]), conn.remove("d")];
        const sentBefore = t.socket.sent.length;
        t.socket.open();
        return {results, sentBefore, sent: t.socket.sent};
        """
    )
    assert seen["results"] == [True, True, True]
    assert seen["sentBefore"] == 0
    assert seen["sent"] == [{"remove": "a"}, {"remove": ["b", "c"]}, {"remove": "d"}]


def test_messages_queued_while_closed_go_out_before_those_sent_by_open_listeners(page):
    sent = page.run(
        """
        const conn = t.connect();
        conn.remove("queued");
        conn.onState((state) => state === "connected" && conn.remove("sent-on-open"));
        t.socket.open();
        return t.socket.sent;
        """
    )
    assert sent == [{"remove": "queued"}, {"remove": "sent-on-open"}]


def test_the_queue_holds_queue_max_messages_and_drops_the_rest_with_a_warning(page):
    seen = page.run(
        """
        const conn = t.connect();
        const results = [];
        for (let i = 0; i <= arguments[0]; i++) results.push(conn.remove("j" + i));
        t.socket.open();
        return {results, sent: t.socket.sent, warned: t.console.warn};
        """,
        QUEUE_MAX,
    )
    assert seen["results"] == [True] * QUEUE_MAX + [False]
    assert seen["sent"] == [{"remove": f"j{i}"} for i in range(QUEUE_MAX)]
    assert any("send queue full" in line for line in seen["warned"]), seen["warned"]


def test_get_asks_for_the_list_only_while_open_and_is_not_queued(page):
    seen = page.run(
        """
        const conn = t.connect();
        const early = conn.get();
        t.socket.open();
        const late = conn.get();
        return {early, late, sent: t.socket.sent};
        """
    )
    assert seen["early"] is False
    assert seen["late"] is True
    assert seen["sent"] == [{"get": None}]


def test_remove_with_no_string_id_sends_nothing(page):
    seen = page.run(
        """
        const conn = t.connected();
        return {results: [conn.remove([]), conn.remove(5), conn.remove(null)], sent: t.socket.sent};
        """
    )
    assert seen == {"results": [False, False, False], "sent": []}


def test_cancel_sends_one_id_or_a_list_and_nothing_without_a_string_id(page):
    seen = page.run(
        """
        const conn = t.connected();
        const results = [conn.cancel("a"), conn.cancel(["b", 5, "c"]), conn.cancel([]),
                         conn.cancel(null)];
        return {results, sent: t.socket.sent};
        """
    )
    assert seen == {
        "results": [True, True, False, False],
        "sent": [{"cancel": "a"}, {"cancel": ["b", "c"]}],
    }


def test_a_drop_reconnects_after_a_doubling_backoff_with_full_jitter(page):
    delays = page.run(
        """
        t.timers.install();
        t.random(arguments[0]);
        t.connected({probeUrl: null});  // no probe: the backoff alone
        const delays = [];
        for (let i = 0; i < 3; i++) {
          t.socket.drop();  // the first time an open socket, then failed attempts
          delays.push(t.timers.delays());
          t.timers.fire();
        }
        t.socket.open();
        t.socket.deliver({add: []});  // the list of a group with no jobs: a working session
        t.socket.drop();
        delays.push(t.timers.delays());
        return {delays, sockets: t.FakeSocket.all.length};
        """,
        RANDOM,
    )
    assert delays["sockets"] == 4
    assert_waits(delays["delays"], [*backoffs(3), BACKOFF_START_MS])


@pytest.mark.parametrize("code", [1011, 1012, 1013])
def test_a_server_that_accepts_then_closes_before_its_list_is_retried_ever_more_slowly(page, code):
    # As a server whose pub/sub hub cannot join does (1011), or one restarting (1012) or
    # overloaded (1013): each open must not start the backoff over. (No probe here: 1012
    # and 1013 would ask it first, see below.)
    seen = page.run(
        """
        t.timers.install();
        t.random(arguments[1]);
        t.connect({probeUrl: null});
        const delays = [];
        for (let i = 0; i < 10; i++) {
          t.socket.open();
          t.socket.serverClose(arguments[0]);
          delays.push(t.timers.delays());
          t.timers.fire();
        }
        return {delays, sockets: t.FakeSocket.all.length, probes: t.probes.urls()};
        """,
        code,
        RANDOM,
    )
    assert seen["sockets"] == 11
    assert seen["probes"] == []
    assert_waits(seen["delays"], backoffs(10))
    assert backoffs(10)[:4] == [500, 1000, 2000, 2000]


def test_after_the_servers_list_the_next_drop_retries_at_the_first_delay_again(page):
    seen = page.run(
        """
        t.timers.install();
        t.random(arguments[0]);
        t.connect();
        const delays = [];
        const attempt = (session) => {
          t.socket.open();
          session(t.socket);
          delays.push(t.timers.delays());
          t.timers.fire();
        };
        for (let i = 0; i < 4; i++) attempt((ws) => ws.serverClose(1011));
        // A working session: the server's list, then the jobs' info, then a network drop.
        attempt((ws) => {
          ws.deliver({add: ["j1", "j2"]});
          ws.deliver({update: [t.info("j1"), t.info("j2")]});
          ws.drop();
        });
        // Failing again afterwards grows from the first delay again.
        attempt((ws) => ws.serverClose(1011));
        return {delays, sockets: t.FakeSocket.all.length};
        """,
        RANDOM,
    )
    assert seen["sockets"] == 7
    assert_waits(seen["delays"], [*backoffs(4), *backoffs(2)])


def test_the_backoff_stops_growing_at_its_maximum(page):
    delays = page.run(
        """
        t.timers.install();
        t.random(0.999999);
        t.connect({probeUrl: null});
        const delays = [];
        for (let i = 0; i < 10; i++) {
          t.socket.drop();
          delays.push(...t.timers.delays());
          t.timers.fire();
        }
        return delays;
        """
    )
    assert max(delays) == pytest.approx(BACKOFF_MAX_MS, abs=0.01)
    assert delays[-1] == pytest.approx(BACKOFF_MAX_MS, abs=0.01)


def test_the_waits_are_spread_over_the_whole_backoff(page):
    # Full jitter: the tabs one outage dropped together come back spread from 0 to the
    # backoff, not bunched at its end (a reconnect storm). Real Math.random, 400 waits.
    delays = page.run(
        """
        t.timers.install();
        t.connect({probeUrl: null});
        const delays = [];
        for (let i = 0; i < 404; i++) {
          t.socket.drop();
          delays.push(...t.timers.delays());
          t.timers.fire();
        }
        return delays.slice(4);  // capped from the fourth on
        """
    )
    assert all(0 <= delay <= BACKOFF_MAX_MS for delay in delays)
    quarter = BACKOFF_MAX_MS / 4
    quarters = [sum(q * quarter <= d < (q + 1) * quarter for d in delays) for q in range(4)]
    assert min(quarters) >= 50, quarters  # 100 each on average; below 50 is p < 1e-8


def test_reconnect_emits_resync_on_open_before_any_message_and_sends_the_queue(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        const first = t.socket;
        first.drop();
        t.conn.remove("a");  // while reconnecting: queued
        t.timers.fire();
        t.socket.open();
        t.socket.deliver({add: ["b"]});
        return {log: t.log, sockets: t.FakeSocket.all.length, firstSent: first.sent,
                sent: t.socket.sent};
        """
    )
    assert seen["sockets"] == 2
    assert seen["log"] == [
        ["state", "connected"],
        ["state", "reconnecting"],
        ["state", "connected"],
        ["resync", None],
        ["add", ["b"]],
    ]
    # No {"get": null}: the server sends the whole list on every open (PROTOCOL.md).
    assert seen["sent"] == [{"remove": "a"}]
    assert seen["firstSent"] == []


def test_the_first_open_emits_no_resync(page):
    log = page.run("t.connected(); return t.log;")
    assert log == [["state", "connected"]]


def test_going_online_reconnects_at_once_instead_of_waiting(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        window.dispatchEvent(new Event("online"));  // while open: nothing to do
        const whileOpen = t.FakeSocket.all.length;
        t.socket.drop();
        window.dispatchEvent(new Event("online"));
        return {whileOpen, sockets: t.FakeSocket.all.length, pending: t.timers.delays()};
        """
    )
    assert seen == {"whileOpen": 1, "sockets": 2, "pending": []}


def test_events_of_a_replaced_socket_are_ignored(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        const old = t.socket;
        old.drop();
        t.timers.fire();
        t.socket.open();
        const before = t.log.length;
        old.deliver({add: ["ghost"]});
        old.onclose({code: 1006});
        return {log: t.log.slice(before), state: t.conn.state, pending: t.timers.delays()};
        """
    )
    assert seen == {"log": [], "state": "connected", "pending": []}


def test_close_closes_the_socket_for_good_and_drops_later_messages(page):
    seen = page.run(
        """
        t.timers.install();
        const conn = t.connected();
        const ws = t.socket;
        conn.close();
        window.dispatchEvent(new Event("online"));
        const sent = conn.send("remove", "a");
        return {state: conn.state, code: ws.closeCode, sent, sockets: t.FakeSocket.all.length,
                pending: t.timers.delays(), warned: t.console.warn};
        """
    )
    assert seen["state"] == "closed"
    assert seen["code"] == 1000
    assert seen["sent"] is False
    assert seen["sockets"] == 1
    assert seen["pending"] == []
    assert any("connection closed" in line for line in seen["warned"]), seen["warned"]


def test_close_while_waiting_to_reconnect_cancels_the_reconnect(page):
    seen = page.run(
        """
        t.timers.install();
        const conn = t.connected();
        t.socket.drop();
        const waiting = t.timers.delays().length;
        conn.remove("a");
        conn.close();
        t.timers.fire();
        window.dispatchEvent(new Event("online"));
        return {waiting, pending: t.timers.delays(), sockets: t.FakeSocket.all.length,
                state: conn.state};
        """
    )
    assert seen == {"waiting": 1, "pending": [], "sockets": 1, "state": "closed"}


STATUSES = [*Status, "Saying hello", "Running 50%", "success", "", "…", "<b>x</b>", "Ünï ✓"]


def test_is_final_is_true_for_the_final_statuses_only_as_in_python(page):
    finals = page.run("return arguments[0].map(moi.isFinal);", STATUSES)
    assert finals == [is_final(status) for status in STATUSES]
    assert [s for s, final in zip(STATUSES, finals, strict=True) if final] == [
        "Success",
        "Failed",
        "Cancelled",
    ]


def test_status_slug_spells_statuses_as_the_python_side_does(page):
    slugs = page.run("return arguments[0].map(moi.statusSlug);", STATUSES)
    assert slugs == [status_slug(status) for status in STATUSES]
    assert slugs[STATUSES.index("Running 50%")] == "running-50-"
    assert slugs[STATUSES.index("")] == "unknown"


def test_status_slug_agrees_with_python_beyond_the_basic_multilingual_plane(page):
    statuses = ["Done 🚀", "𝒳"]
    slugs = page.run("return arguments[0].map(moi.statusSlug);", statuses)
    assert slugs == [status_slug(status) for status in statuses]


def test_a_session_the_server_ended_is_not_reconnected_and_says_so(page):
    seen = page.run(
        """
        t.timers.install();
        t.connected();
        let ended = 0;
        t.conn.on("ended", () => { ended += 1; });
        t.socket.serverClose(4401);  // the user signed out, in another tab
        return {ended, state: t.conn.state, timers: t.timers.delays(),
                sockets: t.FakeSocket.all.length};
        """
    )
    assert seen == {"ended": 1, "state": "closed", "timers": [], "sockets": 1}


# -- the probe: why a socket could not open ------------------------------------------------


def refused(page, script: str, *args):
    """Run ``script`` (async) after a connection's first socket was refused before opening."""
    return page.run_async(
        """
        t.timers.install();
        t.random(0.75);
        t.connect();
        t.socket.drop();  // never opened: an upgrade refused, or no server
        """
        + script,
        *args,
    )


def test_a_socket_that_never_opened_asks_the_probe_at_once(page):
    seen = refused(
        page,
        """
        const [probe] = t.probes.asked;
        return {urls: t.probes.urls(), credentials: probe.options.credentials,
                cache: probe.options.cache, timers: t.timers.delays(), state: t.conn.state,
                sockets: t.FakeSocket.all.length};
        """,
    )
    assert seen == {
        "urls": [f"http://{host(page)}/moi-ws/ready"],
        "credentials": "same-origin",
        "cache": "no-store",
        "timers": [],
        "state": "reconnecting",
        "sockets": 1,
    }


@pytest.mark.parametrize("status", [401, 403])
def test_a_probe_that_says_signed_out_ends_the_connection_as_4401_does(page, status):
    seen = refused(
        page,
        """
        await t.probes.answer(arguments[0]);
        window.dispatchEvent(new Event("online"));
        return {log: t.log, state: t.conn.state, timers: t.timers.delays(),
                sockets: t.FakeSocket.all.length, probes: t.probes.urls(),
                sent: t.conn.send("remove", "a")};
        """,
        status,
    )
    assert seen == {
        "log": [["state", "reconnecting"], ["state", "closed"], ["ended", None]],
        "state": "closed",
        "timers": [],
        "sockets": 1,
        "probes": [],
        "sent": False,
    }


@pytest.mark.parametrize("away", [503, 502, 504, "no answer"])
def test_while_the_server_is_away_the_probe_is_polled_and_the_socket_comes_back_at_once(page, away):
    seen = refused(
        page,
        """
        const away = arguments[0];
        const waits = [];
        for (let i = 0; i < 5; i++) {
          if (away === "no answer") await t.probes.fail(); else await t.probes.answer(away);
          waits.push(t.timers.delays());
          t.timers.fire();  // the next probe, not a socket
        }
        const socketsWhileAway = t.FakeSocket.all.length;
        await t.probes.answer(200);  // back
        const afterReady = {sockets: t.FakeSocket.all.length, timers: t.timers.delays()};
        t.socket.open();
        t.socket.deliver({add: []});
        return {waits, socketsWhileAway, afterReady, probes: t.probes.urls(),
                log: t.log.slice(-3)};
        """,
        away,
    )
    # Polled with the same full-jitter backoff as the socket.
    assert [wait for [wait] in seen["waits"]] == pytest.approx(
        [0.75 * base for base in backoffs(5)]
    )
    assert seen["socketsWhileAway"] == 1, "no upgrade is tried while the probe says away"
    assert seen["afterReady"] == {"sockets": 2, "timers": []}
    assert seen["probes"] == []
    # The first socket never opened, so this open is the first: no "resync".
    assert seen["log"] == [["state", "reconnecting"], ["state", "connected"], ["add", []]]


def test_a_socket_refused_right_after_a_ready_probe_is_tried_again_only_after_waits(page):
    # The probe lets us in but the socket is refused (another reason): no loop without waits.
    seen = refused(
        page,
        """
        const rounds = [];
        await t.probes.answer(200);  // the socket at once
        rounds.push({timers: t.timers.delays(), sockets: t.FakeSocket.all.length});
        for (let i = 0; i < 3; i++) {
          t.socket.drop();  // refused again
          await t.probes.answer(200);
          rounds.push({timers: t.timers.delays(), sockets: t.FakeSocket.all.length});
          t.timers.fire();
        }
        t.socket.open();  // let in at last: the probe is trusted again
        t.socket.drop();
        t.timers.fire();
        t.socket.drop();
        await t.probes.answer(200);
        rounds.push({timers: t.timers.delays(), sockets: t.FakeSocket.all.length});
        return rounds;
        """,
    )
    assert seen == [
        {"timers": [], "sockets": 2},
        {"timers": [pytest.approx(0.75 * 500)], "sockets": 2},
        {"timers": [pytest.approx(0.75 * 1000)], "sockets": 3},
        {"timers": [pytest.approx(0.75 * 2000)], "sockets": 4},
        {"timers": [], "sockets": 7},
    ]


@pytest.mark.parametrize("status", [404, 405, 500])
def test_without_a_probe_to_ask_the_socket_is_tried_again_after_the_wait(page, status):
    seen = refused(
        page,
        """
        await t.probes.answer(arguments[0]);
        const waiting = {timers: t.timers.delays(), sockets: t.FakeSocket.all.length};
        t.timers.fire();
        return {waiting, sockets: t.FakeSocket.all.length, state: t.conn.state};
        """,
        status,
    )
    assert seen == {
        "waiting": {"timers": [pytest.approx(0.75 * 500)], "sockets": 1},
        "sockets": 2,
        "state": "reconnecting",
    }


def test_probe_url_null_asks_nothing_and_a_probe_url_option_is_asked(page):
    seen = page.run(
        """
        t.timers.install();
        t.connect({probeUrl: null});
        t.socket.drop();
        const none = {probes: t.probes.urls(), timers: t.timers.delays().length};
        t.connect({probeUrl: "/site/alive"});
        t.socket.drop();
        return {none, asked: t.probes.urls()};
        """
    )
    assert seen == {"none": {"probes": [], "timers": 1}, "asked": ["/site/alive"]}


def test_the_default_probe_is_next_to_the_socket_with_the_same_security(page):
    made = page.run_async(
        """
        const probes = [];
        const fake = {
          location: {protocol: "https:", host: "jobs.example.org:8443"},
          WebSocket: class { constructor(url) { this.url = url; } },
        };
        const moi = await t.moiWith(fake);
        const made = [{path: "/moi-ws/"}, {path: "/live"}, {url: "ws://h.test/a/ws?x=1"}];
        for (const options of made) probes.push(new moi.Connection(options).probeUrl);
        return probes;
        """
    )
    assert made == [
        "https://jobs.example.org:8443/moi-ws/ready",
        "https://jobs.example.org:8443/live/ready",
        "http://h.test/a/ws/ready?x=1",
    ]


def test_close_while_the_probe_is_out_ignores_its_answer(page):
    seen = refused(
        page,
        """
        t.conn.close();
        await t.probes.answer(401);
        return {log: t.log, timers: t.timers.delays(), sockets: t.FakeSocket.all.length};
        """,
    )
    assert seen == {
        "log": [["state", "reconnecting"], ["state", "closed"]],
        "timers": [],
        "sockets": 1,
    }


def test_going_online_while_polling_the_probe_asks_it_at_once(page):
    seen = refused(
        page,
        """
        await t.probes.answer(503);
        const waiting = t.timers.delays().length;
        window.dispatchEvent(new Event("online"));
        return {waiting, timers: t.timers.delays(), probes: t.probes.urls().length,
                sockets: t.FakeSocket.all.length};
        """,
    )
    assert seen == {"waiting": 1, "timers": [], "probes": 1, "sockets": 1}


@pytest.mark.parametrize(
    ("code", "probed"), [(1012, True), (1013, True), (1011, False), (1006, False)]
)
def test_a_server_that_closes_saying_it_is_away_is_followed_by_the_probe_not_a_socket(
    page, code, probed
):
    seen = page.run_async(
        """
        t.timers.install();
        t.random(0.75);
        t.connected();
        t.socket.deliver({add: []});
        t.socket.serverClose(arguments[0]);  // 1012: moi's hub lost Redis
        const timers = t.timers.delays();
        t.timers.fire();
        const after = {sockets: t.FakeSocket.all.length, probes: t.probes.urls().length};
        if (after.probes) await t.probes.answer(200);  // back: the socket at once
        return {timers, after, sockets: t.FakeSocket.all.length};
        """,
        code,
    )
    assert seen["timers"] == [pytest.approx(0.75 * BACKOFF_START_MS)]
    assert seen["after"] == ({"sockets": 1, "probes": 1} if probed else {"sockets": 2, "probes": 0})
    assert seen["sockets"] == 2
