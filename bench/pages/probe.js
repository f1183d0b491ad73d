/*
 * probe.js: what the bench reads from the live list page (with execute_script).
 *
 *   benchProbe.watch(conn, listElement)   on page load
 *   benchProbe.addAt                      ms since navigation when the first list came
 *   benchProbe.lastMessageAt              ... and when the last of its updates came
 *   benchProbe.renderedAt                 ms since navigation when every row of the first
 *                                         list is rendered (null until then)
 *   benchProbe.startLag(ids) / stopLag()  how far behind the rendered rows of `ids` are:
 *                                         [Date.now(), newest stamp shown] once per frame,
 *                                         and [Date.now(), lag] per update as it arrives
 *
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
    renderedAt: null,
    lag: null,
    el: null,
  };

  probe.watch = function (conn, el) {
    probe.el = el;
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
    // Every row present and filled in; then one more frame, so that it has been drawn.
    const pending = el.getElementsByClassName("moi-job-pending");
    const check = () => {
      const all = probe.expected !== null && probe.updates >= probe.expected;
      if (all && el.childElementCount === probe.expected && pending.length === 0) {
        requestAnimationFrame(() => (probe.renderedAt = performance.now()));
      } else {
        requestAnimationFrame(check);
      }
    };
    requestAnimationFrame(check);
  };

  probe.startLag = function (ids) {
    const badges = ids.map((id) => {
      const row = probe.el.querySelector(`[data-job-id="${CSS.escape(id)}"]`);
      return row && row.querySelector(".moi-status");
    });
    if (badges.some((badge) => !badge)) throw new Error("startLag: a row is missing");
    const lag = (probe.lag = { frames: [], arrivals: [], stopped: false });
    const tick = () => {
      if (lag.stopped) return;
      let newest = 0;
      for (const badge of badges) {
        const stamp = stampOf(badge.textContent);
        if (stamp !== null && stamp > newest) newest = stamp;
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

  global.benchProbe = probe;
})(window);
