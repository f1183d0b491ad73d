/*
 * app.js: the demo's own page code, on top of moi.js, moi_list.js and moi_listbar.js.
 *
 * The index page keeps the live job list (#moi-joblist) with its toolbar (#moi-listbar:
 * filters, search, bulk actions), and "Run again" on the jobs of the handlers named in
 * the list's data-again-handlers; a result page whose job is still running
 * (#job[data-final="false"]) follows that job: its status, progress, start and live
 * times, and reloads itself when the job ends, so the server renders the result. Both
 * show the socket's state in #moi-state, and go to the sign-in page (with its "ended"
 * notice) when the session ends, however it ended. A job's page and the account page show
 * their dates (<time class="moment">, UTC text as the server wrote them) as how long ago
 * or ahead they are, in the list's words ("5 minutes ago", "in 3 hours"), with the local
 * date and time in the tooltip and for screen readers; one timer keeps them fresh. A
 * finished job's page and the account page load this file alone, without moi.js. The
 * account page's new token gets a Copy button.
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
  const LOCAL = { dateStyle: "medium", timeStyle: "medium" };
  const MOMENTS_EVERY_MS = 30000; // the one timer that refreshes every "5 minutes ago"
  const HOUR = 3600;
  const DAY = 86400;
  const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  const RELATIVE = Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" })
    : null;

  /** Mirror the connection's state in the header's indicator. */
  function showState(conn) {
    // Signed out here: the sign-out's own answer brings the sign-in page ("You are signed
    // out"), not the socket's end, which comes first.
    let signingOut = false;
    for (const form of document.querySelectorAll('form[action="/logout"]')) {
      form.addEventListener("submit", () => (signingOut = true));
    }
    // Signed out (in another tab, or everywhere), expired, or forgotten by the server:
    // this page goes to the sign-in page, which says why.
    conn.on("ended", () => {
      if (signingOut) return;
      const here = window.location.pathname + window.location.search;
      window.location.assign("/login?next=" + encodeURIComponent(here) + "&notice=ended");
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
    const againHandlers = handlerList(element.getAttribute("data-again-handlers"));
    const list = new moi.JobList(conn, {
      element,
      emptyText: "No jobs yet. Run one with a form on this page.",
      jobPage: "/jobs/", // moi's job page, for a job without a page of its own
      canRunAgain: (info) => againHandlers.includes(info.handler),
    });
    // The list's model, for the browser tests (tests/browser/demo.py): the list is windowed,
    // so the DOM holds only the rows in sight.
    window.moiJobList = list;
    const bar = document.getElementById("moi-listbar");
    if (bar) new moi.ListBar(list, { element: bar });
    clusterPanel(conn);
  }

  /** The cluster's state, live, where the page has its panel (cluster/panel.html). */
  function clusterPanel(conn) {
    const element = document.getElementById("moi-cluster-state");
    if (element && moi.ClusterPanel) new moi.ClusterPanel(conn, { element });
  }

  /** A page with the cluster's panel and no list (/cluster): a connection of its own. */
  function clusterPage() {
    const conn = new moi.Connection({ path: "/moi-ws/" });
    showState(conn);
    clusterPanel(conn);
  }

  /** The handlers whose jobs can run again, from the list's JSON attribute; none if unreadable. */
  function handlerList(text) {
    try {
      const value = JSON.parse(text || "[]");
      return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
    } catch (err) {
      return [];
    }
  }

  /**
   * How far `then` is from `now` (both ms), in the steps of the list's "submitted 5 minutes
   * ago" (moi.JobList.formatAgo), and ahead as well as behind (a token's expiry): "just
   * now" within 45 s, "5 minutes ago", "in 3 hours", "yesterday", then "on <date>" a week
   * or more away.
   */
  function relative(then, now) {
    const seconds = (then - now) / 1000;
    const size = Math.abs(seconds);
    if (!(size >= 45)) return "just now";
    if (size >= 7 * DAY) return "on " + DATE.format(then);
    const [unit, step] = size < HOUR ? ["minute", 60] : size < DAY ? ["hour", HOUR] : ["day", DAY];
    const count = Math.max(1, Math.floor(size / step)) * Math.sign(seconds);
    if (RELATIVE) return RELATIVE.format(count, unit);
    const words = `${Math.abs(count)} ${unit}${Math.abs(count) === 1 ? "" : "s"}`;
    return count < 0 ? words + " ago" : "in " + words;
  }

  /**
   * A <time class="moment"> (UTC text, as the server wrote it for a page without JS) shown
   * as how long ago or ahead it is at `now`: the local date and time become its tooltip and,
   * hidden on screen, the rest of its text, so that a screen reader says both.
   */
  function moment(time, now) {
    const ms = Date.parse(time.getAttribute("datetime"));
    if (Number.isNaN(ms)) return;
    let ago = time.querySelector(".moment-ago");
    if (!ago) {
      const local = new Date(ms).toLocaleString(undefined, LOCAL);
      ago = document.createElement("span");
      ago.className = "moment-ago";
      const said = document.createElement("span");
      said.className = "visually-hidden";
      said.textContent = " (" + local + ")";
      time.title = local;
      time.replaceChildren(ago, said);
    }
    const text = relative(ms, now);
    if (ago.textContent !== text) ago.textContent = text;
  }

  /** Every date on the page, as how long ago it is now. */
  function showMoments() {
    const now = Date.now();
    for (const time of document.querySelectorAll("time.moment")) moment(time, now);
  }

  /** Fill a fact (<dd>) with a date from an info object, or a dash: a <time> as the server
   *  writes one, then shown as a moment. */
  function showDate(fact, value) {
    const date = typeof value === "string" ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) {
      fact.textContent = "—";
      return;
    }
    const time = document.createElement("time");
    time.className = "moment";
    time.setAttribute("datetime", date.toISOString());
    time.textContent = date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
    moment(time, Date.now());
    fact.replaceChildren(time);
  }

  /** A time still counting, as the list and the server's pages write one: "5 s", "1:05". */
  const elapsed = (seconds) => moi.JobList.formatDuration(seconds, true);

  /** ms since the epoch of the <time> in a fact, or null if it shows none. */
  function factDate(fact) {
    const time = fact.querySelector("time[datetime]");
    const ms = time ? Date.parse(time.getAttribute("datetime")) : NaN;
    return Number.isNaN(ms) ? null : ms;
  }

  function followJob(page) {
    const id = page.getAttribute("data-job-id");
    const status = document.getElementById("job-status");
    const progress = document.getElementById("job-progress");
    const percent = document.getElementById("job-percent");
    const started = document.getElementById("job-started");
    const queued = document.getElementById("job-queued");
    const ran = document.getElementById("job-duration");
    const created = factDate(document.getElementById("job-created"));
    let start = factDate(started);
    let leaving = false;

    // One timer: time in queue until the job starts, then its run time, once a second.
    const tick = () => {
      const now = Date.now();
      if (created !== null) queued.textContent = elapsed(((start ?? now) - created) / 1000);
      ran.textContent = start === null ? "—" : elapsed((now - start) / 1000);
    };
    tick();
    setInterval(tick, 1000);

    const cancel = document.getElementById("job-cancel-form");
    if (cancel) {
      cancel.addEventListener("submit", () => {
        leaving = true; // the POST brings the page back, Cancelled: no reload meanwhile
        cancel.querySelector("button").disabled = true; // one click, one cancel
      });
    }

    const conn = new moi.Connection({ path: "/moi-ws/" });
    showState(conn);
    // Not connected: the status shown is the last one heard (moi.css says "not live").
    conn.onState((state) => page.classList.toggle("moi-job-stale", state !== "connected"));
    conn.on("update", (info) => {
      if (!info || info.id !== id || leaving) return;
      const text = String(info.status ?? "");
      // Ended, or sent again after its engine died: the server renders the new state.
      const attempt = Number.isInteger(info.attempt) ? info.attempt : 1;
      if (moi.isFinal(text) || String(attempt) !== page.getAttribute("data-attempt")) {
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
      const begun = typeof info.date_start === "string" ? Date.parse(info.date_start) : NaN;
      const next = Number.isNaN(begun) ? null : begun;
      if (next !== start) {
        start = next;
        showDate(started, info.date_start);
        tick();
      }
    });
  }

  /** The Copy button of a new token (shown only where the page can copy). */
  function copyButton(button, field, said) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        said.textContent = "Copied.";
      } catch (err) {
        field.select(); // the browser refused: selected, for Ctrl+C
        said.textContent = "Could not copy: it is selected, copy it by hand.";
      }
    });
  }

  /**
   * A refused form's message has the focus (autofocus), but the live list above it fills
   * in after the page loads and would push it out of view (far down, on a phone): keep it
   * in view while the list grows, until the reader scrolls, types or moves the focus.
   */
  function keepInView(message) {
    const list = document.getElementById("jobs");
    if (!list || !window.ResizeObserver) return;
    const show = () => {
      if (document.activeElement !== message) return stop();
      message.scrollIntoView({ block: "center" });
    };
    const observer = new ResizeObserver(show);
    const events = ["wheel", "touchstart", "keydown", "mousedown"];
    function stop() {
      observer.disconnect();
      for (const name of events) window.removeEventListener(name, stop, true);
    }
    for (const name of events) window.addEventListener(name, stop, true);
    observer.observe(list);
    if (document.activeElement !== message) message.focus();
  }

  const refused = document.querySelector(".form-error[autofocus]");
  if (refused) keepInView(refused);
  if (document.querySelector("time.moment")) {
    showMoments();
    setInterval(showMoments, MOMENTS_EVERY_MS);
  }
  const copy = document.getElementById("new-token-copy");
  if (copy) copyButton(copy, document.getElementById("new-token"), document.getElementById("new-token-copied"));
  const list = document.getElementById("moi-joblist");
  if (list) jobList(list);
  else if (document.getElementById("moi-cluster-state") && window.moi) clusterPage();
  const page = document.getElementById("job");
  if (page && page.getAttribute("data-final") === "false") followJob(page);
})();
