/*
 * app.js: the demo's own page code, on top of moi.js and moi_list.js.
 *
 * The index page keeps the live job list (#moi-joblist); a result page whose job is
 * still running (#job[data-final="false"]) follows that job and reloads itself when it
 * ends, so the server renders the result. Both show the socket's state in #moi-state.
 * Job data goes into the page with textContent only.
 */
(function () {
  "use strict";

  const STATE_LABELS = {
    connecting: "Connecting…",
    connected: "Live",
    reconnecting: "Reconnecting…",
    closed: "Offline",
  };

  /** Mirror the connection's state in the header's indicator. */
  function showState(conn) {
    // Signed out (in another tab, or everywhere): this page goes to the sign-in page.
    conn.on("ended", () => {
      const here = window.location.pathname + window.location.search;
      window.location.assign("/login?next=" + encodeURIComponent(here));
    });
    const indicator = document.getElementById("moi-state");
    if (!indicator) return;
    const label = indicator.querySelector(".live-label");
    const show = (state) => {
      indicator.setAttribute("data-state", state);
      label.textContent = STATE_LABELS[state] || state;
    };
    show(conn.state);
    conn.onState(show);
  }

  function jobList(element) {
    const conn = new moi.Connection({ path: "/moi-ws/" });
    showState(conn);
    new moi.JobList(conn, {
      element,
      emptyText: "No jobs yet. Run one with a form on this page.",
    });
  }

  function followJob(page) {
    const id = page.getAttribute("data-job-id");
    const status = document.getElementById("job-status");
    const progress = document.getElementById("job-progress");
    const percent = document.getElementById("job-percent");
    const conn = new moi.Connection({ path: "/moi-ws/" });
    showState(conn);
    conn.on("update", (info) => {
      if (!info || info.id !== id) return;
      const text = String(info.status ?? "");
      if (moi.isFinal(text)) {
        conn.close();
        window.location.reload();
        return;
      }
      page.setAttribute("data-status", text);
      status.textContent = text;
      status.className = "moi-status moi-status-" + moi.statusSlug(text);
      if (typeof info.progress === "number" && Number.isFinite(info.progress)) {
        const value = Math.min(1, Math.max(0, info.progress));
        progress.value = value;
        percent.textContent = Math.round(value * 100) + "%";
      }
    });
  }

  const list = document.getElementById("moi-joblist");
  if (list) jobList(list);
  const page = document.getElementById("job");
  if (page && page.getAttribute("data-final") === "false") followJob(page);
})();
