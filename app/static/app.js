/*
 * app.js: the demo's own page code, on top of moi.js and moi_list.js.
 *
 * The index page keeps the live job list (#moi-joblist); a result page whose job is
 * still running (#job[data-final="false"]) follows that job: its status, progress,
 * start and live times, and reloads itself when the job ends, so the server renders
 * the result. Both show the socket's state in #moi-state, and go to the sign-in page
 * (with its "ended" notice) when the session ends, however it ended. Every job page shows its
 * dates (<time datetime>, UTC as the server wrote them) in local time, with the UTC
 * text as a tooltip, as the account page does its tokens' dates; a finished job's page
 * and the account page load this file alone, without moi.js. The account page's new
 * token gets a Copy button.
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
    new moi.JobList(conn, {
      element,
      emptyText: "No jobs yet. Run one with a form on this page.",
    });
  }

  /** A <time> the server wrote in UTC, shown in local time; the UTC text becomes its tooltip. */
  function localTime(time) {
    const date = new Date(time.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    if (!time.title) time.title = time.textContent;
    time.textContent = date.toLocaleString(undefined, LOCAL);
  }

  /** Fill a fact (<dd>) with a date from an info object, or a dash: a <time> as the server
   *  writes one, then shown in local time. */
  function showDate(fact, value) {
    const date = typeof value === "string" ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) {
      fact.textContent = "—";
      return;
    }
    const time = document.createElement("time");
    time.setAttribute("datetime", date.toISOString());
    time.textContent = date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
    localTime(time);
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
  for (const time of document.querySelectorAll(".facts time[datetime]")) localTime(time);
  const copy = document.getElementById("new-token-copy");
  if (copy) copyButton(copy, document.getElementById("new-token"), document.getElementById("new-token-copied"));
  const list = document.getElementById("moi-joblist");
  if (list) jobList(list);
  const page = document.getElementById("job");
  if (page && page.getAttribute("data-final") === "false") followJob(page);
})();
