/*
 * cluster.js: the /cluster page. One connection, the header's live indicator, and the
 * cluster panel (moi_cluster.js). Load moi.js and moi_cluster.js first.
 */
(function () {
  "use strict";

  const STATE_LABELS = {
    connecting: "Connecting…",
    connected: "Live",
    reconnecting: "Reconnecting…",
    closed: "Offline",
  };

  const element = document.getElementById("moi-cluster-state");
  if (!element || !window.moi || !moi.ClusterPanel) return;
  const conn = new moi.Connection({ path: "/moi-ws/" });
  let signingOut = false; // signed out here: the sign-out's own answer is the next page
  for (const form of document.querySelectorAll('form[action="/logout"]')) {
    form.addEventListener("submit", () => (signingOut = true));
  }
  // The session ended (signed out elsewhere, expired): the sign-in page says why.
  conn.on("ended", () => {
    if (signingOut) return;
    const here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here) + "&notice=ended");
  });
  const indicator = document.getElementById("moi-state");
  if (indicator) {
    const label = indicator.querySelector(".live-label");
    const show = (state) => {
      indicator.setAttribute("data-state", state);
      if (label) label.textContent = STATE_LABELS[state] || state;
    };
    show(conn.state);
    conn.onState(show);
  }
  new moi.ClusterPanel(conn, { element });
})();
