/*
 * Harness for the unit tests of moi.js and moi_list.js (tests/browser/test_moi_js.py,
 * test_moi_list_js.py). Everything is on `window.t`: a fake WebSocket that the test opens, feeds and drops by
 * hand, timers and interval timers the test fires by hand, a fake fetch whose probes the
 * test answers by hand, a log of what the connection reported, and short readers of the
 * list's rows. The page is loaded afresh for each test.
 */
(function () {
  "use strict";

  const realSetTimeout = window.setTimeout.bind(window);

  /** A WebSocket driven by the test. It records what the client sends. */
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closeCode = null;
      FakeSocket.all.push(this);
    }

    send(data) {
      // As a real socket does: sending before open is an error.
      if (this.readyState !== 1) throw new Error("FakeSocket: send() while not open");
      this.sent.push(JSON.parse(data));
    }

    close(code) {
      this.closeCode = code;
      this.readyState = 3;
      realSetTimeout(() => this.onclose && this.onclose({ code }), 0);
    }

    // What the server and the network do.
    open() {
      this.readyState = 1;
      this.onopen({});
    }

    drop() {
      this.readyState = 3;
      this.onerror({});
      this.onclose({ code: 1006 });
    }

    /** The server ends the session with a close frame (e.g. 1011): "close" without "error". */
    serverClose(code) {
      this.readyState = 3;
      this.onclose({ code, wasClean: true });
    }

    deliver(message) {
      this.onmessage({ data: typeof message === "string" ? message : JSON.stringify(message) });
    }
  }
  FakeSocket.all = [];

  /** setTimeout/clearTimeout replaced by a queue that the test reads and fires. */
  const timers = {
    pending: new Map(), // id -> {fn, ms}
    nextId: 1,
    install() {
      window.setTimeout = (fn, ms = 0) => {
        const id = timers.nextId++;
        timers.pending.set(id, { fn, ms });
        return id;
      };
      window.clearTimeout = (id) => timers.pending.delete(id);
    },
    delays() {
      return [...timers.pending.values()].map((timer) => timer.ms);
    },
    fire() {
      const due = [...timers.pending.values()];
      timers.pending.clear();
      for (const timer of due) timer.fn();
      return due.length;
    },
  };

  /** The connection's fetch: each probe waits until the test answers or fails it. */
  const probes = {
    asked: [], // {url, options, resolve, reject}, oldest first
    fetch(url, options) {
      return new Promise((resolve, reject) => probes.asked.push({ url, options, resolve, reject }));
    },
    /** Answer the oldest probe with an HTTP `status`; then let its handlers run. */
    async answer(status) {
      probes.asked.shift().resolve({ status, ok: status >= 200 && status < 300 });
      await t.settle();
    },
    /** Fail the oldest probe as fetch does when nothing answers. */
    async fail() {
      probes.asked.shift().reject(new TypeError("Failed to fetch"));
      await t.settle();
    },
    urls() {
      return probes.asked.map((probe) => probe.url);
    },
  };

  /** setInterval/clearInterval replaced by a table the test reads and ticks by hand. */
  const intervals = {
    active: new Map(), // id -> {fn, ms}
    made: 0, // how many setInterval calls there were
    install() {
      window.setInterval = (fn, ms = 0) => {
        intervals.made += 1;
        const id = 100000 + intervals.made;
        intervals.active.set(id, { fn, ms });
        return id;
      };
      window.clearInterval = (id) => intervals.active.delete(id);
    },
    /** The periods of the running interval timers. */
    periods() {
      return [...intervals.active.values()].map((timer) => timer.ms);
    },
    tick() {
      for (const timer of [...intervals.active.values()]) timer.fn();
    },
  };

  /** What moi wrote with console.warn and console.error; still written to the console too. */
  const consoleSeen = { warn: [], error: [] };
  for (const level of ["warn", "error"]) {
    const write = console[level].bind(console);
    console[level] = (...args) => {
      consoleSeen[level].push(args.map(String).join(" "));
      write(...args);
    };
  }

  const t = {
    FakeSocket,
    timers,
    intervals,
    probes,
    console: consoleSeen,
    log: [], // [kind, value] in the order the connection reported them
    conn: null,
    jobList: null,

    /** A Connection on a FakeSocket and the fake fetch, its events and states logged in `t.log`. */
    connect(options = {}) {
      const conn = new moi.Connection({ WebSocket: FakeSocket, fetch: probes.fetch, ...options });
      conn.onState((state) => t.log.push(["state", state]));
      for (const action of ["add", "update", "remove", "error", "resync", "ended"]) {
        conn.on(action, (value) => t.log.push([action, value]));
      }
      t.conn = conn;
      return conn;
    },

    /** Let promise callbacks run (the probe's answer), on a real timer. */
    settle() {
      return new Promise((resolve) => realSetTimeout(resolve, 0));
    },

    /** Math.random returns `value` from now on (the page is loaded afresh for each test). */
    random(value) {
      Math.random = () => value;
    },

    /** The socket made last. */
    get socket() {
      return FakeSocket.all[FakeSocket.all.length - 1];
    },

    /** A connection whose socket is open. */
    connected(options) {
      const conn = t.connect(options);
      t.socket.open();
      return conn;
    },

    /** A JobList on `t.conn`, in #list unless options say otherwise. */
    list(options = {}) {
      t.jobList = new moi.JobList(t.conn, { element: "#list", ...options });
      return t.jobList;
    },

    /** A job's info object, as the server sends it. */
    info(id, extra = {}) {
      return {
        id,
        name: "job " + id,
        status: "Running",
        handler: "/result/demo",
        date_created: "2026-01-01T00:00:00",
        ...extra,
      };
    },

    /** The job rows of a list element, in DOM order, as plain data. */
    rows(selector = "#list") {
      const text = (row, sel) => row.querySelector(sel)?.textContent ?? null;
      return [...document.querySelector(selector).querySelectorAll(":scope > .moi-job")].map((row) => ({
        id: row.getAttribute("data-job-id"),
        status: row.getAttribute("data-status"),
        tag: row.tagName.toLowerCase(),
        pending: row.classList.contains("moi-job-pending"),
        name: text(row, ".moi-job-name"),
        badge: row.querySelector(".moi-status")?.className ?? null,
        progress: row.querySelector("progress.moi-progress")?.value ?? null,
        href: row.querySelector("a.moi-job-link")?.getAttribute("href") ?? null,
        text: row.textContent,
      }));
    },

    /** The parts of a default row beyond rows(): times, attempt, link, buttons, labels. */
    parts(id, selector = "#list") {
      const row = t.row(id, selector);
      const part = (sel, ...attrs) => {
        const el = row.querySelector(sel);
        if (!el) return null;
        const found = { text: el.textContent };
        for (const attr of attrs) found[attr] = el.getAttribute(attr);
        if ("disabled" in el) found.disabled = el.disabled;
        return found;
      };
      return {
        submitted: part("time.moi-job-submitted", "datetime", "title"),
        ran: part(".moi-job-ran"),
        attempt: part(".moi-job-attempt"),
        ahead: part(".moi-job-ahead"),
        link: part("a.moi-job-link", "href", "aria-label"),
        cancel: part("button.moi-job-cancel", "aria-label"),
        hide: part("button.moi-job-remove", "aria-label"),
        progress: part("progress.moi-progress", "aria-label"),
        refused: part(".moi-job-refused-note", "role"),
      };
    },

    /** The Hide confirmation dialog, as plain data (null if none was made). */
    dialog() {
      const dialog = document.querySelector("dialog.moi-confirm");
      if (!dialog) return null;
      return {
        open: dialog.open,
        text: dialog.querySelector(".moi-confirm-text").textContent,
        choices: [...dialog.querySelectorAll("button")].map((b) => b.textContent),
        focused: document.activeElement ? document.activeElement.textContent : null,
      };
    },

    /** Choose a button of the open Hide confirmation by its text. */
    choose(label) {
      const buttons = [...document.querySelectorAll("dialog.moi-confirm[open] button")];
      buttons.find((b) => b.textContent === label).click();
    },

    ids(selector = "#list") {
      return t.rows(selector).map((row) => row.id);
    },

    row(id, selector = "#list") {
      return document.querySelector(selector).querySelector(`:scope > [data-job-id="${CSS.escape(id)}"]`);
    },

    /** The empty-list text if it is shown, else null. */
    emptyText(selector = "#list") {
      return document.querySelector(selector).querySelector(":scope > .moi-empty")?.textContent ?? null;
    },

    marked: new Map(),

    /** Remember the row element of each job, to check later that it is the same one. */
    mark(...ids) {
      for (const id of ids) t.marked.set(id, t.row(id));
    },

    /** Of the marked jobs, those whose row is still the very element marked. */
    sameRows() {
      return [...t.marked].filter(([id, row]) => row !== null && t.row(id) === row).map(([id]) => id);
    },

    /** performance.now() when each job's row first went into #list. */
    insertedAt: {},

    watchInsertions(selector = "#list") {
      new MutationObserver((records) => {
        const when = performance.now();
        for (const record of records) {
          for (const node of record.addedNodes) {
            const id = node.nodeType === 1 ? node.getAttribute("data-job-id") : null;
            if (id !== null && !(id in t.insertedAt)) t.insertedAt[id] = when;
          }
        }
      }).observe(document.querySelector(selector), { childList: true });
    },

    /** moi.js run again with `fakeGlobal` as its window (e.g. another location). */
    async moiWith(fakeGlobal) {
      const source = await (await fetch("/static/moi.js")).text();
      new Function("window", source)(fakeGlobal);
      return fakeGlobal.moi;
    },
  };

  window.t = t;
})();
