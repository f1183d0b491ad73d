/*
 * moi_cluster.js: the cluster's state, live, on top of moi.js (load moi.js first).
 *
 *   <section id="moi-cluster" aria-labelledby="cluster-heading">...</section>
 *   <script src="/moi-static/moi.js"></script>
 *   <script src="/moi-static/moi_cluster.js"></script>
 *   <script>
 *     const conn = new moi.Connection({path: "/moi-ws/"});
 *     const panel = new moi.ClusterPanel(conn, {element: "#moi-cluster"});
 *     panel.close();  // stop watching (the element stays as it was)
 *   </script>
 *
 * The panel asks the server to watch the cluster (`{"moi:cluster": true}`, README
 * "Protocol"), at once and again after every reconnect, and shows each state the server
 * sends (at most two a second): engines busy of those registered, jobs waiting in all and
 * the user's own, the controller's state, and the jobs ended per minute over the last
 * hour as a small line chart (inline SVG) whose text alternative gives the figures.
 * Nothing polls: the server sends a state when it changes. The element becomes a
 * labelled region (its own label kept, else "Cluster"); a polite live status says when
 * the cluster's state is unknown. Text goes in with textContent only.
 */
(function (global) {
  "use strict";

  const moi = global.moi || (global.moi = {});
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART_WIDTH = 240;
  const CHART_HEIGHT = 40;
  const ACTION = "moi:cluster";

  const CONTROLLER_TEXT = {
    reachable: "reachable",
    lost: "lost: jobs wait for it",
    unknown: "unknown (no dispatcher at work)",
  };

  function count(value) {
    return typeof value === "number" && Number.isFinite(value) ? value.toLocaleString("en") : "–";
  }

  function make(doc, tag, className, text) {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  class ClusterPanel {
    /**
     * @param {moi.Connection} conn the page's connection
     * @param {{element: Element|string}} options the element to fill (or a selector)
     */
    constructor(conn, options = {}) {
      const element =
        typeof options.element === "string" ? document.querySelector(options.element) : options.element;
      if (!element) throw new Error("moi.ClusterPanel needs an element");
      this.conn = conn;
      this.element = element;
      this.state = null;
      this._build(element.ownerDocument);
      this._off = [
        conn.on(ACTION, (state) => this.render(state)),
        conn.on("resync", () => this.watch()),
      ];
      this.watch();
    }

    /** Ask the server for the state now, and on each change. */
    watch() {
      return this.conn.send(ACTION, true);
    }

    /** Stop watching: no more states come, and the panel keeps the last one. */
    close() {
      for (const off of this._off) off();
      this._off = [];
      this.conn.send(ACTION, false);
    }

    _build(doc) {
      const root = this.element;
      root.classList.add("moi-cluster");
      root.setAttribute("role", "region");
      if (!root.hasAttribute("aria-label") && !root.hasAttribute("aria-labelledby")) {
        root.setAttribute("aria-label", "Cluster");
      }
      const figures = make(doc, "dl", "moi-cluster-figures");
      this._values = {};
      for (const [key, label] of [
        ["engines", "Engines busy"],
        ["waiting", "Jobs waiting"],
        ["mine", "Yours waiting"],
        ["controller", "Controller"],
      ]) {
        const item = make(doc, "div", "moi-cluster-figure");
        item.append(make(doc, "dt", null, label));
        const value = make(doc, "dd", null, "…");
        value.dataset.moiCluster = key;
        item.append(value);
        figures.append(item);
        this._values[key] = value;
      }
      const rate = make(doc, "figure", "moi-cluster-rate");
      const svg = doc.createElementNS(SVG_NS, "svg");
      svg.setAttribute("viewBox", `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
      svg.setAttribute("width", String(CHART_WIDTH));
      svg.setAttribute("height", String(CHART_HEIGHT));
      svg.setAttribute("role", "img");
      svg.setAttribute("class", "moi-cluster-chart");
      this._chartTitle = doc.createElementNS(SVG_NS, "title");
      svg.append(this._chartTitle);
      this._line = doc.createElementNS(SVG_NS, "polyline");
      this._line.setAttribute("fill", "none");
      this._line.setAttribute("stroke", "currentColor");
      this._line.setAttribute("stroke-width", "1.5");
      svg.append(this._line);
      this._caption = make(doc, "figcaption", "moi-cluster-caption", "Jobs per minute, last hour");
      rate.append(svg, this._caption);
      this._status = make(doc, "p", "moi-cluster-status");
      this._status.setAttribute("role", "status");
      this._status.setAttribute("aria-live", "polite");
      root.replaceChildren(figures, rate, this._status);
    }

    /** Show one state, as the server sends it (README "Protocol", `moi:cluster`). */
    render(state) {
      if (!state || typeof state !== "object") return;
      this.state = state;
      const v = this._values;
      v.engines.textContent = state.dispatching ? `${count(state.busy)} of ${count(state.engines)}` : "–";
      v.waiting.textContent = count(state.waiting);
      v.mine.textContent = count(state.mine);
      v.controller.textContent = CONTROLLER_TEXT[state.controller] || String(state.controller || "–");
      this.element.dataset.controller = String(state.controller || "unknown");
      this._chart(Array.isArray(state.per_minute) ? state.per_minute : null);
      this._status.textContent = state.dispatching
        ? ""
        : "No dispatcher reports on the cluster at the moment: its state is unknown.";
    }

    _chart(perMinute) {
      if (!perMinute || !perMinute.length) {
        this._line.setAttribute("points", "");
        this._chartTitle.textContent = "Jobs per minute: unknown";
        this._caption.textContent = "Jobs per minute, last hour: unknown";
        return;
      }
      const numbers = perMinute.map((n) => (typeof n === "number" && n > 0 ? n : 0));
      const peak = Math.max(1, ...numbers);
      const step = numbers.length > 1 ? CHART_WIDTH / (numbers.length - 1) : 0;
      const points = numbers.map((n, i) => {
        const x = (i * step).toFixed(1);
        const y = (CHART_HEIGHT - 1 - (n / peak) * (CHART_HEIGHT - 2)).toFixed(1);
        return `${x},${y}`;
      });
      this._line.setAttribute("points", points.join(" "));
      const total = numbers.reduce((a, b) => a + b, 0);
      const last = numbers[numbers.length - 1];
      const text =
        `Jobs per minute, last hour: ${count(last)} this minute, ` +
        `peak ${count(Math.max(...numbers))}, ${count(total)} in all`;
      this._chartTitle.textContent = text;
      this._caption.textContent = text;
    }
  }

  moi.ClusterPanel = ClusterPanel;
})(typeof window !== "undefined" ? window : globalThis);
