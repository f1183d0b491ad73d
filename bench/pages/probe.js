/*
 * probe.js: what the bench reads from the live list page (with execute_script).
 *
 *   benchProbe.watch(conn, list)          on page load (list: the moi.JobList)
 *   benchProbe.addAt                      ms since navigation when the first list came
 *   benchProbe.lastMessageAt              ... and when the last of its updates came
 *   benchProbe.firstRowsAt                ... when the first filled-in rows were drawn
 *   benchProbe.renderedAt                 ... when the whole first list is in the list's
 *                                         model and view, its window drawn (null until then)
 *   benchProbe.startLag(ids) / stopLag()  how far behind the rendered rows of `ids` are:
 *                                         once per frame [Date.now(), the newest stamp that
 *                                         this frame shows for the first time] (0: none
 *                                         new), and [Date.now(), lag] per update as it
 *                                         arrives
 *   benchProbe.search(queries)            ms that list.setSearch(q) + flush() took for each,
 *                                         and the floor: the same names filtered as a plain array
 *
 * The list is windowed (moi_list.js API 2): only the rows in sight are in the DOM, so
 * "rendered" is the list's own count of jobs in view, not a count of elements, and the
 * lag is that of the updates shown: each frame, the stamps that appear in a row are the
 * updates it draws, and the newest of them is how far behind the frame is, as the newest
 * stamp of all rows was when every row was rendered. (The newest stamp in sight would
 * also count the wait between two updates of the few jobs in sight: the stream goes
 * round all the jobs, most of them out of sight.)
 * An update's stamp is its status "stamp <seconds since the epoch>", as the bench writes it.
 */
(function (global) {
  "use strict";

  function stampOf(status) {
    if (typeof status !== "string" || !status.startsWith("stamp ")) return null;
    return parseFloat(status.slice(6)) * 1000;
  }

  const probe = {
    expected: null,
    updates: 0,
    addAt: null,
    lastMessageAt: null,
    firstRowsAt: null,
    renderedAt: null,
    lag: null,
    el: null,
    list: null,
  };

  probe.watch = function (conn, list) {
    probe.list = list;
    const el = (probe.el = list.el);
    conn.on("add", (ids) => {
      if (probe.expected === null) {
        probe.expected = ids.length;
        probe.addAt = performance.now();
      }
    });
    conn.on("update", (info) => {
      probe.updates += 1;
      if (probe.updates === probe.expected) probe.lastMessageAt = performance.now();
      const lag = probe.lag;
      if (lag && !lag.stopped) {
        const stamp = stampOf(info.status);
        if (stamp !== null) lag.arrivals.push([Date.now(), Date.now() - stamp]);
      }
    });
    // Checked after the list's own frame work (its callback was asked for first).
    const rows = el.getElementsByClassName("moi-job");
    const pending = el.getElementsByClassName("moi-job-pending");
    const check = () => {
      if (probe.firstRowsAt === null && rows.length > pending.length) {
        requestAnimationFrame(() => (probe.firstRowsAt = performance.now()));
      }
      const all = probe.expected !== null && probe.updates >= probe.expected;
      if (all && list.matchCount === probe.expected && pending.length === 0) {
        requestAnimationFrame(() => (probe.renderedAt = performance.now()));
      } else {
        requestAnimationFrame(check);
      }
    };
    requestAnimationFrame(check);
  };

  probe.startLag = function (ids) {
    const wanted = new Set(ids);
    const shown = new Map(); // job ID -> the stamp its row showed last frame
    const lag = (probe.lag = { frames: [], arrivals: [], stopped: false });
    const tick = () => {
      if (lag.stopped) return;
      let newest = 0;
      for (const row of probe.el.children) {
        const id = row.getAttribute("data-job-id");
        if (!wanted.has(id)) continue;
        const stamp = stampOf(row.querySelector(".moi-status").textContent);
        if (stamp !== null && stamp !== shown.get(id)) {
          if (shown.has(id)) newest = Math.max(newest, stamp); // not a row just scrolled to
          shown.set(id, stamp);
        }
      }
      lag.frames.push([Date.now(), newest]);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };

  probe.stopLag = function () {
    const lag = probe.lag;
    lag.stopped = true;
    return { frames: lag.frames, arrivals: lag.arrivals };
  };

  /** For each query: [ms of list.setSearch(q) + list.flush(), ms of the floor's filter, matches]. */
  probe.search = function (queries) {
    const list = probe.list;
    list.setSearch("");
    list.flush();
    const names = list.matching().map((info) => String(info.name).toLowerCase());
    const out = [];
    for (const query of queries) {
      list.setSearch("");
      list.flush();
      let start = performance.now();
      list.setSearch(query);
      list.flush();
      const ours = performance.now() - start;
      start = performance.now();
      const found = names.filter((name) => name.includes(query)).length;
      const floor = performance.now() - start;
      out.push([ours, floor, list.matchCount, found]);
    }
    list.setSearch("");
    list.flush();
    return out;
  };

  global.benchProbe = probe;
})(window);
