/*
 * moi_list.js: a live job list on top of moi.js (load moi.js first).
 *
 *   <ul id="moi-joblist"></ul>
 *   <script src="/static/moi.js"></script>
 *   <script src="/static/moi_list.js"></script>
 *   <script>
 *     const conn = new moi.Connection({path: "/moi-ws/"});
 *     const list = new moi.JobList(conn, {element: "#moi-joblist"});
 *   </script>
 *
 * The list owns its element: one `.moi-job` row per job, with `data-job-id` and
 * `data-status`, updated in place. DOM work is batched into one animation frame, so
 * thousands of updates a second cost one render per job per frame; call `list.flush()`
 * to apply pending changes at once. A new row waits a moment for its info, and while a
 * long list is coming in, new rows go in a few large batches rather than every frame.
 * Job data is written with textContent and setAttribute only, never parsed as HTML. A
 * job with no info yet gets a placeholder info object {id, name: id, status: "…",
 * pending: true}, passed to renderRow/compare too.
 */
(function (global) {
  "use strict";

  const moi = global.moi;
  if (!moi || !moi.Connection) throw new Error("moi_list.js: load moi.js first");

  // A row with no info yet waits for it, so that a long list goes in once, in order,
  // instead of as placeholders that all move when their info comes: up to
  // PLACEHOLDER_DELAY_MS after the later of its ID and the last info that filled a
  // waiting row (while they flow, the list is still coming in), HOLD_MAX_MS at most.
  const PLACEHOLDER_DELAY_MS = 500;
  const HOLD_MAX_MS = 5000;
  const now = () => (global.performance ? global.performance.now() : Date.now());
  const nextFrame = global.requestAnimationFrame
    ? (fn) => global.requestAnimationFrame(fn)
    : (fn) => setTimeout(fn, 16);

  /** Default order: jobs without info first, then newest first by date_created. */
  function newestFirst(a, b) {
    if (!!a.pending !== !!b.pending) return a.pending ? -1 : 1;
    const da = typeof a.date_created === "string" ? a.date_created : "";
    const db = typeof b.date_created === "string" ? b.date_created : "";
    return da < db ? 1 : da > db ? -1 : 0;
  }

  const handlerBases = new Map(); // handler -> its checked base, or null

  /**
   * The result page `<handler>/<id>`, or null unless the handler is a same-origin
   * path. URL parsing drops tabs and newlines and reads "\" as "/", so "/\t/evil"
   * and "/\evil" would leave the site: refuse those characters outright. The encoded
   * ID cannot change the origin, so each handler is checked once.
   */
  function resultHref(handler, id) {
    if (typeof handler !== "string") return null;
    let base = handlerBases.get(handler);
    if (base === undefined) {
      base = handlerBase(handler);
      if (handlerBases.size >= 100) handlerBases.clear();
      handlerBases.set(handler, base);
    }
    return base === null ? null : base + "/" + encodeURIComponent(id);
  }

  function handlerBase(handler) {
    if (!/^\/(?![/\\])/.test(handler)) return null;
    if (/[\u0000-\u0020\u007f\\]/.test(handler)) return null;
    const base = handler.replace(/\/+$/, "");
    try {
      return new URL(base + "/id", global.location.href).origin === global.location.origin ? base : null;
    } catch (err) {
      return null;
    }
  }

  function element(tag, className) {
    const el = document.createElement(tag);
    el.className = className;
    return el;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  class JobList {
    /**
     * @param {moi.Connection} conn
     * @param {object} [options]
     * @param {string|Element} [options.element="#moi-joblist"] container; its children are replaced
     * @param {Function} [options.renderRow] fn(info, rowElement) fills a row instead of the default
     * @param {Function} [options.compare] fn(infoA, infoB) sort order; default newest first
     * @param {string} [options.emptyText="No jobs yet."]
     */
    constructor(conn, options = {}) {
      const target = options.element || "#moi-joblist";
      this.el = typeof target === "string" ? document.querySelector(target) : target;
      if (!this.el) throw new Error("moi.JobList: no element " + target);
      this.conn = conn;
      this._renderRow = options.renderRow || null;
      const compare = options.compare || newestFirst;
      // Ties broken by ID, so the order is total and rows never swap at random.
      this._cmp = (a, b) => compare(infoOf(a), infoOf(b)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      this._rowTag = /^(UL|OL)$/.test(this.el.tagName) ? "li" : "div";
      this._jobs = new Map(); // id -> entry {id, info, row, parts, alive, index, placeholder}
      this._order = []; // entries whose rows are in the DOM, in DOM order
      this._dirty = new Set(); // entries with a row, to render again in the next frame
      this._waiting = new Set(); // entries with no row yet, in the order they came
      this._ready = 0; // how many of those have their info
      this._detach = []; // rows of removed jobs, to take out in the next frame
      this._frame = false;
      this._filled = -Infinity; // when the last info came for a waiting job
      this._placedAt = -Infinity; // when new rows last went in
      this._heldDue = Infinity; // no held row is due before this
      this._timer = null; // wakes the list when waiting rows are due
      this._timerAt = Infinity;
      this._template = null;
      this._resyncing = false;
      this._destroyed = false;

      this._empty = element(this._rowTag, "moi-empty");
      this._empty.textContent = options.emptyText ?? "No jobs yet.";
      this.el.replaceChildren(this._empty);

      // One listener for all Remove buttons, custom rows included.
      this._onClick = (event) => {
        const button = event.target instanceof Element && event.target.closest(".moi-job-remove");
        const row = button && this.el.contains(button) && button.closest(".moi-job");
        const id = row && row.getAttribute("data-job-id");
        if (id && this._jobs.has(id)) this.conn.remove(id);
      };
      this.el.addEventListener("click", this._onClick);

      const setState = (state) => this.el.setAttribute("data-moi-state", state);
      setState(conn.state);
      this._offs = [
        conn.on("add", (ids) => this._add(ids)),
        conn.on("remove", (ids) => this._remove(ids)),
        conn.on("update", (info) => this._update(info)),
        conn.on("resync", () => this._resync()),
        conn.onState(setState),
      ];
      // Created after the socket opened: the list sent on open went past us.
      if (conn.state === "connected") conn.get();
    }

    /** Number of jobs in the list, including those not rendered yet. */
    get size() {
      return this._jobs.size;
    }

    has(id) {
      return this._jobs.has(id);
    }

    /** The job's last info object, or null (unknown job, or no update yet). */
    get(id) {
      const entry = this._jobs.get(id);
      return entry ? entry.info : null;
    }

    /** Job IDs in display order, after applying pending changes. */
    ids() {
      this.flush();
      return this._order.map((entry) => entry.id);
    }

    /** Row elements in display order, after applying pending changes. */
    rows() {
      this.flush();
      return this._order.map((entry) => entry.row);
    }

    /** Stop listening and empty the element. The connection stays open. */
    destroy() {
      this._destroyed = true;
      clearTimeout(this._timer);
      for (const off of this._offs) off();
      this.el.removeEventListener("click", this._onClick);
      this.el.replaceChildren();
      this.el.classList.remove("moi-resyncing");
      this.el.removeAttribute("data-moi-state");
      this._jobs.clear();
      this._dirty.clear();
      this._waiting.clear();
      this._order = [];
      this._detach = [];
    }

    _resync() {
      // Until the server's full list arrives, every row may be gone: let CSS show it.
      this._resyncing = true;
      this.el.classList.add("moi-resyncing");
    }

    _add(ids) {
      if (this._resyncing) {
        // The first add after a reopen is the group's full list.
        this._resyncing = false;
        this.el.classList.remove("moi-resyncing");
        const keep = new Set(ids);
        for (const id of [...this._jobs.keys()]) if (!keep.has(id)) this._drop(id);
      }
      const added = now();
      for (const id of ids) {
        if (this._jobs.has(id)) continue;
        const entry = { id, info: null, row: null, parts: null, alive: true, index: -1, placeholder: null, added };
        this._jobs.set(id, entry);
        this._waiting.add(entry);
      }
      this._heldDue = Math.min(this._heldDue, added + PLACEHOLDER_DELAY_MS);
      this._schedule();
    }

    _remove(ids) {
      for (const id of ids) this._drop(id);
      this._schedule();
    }

    _update(info) {
      if (!info || typeof info !== "object" || typeof info.id !== "string") return;
      // Unknown IDs are ignored, so a late update cannot bring back a removed job.
      const entry = this._jobs.get(info.id);
      if (!entry) return;
      if (entry.row) {
        this._dirty.add(entry);
      } else if (!entry.info) {
        this._ready += 1;
        this._filled = now();
      }
      entry.info = info;
      this._schedule();
    }

    _drop(id) {
      const entry = this._jobs.get(id);
      if (!entry) return;
      this._jobs.delete(id);
      entry.alive = false;
      this._dirty.delete(entry);
      if (this._waiting.delete(entry) && entry.info) this._ready -= 1;
      if (entry.row) this._detach.push(entry.row);
    }

    _schedule() {
      if (this._frame || this._destroyed) return;
      this._frame = true;
      nextFrame(() => this._flush(false));
    }

    /** Apply all pending changes to the DOM now (rows still waiting for info excepted). */
    flush() {
      this._flush(true);
    }

    _flush(all) {
      this._frame = false;
      if (this._destroyed) return;
      if (this._detach.length) {
        for (const row of this._detach) row.remove();
        this._detach = [];
        this._setOrder(this._order.filter((entry) => entry.alive));
      }
      const changed = [...this._dirty];
      this._dirty.clear();
      for (const entry of changed) this._render(entry);
      const fresh = this._due(all) ? this._takeWaiting() : [];
      for (const entry of fresh) {
        entry.row = this._newRow(entry.id);
        this._render(entry);
      }
      const moved = this._outOfPlace(changed);
      if (fresh.length || moved.length) this._place(fresh.concat(moved));
      const empty = this._order.length === 0 && this._waiting.size === 0;
      if (empty && !this._empty.isConnected) this.el.appendChild(this._empty);
      if (!empty && this._empty.isConnected) this._empty.remove();
      if (this._waiting.size === 0) this._heldDue = Infinity;
      else if (this._ready === 0) this._wakeAt(this._heldDue);
      else this._wakeAt(Math.min(this._heldDue, this._placedAt + PLACEHOLDER_DELAY_MS));
    }

    /**
     * Whether waiting rows should go in now. While some still wait for their info, a
     * long list is coming in: new rows go in when they at least double the list, or a
     * while after the last ones, so that it is laid out a few times in all, not once a
     * frame.
     */
    _due(all) {
      const ready = this._ready;
      if (this._waiting.size === 0) return false;
      if (now() >= this._heldDue) return true;
      if (all || this._waiting.size === ready) return ready > 0;
      return ready > 0 && (ready >= this._order.length || now() >= this._placedAt + PLACEHOLDER_DELAY_MS);
    }

    /**
     * Take the waiting entries that have their info, or have waited long enough
     * without it (they go in as placeholders); note when the next held one is due.
     */
    _takeWaiting() {
      const clock = now();
      const fresh = [];
      let due = Infinity;
      for (const entry of this._waiting) {
        if (!entry.info) {
          const until = Math.min(Math.max(entry.added, this._filled) + PLACEHOLDER_DELAY_MS, entry.added + HOLD_MAX_MS);
          if (clock < until) {
            due = Math.min(due, until);
            continue;
          }
        }
        fresh.push(entry);
      }
      for (const entry of fresh) this._waiting.delete(entry);
      this._ready = 0;
      this._heldDue = due;
      if (fresh.length) this._placedAt = clock;
      return fresh;
    }

    /** Flush again at `due` (ms on the `now()` clock), unless a wake-up is due sooner. */
    _wakeAt(due) {
      if (due === Infinity || due >= this._timerAt) return;
      clearTimeout(this._timer);
      this._timerAt = due;
      this._timer = setTimeout(() => {
        this._timer = null;
        this._timerAt = Infinity;
        this._schedule();
      }, Math.max(0, due - now()));
    }

    _newRow(id) {
      let row;
      if (this._renderRow) {
        row = element(this._rowTag, "moi-job");
      } else {
        if (!this._template) this._template = defaultTemplate(this._rowTag);
        row = this._template.cloneNode(true);
      }
      row.setAttribute("data-job-id", id);
      return row;
    }

    _render(entry) {
      const info = infoOf(entry);
      const status = String(info.status ?? "");
      const row = entry.row;
      if (row.getAttribute("data-status") !== status) row.setAttribute("data-status", status);
      row.classList.toggle("moi-job-pending", !entry.info);
      try {
        if (this._renderRow) this._renderRow(info, row);
        else renderDefault(entry, info, status);
      } catch (err) {
        console.error("moi.JobList: could not render job", entry.id, err);
      }
    }

    /**
     * Changed entries that no longer sit between their neighbours. Two changed
     * neighbours can each look in place and still be out of order once the moved
     * ones are taken out; then all changed entries move (the unchanged are sorted).
     */
    _outOfPlace(changed) {
      const cmp = this._cmp;
      const fits = (list, e) =>
        (e.index === 0 || cmp(list[e.index - 1], e) <= 0) &&
        (e.index === list.length - 1 || cmp(e, list[e.index + 1]) <= 0);
      const moved = changed.filter((e) => !fits(this._order, e));
      if (!moved.length) return moved;
      const out = new Set(moved);
      const rest = this._order.filter((e) => !out.has(e));
      rest.forEach((e, i) => (e.index = i));
      const stayed = changed.filter((e) => !out.has(e));
      return stayed.every((e) => fits(rest, e)) ? moved : changed;
    }

    /** Put `batch` rows in sorted place; all other rows stay where they are. */
    _place(batch) {
      const cmp = this._cmp;
      const placing = new Set(batch);
      const rest = this._order.filter((e) => !placing.has(e));
      batch.sort(cmp);
      const merged = [];
      let [i, j] = [0, 0];
      while (i < rest.length || j < batch.length) {
        const takeRest = j >= batch.length || (i < rest.length && cmp(rest[i], batch[j]) <= 0);
        merged.push(takeRest ? rest[i++] : batch[j++]);
      }
      // Consecutive new or moved rows go in as one fragment each.
      const run = document.createDocumentFragment();
      for (const e of merged) {
        if (placing.has(e)) run.appendChild(e.row);
        else if (run.firstChild) this.el.insertBefore(run, e.row);
      }
      if (run.firstChild) this.el.appendChild(run);
      this._setOrder(merged);
    }

    _setOrder(list) {
      this._order = list;
      list.forEach((e, i) => (e.index = i));
    }
  }

  function infoOf(entry) {
    if (entry.info) return entry.info;
    if (!entry.placeholder) {
      entry.placeholder = { id: entry.id, name: entry.id, status: "…", handler: null, result: null, pending: true };
    }
    return entry.placeholder;
  }

  /** An empty default row: name, status badge, Remove button. */
  function defaultTemplate(tag) {
    const row = element(tag, "moi-job");
    const button = element("button", "moi-job-remove");
    button.type = "button";
    button.textContent = "Remove";
    row.append(element("span", "moi-job-name"), element("span", "moi-status"), button);
    return row;
  }

  /** Name, status badge, progress bar, result link, Remove button; updated in place. */
  function renderDefault(entry, info, status) {
    const row = entry.row;
    let parts = entry.parts;
    if (!parts) {
      // The row is a clone of defaultTemplate().
      const name = row.firstChild;
      const badge = name.nextSibling;
      parts = entry.parts = { name, badge, progress: null, link: null, button: badge.nextSibling };
    }
    const name = info.name == null || info.name === "" ? entry.id : String(info.name);
    setText(parts.name, name);
    setText(parts.badge, status);
    const pending = !entry.info;
    const final = !pending && moi.isFinal(status);
    const slug = pending ? "pending" : moi.statusSlug(status);
    const badgeClass = "moi-status moi-status-" + slug + (final ? " moi-status-final" : "");
    if (parts.badge.className !== badgeClass) parts.badge.className = badgeClass;
    const label = "Remove " + name;
    if (parts.button.getAttribute("aria-label") !== label) parts.button.setAttribute("aria-label", label);

    const progress = info.progress;
    if (typeof progress === "number" && Number.isFinite(progress)) {
      if (!parts.progress) {
        parts.progress = element("progress", "moi-progress");
        parts.progress.max = 1;
        row.insertBefore(parts.progress, parts.link || parts.button);
      }
      parts.progress.value = Math.min(1, Math.max(0, progress));
    } else if (parts.progress) {
      parts.progress.remove();
      parts.progress = null;
    }

    const href = final ? resultHref(info.handler, entry.id) : null;
    if (href) {
      if (!parts.link) {
        parts.link = element("a", "moi-job-link");
        parts.link.textContent = "Result";
        row.insertBefore(parts.link, parts.button);
      }
      if (parts.link.getAttribute("href") !== href) parts.link.setAttribute("href", href);
    } else if (parts.link) {
      parts.link.remove();
      parts.link = null;
    }
  }

  moi.JobList = JobList;
  moi.JobList.newestFirst = newestFirst;
})(typeof window !== "undefined" ? window : globalThis);
