/*
 * moi_jobpage.js: the live parts of moi's job page (moi.jobpage, templates/moi_job.html).
 *
 * Load after moi.js and moi_output.js. For a job that has not ended, one socket serves
 * both the output pane and the job's facts: its status, start and end, attempt, and, once
 * it ends, its result or traceback, all written with textContent. A session that ends
 * sends the page to its sign-in page (`data-moi-login`), to come back here.
 */
(function () {
  "use strict";

  const page = document.getElementById("moi-jobpage");
  if (!page || !window.moi || !moi.OutputPane) return;
  const id = page.getAttribute("data-moi-job");
  const final = page.getAttribute("data-moi-final") === "true";
  const byId = (name) => document.getElementById(name);
  const LIVE = { connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting…", closed: "Offline" };

  if (final || !moi.Connection) {
    moi.OutputPane.startAll(page);
    return;
  }
  const conn = new moi.Connection({ path: page.getAttribute("data-moi-socket") || "/moi-ws/" });
  moi.OutputPane.startAll(page, { conn });

  const live = byId("moi-job-live");
  const showState = (state) => {
    page.setAttribute("data-moi-state", state);
    page.classList.toggle("moi-job-stale", state !== "connected");
    if (live) {
      live.hidden = false;
      live.setAttribute("data-state", state);
      live.textContent = LIVE[state] || state;
    }
  };
  showState(conn.state);
  conn.onState(showState);
  conn.on("ended", () => {
    const login = page.getAttribute("data-moi-login");
    if (!login || !login.startsWith("/") || login.startsWith("//")) return;
    const here = window.location.pathname + window.location.search;
    window.location.assign(login + (login.includes("?") ? "&" : "?") + "next=" + encodeURIComponent(here));
  });

  /** A date as the server writes one: a <time class="moment"> in UTC, or a dash. */
  function showDate(fact, value) {
    if (!fact) return;
    const date = typeof value === "string" ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) {
      fact.textContent = "—";
      return;
    }
    const iso = date.toISOString();
    if (fact.querySelector("time")?.getAttribute("datetime") === iso) return;
    const time = document.createElement("time");
    time.className = "moment";
    time.setAttribute("datetime", iso);
    time.textContent = iso.slice(0, 19).replace("T", " ") + " UTC";
    fact.replaceChildren(time);
  }

  /** "2 of 3", as moi.jobpage.attempt_text says it. */
  function attemptText(info) {
    const requeues = Number.isInteger(info.requeues) ? info.requeues : 0;
    const run = Number.isInteger(info.attempt) ? info.attempt - requeues : 1;
    return Number.isInteger(info.retries) && info.retries >= 0 ? run + " of " + (info.retries + 1) : String(run);
  }

  /** The result as the server writes it: a string as it is, anything else as JSON. */
  function asText(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  /** A traceback's last line ("ValueError: bad input"), as moi.status.failure_reason has it. */
  function lastLine(text) {
    if (typeof text !== "string") return "";
    const lines = text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
    const line = lines.length ? lines[lines.length - 1] : "";
    return line.length <= 300 ? line : line.slice(0, 299) + "…";
  }

  /** The ended job's result, traceback or cancel note, in #moi-job-outcome. */
  function showOutcome(info) {
    const box = byId("moi-job-outcome");
    if (!box) return;
    const status = String(info.status);
    const heading = document.createElement("h2");
    const parts = [heading];
    const has = info.result !== undefined && info.result !== null;
    if (status === "Failed") {
      heading.textContent = "What went wrong";
      const reason = lastLine(info.result);
      if (reason) parts.push(Object.assign(document.createElement("p"), { id: "moi-job-reason", className: "moi-jobpage-reason", textContent: reason }));
      if (has) parts.push(Object.assign(document.createElement("pre"), { id: "moi-job-traceback", className: "moi-jobpage-pre", textContent: asText(info.result) }));
    } else if (status === "Success") {
      heading.textContent = "Result";
      parts.push(Object.assign(document.createElement("pre"), { id: "moi-job-result", className: "moi-jobpage-pre", textContent: asText(info.result ?? null) }));
    } else {
      heading.textContent = "Cancelled";
      if (has) parts.push(Object.assign(document.createElement("p"), { id: "moi-job-note", textContent: asText(info.result) }));
    }
    box.className = "moi-jobpage-outcome moi-jobpage-" + moi.statusSlug(status);
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  const status = byId("moi-job-status");
  conn.on("update", (info) => {
    if (!info || info.id !== id) return;
    const text = String(info.status ?? "");
    const ended = moi.isFinal(text);
    page.setAttribute("data-moi-status", text);
    status.textContent = text;
    status.className = "moi-status moi-status-" + moi.statusSlug(text) + (ended ? " moi-status-final" : "");
    showDate(byId("moi-job-started"), info.date_start);
    showDate(byId("moi-job-ended"), info.date_end);
    const attempt = byId("moi-job-attempt");
    if (attempt) attempt.textContent = attemptText(info);
    if (ended) {
      page.setAttribute("data-moi-final", "true");
      showOutcome(info);
      conn.close(); // nothing changes any more; the pane reads the rest of the output itself
      if (live) live.hidden = true;
    }
  });
})();
