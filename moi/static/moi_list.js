/*
 * moi_list.js: a live job list on top of moi.js (load moi.js first). API version 2.
 *
 *   <ul id="moi-joblist"></ul>
 *   <script src="/static/moi.js"></script>
 *   <script src="/static/moi_list.js"></script>
 *   <script>
 *     const conn = new moi.Connection({path: "/moi-ws/"});
 *     const list = new moi.JobList(conn, {element: "#moi-joblist"});
 *   </script>
 *
 * The list owns its element. It keeps every job's info in a model and shows a window of
 * it: only the `.moi-job` rows near the viewport are in the DOM (`data-job-id`,
 * `data-status`, role listitem with aria-posinset/aria-setsize), two empty `.moi-spacer`
 * elements standing in for the rest, so 100,000 jobs cost a few dozen rows. Rows have one height
 * per list (the first rendered row's, measured again on resize) and are re-used for
 * other jobs as the list scrolls. The list scrolls inside its element if it can
 * (moi.css: max-height and overflow auto), else with the page. Up/Down, Home/End move
 * the focus between rows; a focused row stays while it is focused.
 * Version 2 (the window): `rows()` gives the rendered rows only, `ids()` every ID in view
 * order, and `renderRow(info, row)` may be handed a row another job had: it must set
 * every part it uses.
 *
 * On top: a view model for a toolbar (setFilter, setSearch, setSort, setTimes,
 * counts(), matching(), on("change") and on("ended")), see moi/static/README.md.
 *
 * DOM work is batched into one animation frame; call `list.flush()` to apply pending
 * changes at once. A new job waits a moment for its info, and while a long list is
 * coming in, new jobs go in a few large batches rather than every frame. Job data is
 * written with textContent and setAttribute only, never parsed as HTML. A job with no
 * info yet gets a placeholder info object {id, name: id, status: "…", pending: true},
 * passed to renderRow/compare too.
 *
 * A default row shows the job's name, its status badge, when it was submitted ("5 min
 * ago", local date and time in a tooltip; or that date and time, setTimes("absolute")),
 * how long it ran (ticking while it runs), its attempt if it was re-sent, a progress bar
 * if it reports progress, a link to its page (`<handler>/<id>`), a Cancel button while
 * it has not ended, Run again where `options.canRunAgain(info)` says so, and a Hide
 * button. One timer for the whole list keeps the rendered times fresh: every second
 * while a row runs, every AGO_EVERY_MS otherwise, none while no row is rendered.
 *
 * In any row, default or custom, a `.moi-job-cancel` element sends `cancel` for its job
 * (the row gets `.moi-job-cancelling` until the job ends or the server refuses), a
 * `.moi-job-again` element sends `moi:again`, and a `.moi-job-remove` element hides the
 * job (`remove`: off the group's list, everywhere).
 * A refused cancel (the job had ended meanwhile, say) gives the row `.moi-job-refused`
 * for REFUSED_MS, and a default row shows why, in the server's words.
 * Hiding a job that has not ended asks first, in a `<dialog class="moi-confirm">`:
 * "Hide anyway", "Cancel the job" or "Keep".
 *
 * While the list is not live (its connection is not "connected", or the server's full
 * list has not come back since it reconnected), the rows of jobs that had not ended get
 * `.moi-job-stale`: their status is the last one heard, and may be out of date (moi.css
 * adds "(not live)" to the badge).
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
  const ANNOUNCE_MS = 2000; // the least time between two things the list says aloud
  const HOLD_MAX_MS = 5000;
  // The times' one timer: running rows tick every TICK_MS, "5 min ago" texts are
  // refreshed every AGO_EVERY_MS (also the timer's period when no row runs).
  const TICK_MS = 1000;
  const AGO_EVERY_MS = 15000;
  // How long a row says that its cancel was refused.
  const REFUSED_MS = 10000;
  // The window: rows rendered beyond each edge of the visible part, the row height
  // assumed until a row is measured, at most this many rows, and rows kept for re-use.
  const OVERSCAN = 8;
  const GUESS_ROW_PX = 24;
  const MAX_ROWS = 400;
  const POOL = 100;
  const FILTERS = ["all", "waiting", "running", "succeeded", "failed", "cancelled"];
  const SORTS = ["newest", "duration"];
  const TIMES = ["relative", "absolute"];
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

  /**
   * The status filter a job falls under (FILTERS, but "all"); null for a job whose info has
   * not come yet (counted in "all" only: a list coming in does not count as all waiting).
   */
  function bucketOf(info) {
    if (!info) return null;
    const status = info.status;
    if (status == null || status === "Queued") return "waiting";
    if (status === "Success") return "succeeded";
    if (status === "Failed") return "failed";
    if (status === "Cancelled") return "cancelled";
    return "running";
  }

  /**
   * What the "duration" sort orders by, longest first: an ended job's run time, a running
   * job's time since it started (at `clock`, when the job last changed or the list was
   * sorted), -1 for a job that never started.
   */
  function durationKey(info, clock) {
    if (!info) return -1;
    const start = parseDate(info.date_start);
    if (start === null) return -1;
    const end = parseDate(info.date_end);
    return Math.max(0, (end === null ? clock : end) - start);
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
     * @param {Function} [options.renderRow] fn(info, rowElement) fills a row instead of the default;
     *   the row may have been another job's: set every part the row uses
     * @param {Function} [options.compare] fn(infoA, infoB) the "newest" sort order; default newest first
     * @param {Function} [options.canRunAgain] fn(info) true for jobs whose default row offers "Run again"
     * @param {string} [options.emptyText="No jobs yet."]
     * @param {string} [options.noMatchText="No jobs match."] when the filter or search matches none
     * @param {string} [options.locale] for dates and "5 min ago" in default rows; default the browser's
     * @param {boolean} [options.announce=true] say jobs' ends in a polite live region after the list
     * @param {string} [options.jobPage] where a job without a handler of its own links to:
     *   this path + its ID (moi.jobpage's page, e.g. "/jobs/"); default none
     */
    constructor(conn, options = {}) {
      const target = options.element || "#moi-joblist";
      this.el = typeof target === "string" ? document.querySelector(target) : target;
      if (!this.el) throw new Error("moi.JobList: no element " + target);
      this.el.classList.add("moi-joblist"); // what moi.css styles
      this.el.setAttribute("role", "list");
      this.conn = conn;
      this._renderRow = options.renderRow || null;
      this._canRunAgain = typeof options.canRunAgain === "function" ? options.canRunAgain : null;
      const compare = options.compare || newestFirst;
      // Ties broken by ID, so the order is total and rows never swap at random.
      const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      this._newest = (a, b) => compare(infoOf(a), infoOf(b)) || byId(a, b);
      this._longest = (a, b) => b.dur - a.dur || this._newest(a, b);
      this._cmp = this._newest;
      this._rowTag = /^(UL|OL)$/.test(this.el.tagName) ? "li" : "div";
      // id -> entry {id, info, row, alive, placed, index, vpos, bucket, lname, dur, ...}
      this._jobs = new Map();
      this._order = []; // placed entries, in the sort's order (entry.index)
      this._view = this._order; // those the filter and search let through (entry.vpos)
      this._viewStale = false;
      this._narrowOk = false; // the search only got longer: filter the last view, not all
      this._filter = "all";
      this._search = "";
      this._sort = "newest";
      this._times = "relative";
      this._counts = { all: 0, waiting: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
      this._countsChanged = false;
      this._viewChanged = false;
      this._listeners = { change: new Set(), ended: new Set() };
      this._rendered = new Set(); // entries whose rows are in the DOM
      this._pool = []; // rows to re-use
      this._rowH = 0; // px, measured; 0 until then
      this._dirty = new Set(); // placed entries changed since the last frame
      this._waiting = new Set(); // entries not placed yet, in the order they came
      this._ready = 0; // how many of those have their info
      this._removed = false;
      this._frame = false;
      this._filled = -Infinity; // when the last info came for a waiting job
      this._placedAt = -Infinity; // when new jobs last went in
      this._heldDue = Infinity; // no held job is due before this
      this._timer = null; // wakes the list when waiting jobs are due
      this._timerAt = Infinity;
      this._template = null;
      this._resyncing = false;
      this._live = conn.state === "connected";
      this._destroyed = false;
      this._locale = options.locale;
      this._jobPage = typeof options.jobPage === "string" ? options.jobPage : null;
      this._ticking = new Set(); // rendered entries whose run time ticks (default rows of running jobs)
      this._cancelling = new Set(); // entries whose cancel is on its way
      this._refusedShown = new Set(); // entries that say their cancel was refused
      this._refusedTimer = null; // takes those notes down
      this._clock = null; // the times' one interval timer
      this._clockEvery = 0;
      this._agoDue = 0;
      this._dialog = null; // the Hide confirmation, made on first use
      this._confirming = null; // the job ID it asks about
      // Ends heard live, said politely at most every ANNOUNCE_MS: the rows themselves are
      // not a live region, or every tick of a running time would be read out.
      this._ended = []; // [name, status] not said yet
      this._announcer = null;
      this._announceTimer = null;
      if (options.announce !== false) {
        this._announcer = element("p", "moi-announce");
        this._announcer.setAttribute("role", "status"); // aria-live polite
        this.el.after(this._announcer);
      }

      this._emptyText = options.emptyText ?? "No jobs yet.";
      this._noMatchText = options.noMatchText ?? "No jobs match.";
      // Empty elements before and after the rendered rows, as tall as the rows out of sight.
      this._spacers = [0, 1].map(() => {
        const spacer = element(this._rowTag, "moi-spacer");
        spacer.setAttribute("aria-hidden", "true");
        spacer.style.flex = "none";
        spacer.style.height = "0px";
        return spacer;
      });
      this._empty = element(this._rowTag, "moi-empty");
      this._empty.textContent = this._emptyText;
      this.el.replaceChildren(this._empty);

      // One listener for the buttons of all rows, custom rows included.
      this._onClick = (event) => {
        const button =
          event.target instanceof Element && event.target.closest(".moi-job-cancel, .moi-job-remove, .moi-job-again");
        const row = button && this.el.contains(button) && button.closest(".moi-job");
        const entry = row && this._jobs.get(row.getAttribute("data-job-id"));
        if (!entry) return;
        if (button.matches(".moi-job-cancel")) this._cancel(entry);
        else if (button.matches(".moi-job-again")) this.conn.send("moi:again", entry.id);
        else if (entry.info && moi.isFinal(entry.info.status)) this.conn.remove(entry.id);
        else this._confirmHide(entry);
      };
      this._onKey = (event) => this._key(event);
      // Capture: a scroll of the element or of anything around it moves the window.
      this._onScroll = () => this._schedule();
      this._onResize = () => {
        this._rowH = 0; // the rows' height may follow the width (moi.css on a phone)
        this._schedule();
      };
      this.el.addEventListener("click", this._onClick);
      this.el.addEventListener("keydown", this._onKey);
      global.addEventListener("scroll", this._onScroll, { capture: true, passive: true });
      global.addEventListener("resize", this._onResize);

      const setState = (state) => {
        this.el.setAttribute("data-moi-state", state);
        this._setLive();
      };
      setState(conn.state);
      this._offs = [
        conn.on("add", (ids) => this._add(ids)),
        conn.on("remove", (ids) => this._remove(ids)),
        conn.on("update", (info) => this._update(info)),
        conn.on("resync", () => this._resync()),
        conn.on("error", (message) => this._refused(message)),
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

    /** The IDs of the jobs in view (filter and search), in view order, after pending changes. */
    ids() {
      this.flush();
      return this._view.map((entry) => entry.id);
    }

    /** The rendered row elements (the window, not every job), in order, after pending changes. */
    rows() {
      this.flush();
      return Array.from(this.el.children).filter((child) => child.classList.contains("moi-job"));
    }

    // ---- The view model, for a toolbar ----

    get filter() {
      return this._filter;
    }

    get search() {
      return this._search;
    }

    get sort() {
      return this._sort;
    }

    get times() {
      return this._times;
    }

    /** Show the jobs of one status filter: all, waiting, running, succeeded, failed, cancelled. */
    setFilter(name) {
      if (!FILTERS.includes(name)) throw new Error("moi.JobList: no filter " + JSON.stringify(name) + "; one of " + FILTERS);
      if (name === this._filter) return;
      this._filter = name;
      this._stale();
      this._schedule();
    }

    /** Show the jobs whose name or ID holds `text`, in any case ("" for all). */
    setSearch(text) {
      if (typeof text !== "string") throw new Error("moi.JobList: setSearch takes a string");
      const query = text.toLowerCase();
      if (query === this._search) return;
      const narrower = !this._viewStale && this._search !== "" && query.includes(this._search);
      this._search = query;
      this._stale();
      this._narrowOk = narrower;
      this._schedule();
    }

    /**
     * Order by "newest" (submitted, newest first; options.compare if given) or "duration"
     * (longest first: an ended job by its run time, a running one by its time so far when
     * it last changed or the sort was chosen, jobs that never started last).
     */
    setSort(name) {
      if (!SORTS.includes(name)) throw new Error("moi.JobList: no sort " + JSON.stringify(name) + "; one of " + SORTS);
      if (name === this._sort) return;
      this._sort = name;
      this._cmp = name === "duration" ? this._longest : this._newest;
      if (name === "duration") {
        const clock = Date.now();
        for (const entry of this._jobs.values()) entry.dur = durationKey(entry.info, clock);
      }
      this._setOrder(this._order.sort(this._cmp));
      this._stale();
      this._schedule();
    }

    /** Default rows say when a job was submitted as "5 min ago" ("relative") or its date ("absolute"). */
    setTimes(mode) {
      if (!TIMES.includes(mode)) throw new Error("moi.JobList: no times " + JSON.stringify(mode) + "; one of " + TIMES);
      if (mode === this._times) return;
      this._times = mode;
      for (const entry of this._rendered) this._dirty.add(entry);
      this._viewChanged = true;
      this._schedule();
    }

    /** How many jobs of each filter the list has, over all jobs (not only those in view). */
    counts() {
      return { ...this._counts };
    }

    /** The info objects of the jobs in view (filter and search), in view order. */
    matching() {
      this.flush();
      return this._view.map(infoOf);
    }

    /** How many jobs are in view (filter and search). */
    get matchCount() {
      if (this._viewStale) this._buildView();
      return this._view.length;
    }

    /**
     * Listen: "change" fn({counts, matched}) at most once a frame after the counts or the
     * view changed; "ended" fn(info) for each job heard ending live (not one that had
     * ended before the list heard of it). Returns a function that stops listening.
     */
    on(event, fn) {
      const set = this._listeners[event];
      if (!set || typeof fn !== "function") throw new Error("moi.JobList: on(\"change\" | \"ended\", function)");
      set.add(fn);
      return () => set.delete(fn);
    }

    _emit(event, value) {
      for (const fn of [...this._listeners[event]]) {
        try {
          fn(value);
        } catch (err) {
          console.error("moi.JobList: a", event, "listener failed", err);
        }
      }
    }

    /** Stop listening and empty the element. The connection stays open. */
    destroy() {
      this._destroyed = true;
      clearTimeout(this._timer);
      clearTimeout(this._refusedTimer);
      clearInterval(this._clock);
      clearTimeout(this._announceTimer);
      if (this._dialog) this._dialog.remove();
      if (this._announcer) this._announcer.remove();
      for (const off of this._offs) off();
      this.el.removeEventListener("click", this._onClick);
      this.el.removeEventListener("keydown", this._onKey);
      global.removeEventListener("scroll", this._onScroll, { capture: true });
      global.removeEventListener("resize", this._onResize);
      this.el.replaceChildren();
      this.el.classList.remove("moi-resyncing");
      this.el.removeAttribute("data-moi-state");
      this.el.removeAttribute("role");
      this._jobs.clear();
      this._dirty.clear();
      this._waiting.clear();
      this._rendered.clear();
      this._order = this._view = this._pool = [];
      this._ticking.clear();
      this._cancelling.clear();
      this._refusedShown.clear();
      for (const set of Object.values(this._listeners)) set.clear();
    }

    /** Mark the rows of unfinished jobs stale while the list is not live, and back. */
    _setLive() {
      const live = this.conn.state === "connected" && !this._resyncing;
      if (live === this._live) return;
      this._live = live;
      for (const entry of this._rendered) {
        entry.row.classList.toggle("moi-job-stale", !live && !moi.isFinal(infoOf(entry).status));
      }
    }
    _resync() {
      // Until the server's full list arrives, every row may be gone: let CSS show it.
      this._resyncing = true;
      this._setLive();
      this.el.classList.add("moi-resyncing");
      this._stopCancelling(); // a cancel lost with the old socket must not leave its button off
    }

    /**
     * The server refused a message. If cancels were on their way, that was one of them:
     * their rows say so for REFUSED_MS, and their buttons work again.
     */
    _refused(message) {
      console.warn("moi.JobList: the server refused a message:", message);
      if (this._cancelling.size) {
        for (const entry of this._cancelling) {
          entry.refused = String(message);
          this._refusedShown.add(entry);
        }
        clearTimeout(this._refusedTimer);
        this._refusedTimer = setTimeout(() => this._takeDownRefused(), REFUSED_MS);
      }
      this._stopCancelling();
    }

    _takeDownRefused() {
      this._refusedTimer = null;
      for (const entry of this._refusedShown) {
        entry.refused = null;
        if (entry.row) this._dirty.add(entry);
      }
      this._refusedShown.clear();
      this._schedule();
    }

    _stopCancelling() {
      for (const entry of this._cancelling) {
        entry.cancelling = false;
        if (entry.row) this._dirty.add(entry);
      }
      this._cancelling.clear();
      this._schedule();
    }

    _cancel(entry) {
      if (entry.cancelling || !this.conn.cancel(entry.id)) return;
      entry.cancelling = true;
      entry.refused = null; // asked again: the last refusal is old news
      this._refusedShown.delete(entry);
      this._cancelling.add(entry);
      if (entry.row) this._dirty.add(entry);
      this._schedule();
    }

    /** Hide a job that has not ended only once the user has chosen to (see _confirmDialog). */
    _confirmHide(entry) {
      const info = infoOf(entry);
      const name = nameOf(entry, info);
      const dialog = this._confirmDialog();
      if (!dialog) {
        // No <dialog> here: a plain yes/no, without the choice to cancel.
        if (global.confirm(`“${name}” has not ended. Hide it anyway? It keeps running.`)) this.conn.remove(entry.id);
        return;
      }
      const state = info.status === "Queued" ? "is waiting for an engine" : "has not ended";
      dialog.querySelector(".moi-confirm-text").textContent =
        `“${name}” ${state}. Hiding only takes it off this list: the job goes on.`;
      this._confirming = entry.id;
      dialog.returnValue = "";
      dialog.showModal();
    }

    /**
     * The Hide confirmation: a modal <dialog> whose form (method="dialog") closes it
     * with the chosen button's value; Escape closes it with none, which keeps the job.
     * Null where <dialog> is not supported.
     */
    _confirmDialog() {
      if (this._dialog) return this._dialog;
      if (typeof global.HTMLDialogElement !== "function") return null;
      const uid = "moi-confirm-" + ++dialogCount;
      const dialog = element("dialog", "moi-confirm");
      const form = document.createElement("form");
      form.method = "dialog";
      const title = element("h2", "moi-confirm-title");
      title.id = uid + "-title";
      title.textContent = "Hide a job that has not ended?";
      const text = element("p", "moi-confirm-text");
      text.id = uid + "-text";
      const choices = element("div", "moi-confirm-choices");
      for (const [value, label] of [["hide", "Hide anyway"], ["cancel", "Cancel the job"], ["keep", "Keep"]]) {
        const button = element("button", "moi-confirm-" + value);
        button.value = value;
        button.textContent = label;
        button.autofocus = value === "keep"; // the choice that changes nothing
        choices.append(button);
      }
      form.append(title, text, choices);
      dialog.append(form);
      dialog.setAttribute("aria-labelledby", title.id);
      dialog.setAttribute("aria-describedby", text.id);
      dialog.addEventListener("close", () => {
        if (dialog.open) return; // asked again before this event came: that question stands
        const entry = this._jobs.get(this._confirming);
        this._confirming = null;
        if (!entry) return;
        if (dialog.returnValue === "hide") this.conn.remove(entry.id);
        else if (dialog.returnValue === "cancel") this._cancel(entry);
      });
      document.body.append(dialog);
      return (this._dialog = dialog);
    }

    _add(ids) {
      if (this._resyncing) {
        // The first add after a reopen is the group's full list.
        this._resyncing = false;
        this._setLive();
        this.el.classList.remove("moi-resyncing");
        const keep = new Set(ids);
        for (const id of [...this._jobs.keys()]) if (!keep.has(id)) this._drop(id);
      }
      const added = now();
      for (const id of ids) {
        if (this._jobs.has(id)) continue;
        const entry = { id, info: null, row: null, alive: true, placed: false, index: -1, vpos: -1, placeholder: null, added };
        entry.bucket = null; // the filter it falls under (bucketOf): none until its info
        entry.lname = null; // name and ID in lower case, for the search (searchText)
        entry.dur = -1; // the duration sort's key (durationKey)
        entry.times = null; // dates as ms, for the timer (default rows)
        entry.cancelling = false; // its cancel is on its way
        entry.refused = null; // the server's words on its last cancel, while the row says so
        this._jobs.set(id, entry);
        this._waiting.add(entry);
        this._counts.all += 1;
        this._countsChanged = true;
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
      const final = moi.isFinal(info.status);
      if (entry.cancelling && final) {
        entry.cancelling = false;
        this._cancelling.delete(entry);
      }
      const old = entry.info;
      const ended = old !== null && final && !moi.isFinal(old.status);
      const was = old ? old.status : null;
      if ((was === "Queued") !== (info.status === "Queued")) this._lineMoved = true;
      const bucket = bucketOf(info);
      if (bucket !== entry.bucket) {
        if (entry.bucket) this._counts[entry.bucket] -= 1;
        this._counts[bucket] += 1;
        entry.bucket = bucket;
        this._countsChanged = true;
        if (entry.placed && this._filter !== "all") this._stale();
      }
      if (!old || old.name !== info.name) {
        entry.lname = searchText(entry.id, info.name); // now, not on the first search
        if (entry.placed && this._search !== "") this._stale();
      }
      if (this._sort === "duration") entry.dur = durationKey(info, Date.now());
      if (entry.placed) {
        this._dirty.add(entry);
      } else if (!old) {
        this._ready += 1;
        this._filled = now();
      }
      entry.info = info;
      this._schedule();
      if (ended) {
        this._announce(nameOf(entry, info), info.status);
        this._emit("ended", info);
      }
    }

    /** Say that a job ended, with the others that end within ANNOUNCE_MS, in one message. */
    _announce(name, status) {
      if (!this._announcer) return;
      this._ended.push([name, status]);
      if (this._announceTimer !== null) return;
      const say = () => {
        const ended = this._ended;
        this._ended = [];
        if (!ended.length) {
          this._announceTimer = null; // quiet for a whole interval: the next end is said at once
          return;
        }
        let text = ended.map(([n, s]) => n + ": " + s).join("; ");
        if (ended.length > 3) {
          const counts = new Map();
          for (const [, s] of ended) counts.set(s, (counts.get(s) || 0) + 1);
          text = ended.length + " jobs ended: " + [...counts].map(([s, n]) => n + " " + s).join(", ");
        }
        this._announcer.textContent = text;
        this._announceTimer = setTimeout(say, ANNOUNCE_MS);
      };
      say();
    }

    _drop(id) {
      const entry = this._jobs.get(id);
      if (!entry) return;
      if (entry.info && entry.info.status === "Queued") this._lineMoved = true;
      this._jobs.delete(id);
      this._counts.all -= 1;
      if (entry.bucket) this._counts[entry.bucket] -= 1;
      this._countsChanged = true;
      entry.alive = false;
      this._dirty.delete(entry);
      this._cancelling.delete(entry);
      this._refusedShown.delete(entry);
      // Hidden meanwhile (in another tab, say): nothing is left to ask about.
      if (this._confirming === id && this._dialog.open) this._dialog.close();
      if (this._waiting.delete(entry) && entry.info) this._ready -= 1;
      if (entry.placed) this._removed = true; // its row goes with the next frame's window
    }

    _schedule() {
      if (this._frame || this._destroyed) return;
      this._frame = true;
      nextFrame(() => this._flush(false));
    }

    /** The view must be made again from the order (filter, search or order changed). */
    _stale() {
      this._viewStale = true;
      this._narrowOk = false;
    }

    /** Apply all pending changes to the DOM now (jobs still waiting for info excepted). */
    flush() {
      this._flush(true);
    }

    _flush(all) {
      this._frame = false;
      if (this._destroyed) return;
      if (this._removed) {
        this._removed = false;
        this._setOrder(this._order.filter((entry) => entry.alive));
        this._stale();
      }
      if (this._lineMoved) this._countAhead();
      const changed = [...this._dirty];
      this._dirty.clear();
      const fresh = this._due(all) ? this._takeWaiting() : [];
      if (fresh.length && this._sort === "duration") {
        const clock = Date.now();
        for (const entry of fresh) entry.dur = durationKey(entry.info, clock);
      }
      for (const entry of fresh) entry.placed = true;
      const moved = this._outOfPlace(changed);
      if (fresh.length || moved.length) {
        this._place(fresh.concat(moved));
        this._stale();
      }
      if (this._viewStale) this._buildView();
      for (const entry of changed) if (entry.row) this._render(entry);
      this._paint(null);
      this._showEmpty();
      if (this._waiting.size === 0) this._heldDue = Infinity;
      else if (this._ready === 0) this._wakeAt(this._heldDue);
      else this._wakeAt(Math.min(this._heldDue, this._placedAt + PLACEHOLDER_DELAY_MS));
      this._setClock();
      if (this._countsChanged || this._viewChanged) {
        this._countsChanged = this._viewChanged = false;
        this._emit("change", { counts: this.counts(), matched: this._view.length });
      }
    }

    /** The view: the ordered jobs that the filter and search let through, each its `vpos`. */
    _buildView() {
      const filter = this._filter;
      const query = this._search;
      if (filter === "all" && query === "") {
        this._view = this._order;
      } else {
        const from = this._narrowOk ? this._view : this._order;
        const view = [];
        for (const entry of from) {
          if (filter !== "all" && entry.bucket !== filter) continue;
          if (query !== "" && !(entry.lname ?? searchText(entry.id, entry.id)).includes(query)) continue;
          view.push(entry);
        }
        this._view = view;
      }
      const view = this._view;
      for (let i = 0; i < view.length; i++) view[i].vpos = i;
      this._viewStale = this._narrowOk = false;
      this._viewChanged = true;
    }

    /** The empty text when there are no jobs, "No jobs match." when none is in view. */
    _showEmpty() {
      const none = this._order.length === 0 && this._waiting.size === 0;
      const text = none ? this._emptyText : this._view.length === 0 && this._order.length ? this._noMatchText : null;
      if (text !== null) {
        setText(this._empty, text);
        if (this._empty !== this.el.firstChild) this.el.prepend(this._empty);
      } else if (this._empty.isConnected) {
        this._empty.remove();
      }
    }

    /** The entry in view whose row has the focus, or null. */
    _focused() {
      const active = document.activeElement;
      if (!active || active === this.el || !this.el.contains(active)) return null;
      const row = active.closest(".moi-job");
      const entry = row && this._jobs.get(row.getAttribute("data-job-id"));
      return entry && entry.row === row && this._view[entry.vpos] === entry ? entry : null;
    }

    /**
     * Render the rows of the view that are near the visible part of the list, re-using
     * the others' rows; the spacers stand in for the rest. `keep` (and the
     * focused row) stay rendered wherever they are, placed absolutely at their place.
     */
    _paint(keep) {
      const view = this._view;
      const focused = this._focused();
      const active = focused ? document.activeElement : null;
      const kept = [keep, focused].filter((entry) => entry && this._view[entry.vpos] === entry);
      for (let pass = 0; pass < 2; pass++) {
        const measured = this._rowH;
        const [start, end] = this._window(view.length);
        this._show(start, end, kept);
        if (measured || !this._rendered.size) break;
        const first = this.el.querySelector(":scope > .moi-job:not(.moi-job-kept)");
        this._rowH = first ? first.getBoundingClientRect().height : 0;
        if (!this._rowH) break; // not laid out (hidden): the guess stands until it is
      }
      // Moving rows about can take the focus with them: give it back.
      if (active && active.isConnected && document.activeElement !== active) active.focus({ preventScroll: true });
    }

    /** [start, end) of the view to render: the rows in sight, OVERSCAN more each side. */
    _window(count) {
      if (!count) return [0, 0];
      const el = this.el;
      const height = this._rowH || GUESS_ROW_PX;
      const box = el.getBoundingClientRect();
      const top = box.top + el.clientTop;
      const origin = top - el.scrollTop; // where row 0 is, in the viewport
      const seen = Math.max(0, top); // the list's part in sight: its box within the viewport
      const seenEnd = Math.min(global.innerHeight || document.documentElement.clientHeight, top + el.clientHeight);
      let start = Math.floor((seen - origin) / height) - OVERSCAN;
      let end = Math.ceil((seenEnd - origin) / height) + OVERSCAN;
      // Out of sight: a few rows at the nearest end, so there is something to find.
      start = Math.max(0, Math.min(start, count - OVERSCAN));
      end = Math.min(count, Math.max(end, start + OVERSCAN), start + MAX_ROWS);
      return [start, end];
    }

    /** Rows for view[start, end) and for `kept`, in order in the element, and no others. */
    _show(start, end, kept) {
      const view = this._view;
      const want = new Set(kept);
      for (let i = start; i < end; i++) want.add(view[i]);
      for (const entry of this._rendered) if (!want.has(entry)) this._release(entry);
      const height = this._rowH || GUESS_ROW_PX;
      const before = [];
      const after = [];
      for (const entry of kept) {
        if (entry.vpos >= start && entry.vpos < end) continue;
        (entry.vpos < start ? before : after).push(entry);
      }
      const rows = [];
      const add = (entry, out) => {
        const row = this._rowFor(entry);
        if (out || row.classList.contains("moi-job-kept")) {
          row.classList.toggle("moi-job-kept", out);
          row.style.top = out ? entry.vpos * height + "px" : "";
        }
        const total = String(view.length);
        if (row.getAttribute("aria-setsize") !== total) row.setAttribute("aria-setsize", total);
        const pos = String(entry.vpos + 1);
        if (row.getAttribute("aria-posinset") !== pos) row.setAttribute("aria-posinset", pos);
        rows.push(row);
      };
      for (const entry of before) add(entry, true);
      for (let i = start; i < end; i++) add(view[i], false);
      for (const entry of after) add(entry, true);
      const [above, below] = this._spacers;
      if (above.parentNode !== this.el) this.el.append(above, below);
      let next = above.nextSibling;
      for (const row of rows) {
        if (row === next) next = next.nextSibling;
        else this.el.insertBefore(row, next);
      }
      if (below.nextSibling) this.el.append(below);
      setHeight(above, start * height);
      setHeight(below, (view.length - end) * height);
    }

    /** The entry's row: its own, or a re-used or new one, rendered for it. */
    _rowFor(entry) {
      if (entry.row) return entry.row;
      const row = this._pool.pop() || this._newRow();
      row.setAttribute("data-job-id", entry.id);
      entry.row = row;
      this._rendered.add(entry);
      this._render(entry);
      return row;
    }

    /** Take the entry's row out of the page, to be re-used for another job. */
    _release(entry) {
      const row = entry.row;
      row.remove();
      entry.row = null;
      this._rendered.delete(entry);
      this._ticking.delete(entry);
      if (this._pool.length < POOL) this._pool.push(row);
    }

    /** Up/Down: the focus to the next or previous row; Home/End: to the first or last. */
    _key(event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      const step = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity }[event.key];
      if (step === undefined || !(event.target instanceof Element)) return;
      if (event.target.closest("input, textarea, select, [contenteditable]")) return;
      const row = event.target.closest(".moi-job");
      const entry = row && this.el.contains(row) && this._jobs.get(row.getAttribute("data-job-id"));
      if (!entry || this._view[entry.vpos] !== entry) return;
      event.preventDefault();
      this.focusIndex(Math.max(0, Math.min(this._view.length - 1, entry.vpos + step)));
    }

    /** Scroll the view's `index`th job into sight and give its row the focus. */
    focusIndex(index) {
      this.flush();
      const entry = this._view[index];
      if (!entry) return;
      this._paint(entry);
      entry.row.scrollIntoView({ block: "nearest" });
      entry.row.focus({ preventScroll: true });
      this._paint(null); // the window where the row now is
    }

    /**
     * Each waiting job's place in its group's line (`entry.ahead`): how many of the
     * list's waiting jobs were submitted before it. moi's queue is FIFO within a group,
     * so that is how many of the user's own jobs start first; it is counted here, from
     * the jobs the list has, so no notice goes to every waiting job when one starts.
     */
    _countAhead() {
      this._lineMoved = false;
      const line = [];
      for (const entry of this._jobs.values()) {
        if (entry.info && entry.info.status === "Queued") line.push(entry);
        else if (entry.ahead != null) {
          entry.ahead = null;
          if (entry.row) this._dirty.add(entry);
        }
      }
      const created = (entry) => String(entry.info.date_created ?? "");
      line.sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0));
      line.forEach((entry, place) => {
        if (entry.ahead === place) return;
        entry.ahead = place;
        if (entry.row) this._dirty.add(entry);
      });
    }

    /**
     * Run the one timer of the list's times at the period its rows need now: TICK_MS
     * while some row's run time ticks, AGO_EVERY_MS while rows show "5 min ago", else
     * not at all. Custom rows have no times, so they need none.
     */
    _setClock() {
      const every = this._renderRow || !this._rendered.size ? 0 : this._ticking.size ? TICK_MS : AGO_EVERY_MS;
      if (every === this._clockEvery) return;
      clearInterval(this._clock);
      this._clockEvery = every;
      this._clock = every ? setInterval(() => this._tick(), every) : null;
    }

    /** Times only: the run time of running rows, and now and then every "5 min ago". */
    _tick() {
      const clock = Date.now();
      const all = clock >= this._agoDue;
      if (all) this._agoDue = clock + AGO_EVERY_MS - TICK_MS / 2;
      for (const entry of all ? this._rendered : this._ticking) {
        if (entry.times) renderTimes(entry, partsOf(entry.row), clock, this._locale, this._times);
      }
    }

    /**
     * Whether waiting jobs should go in now. While some still wait for their info, a
     * long list is coming in: new jobs go in when they at least double the list, or a
     * while after the last ones, so that it is sorted in a few times in all, not once a
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

    _newRow() {
      let row;
      if (this._renderRow) {
        row = element(this._rowTag, "moi-job");
      } else {
        if (!this._template) this._template = defaultTemplate(this._rowTag);
        row = this._template.cloneNode(true);
      }
      row.setAttribute("role", "listitem");
      row.tabIndex = -1; // Up/Down move the focus from row to row
      return row;
    }

    _render(entry) {
      const info = infoOf(entry);
      const status = String(info.status ?? "");
      const row = entry.row;
      if (row.getAttribute("data-status") !== status) row.setAttribute("data-status", status);
      row.classList.toggle("moi-job-pending", !entry.info);
      row.classList.toggle("moi-job-cancelling", !!entry.cancelling);
      row.classList.toggle("moi-job-refused", !!entry.refused);
      row.classList.toggle("moi-job-stale", !this._live && !moi.isFinal(status));
      try {
        if (this._renderRow) {
          this._renderRow(info, row);
        } else {
          renderDefault(entry, info, status, this);
          const times = entry.times;
          if (times.start !== null && times.end === null && !times.final) this._ticking.add(entry);
          else this._ticking.delete(entry);
        }
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

    /** Put the `batch` entries in sorted place in the order; all others keep theirs. */
    _place(batch) {
      const cmp = this._cmp;
      const placing = new Set(batch);
      const rest = placing.size ? this._order.filter((e) => !placing.has(e)) : this._order;
      batch.sort(cmp);
      const merged = new Array(rest.length + batch.length);
      let [i, j, k] = [0, 0, 0];
      while (i < rest.length || j < batch.length) {
        const takeRest = j >= batch.length || (i < rest.length && cmp(rest[i], batch[j]) <= 0);
        merged[k++] = takeRest ? rest[i++] : batch[j++];
      }
      this._setOrder(merged);
    }

    _setOrder(list) {
      if (this._view === this._order) this._view = list;
      this._order = list;
      for (let i = 0; i < list.length; i++) list[i].index = i;
    }
  }

  /** What the search looks in: the job's name and ID, in lower case (made once per name). */
  function searchText(id, name) {
    return ((name == null || name === "" ? id : String(name)) + "\n" + id).toLowerCase();
  }

  function infoOf(entry) {
    if (entry.info) return entry.info;
    if (!entry.placeholder) {
      entry.placeholder = { id: entry.id, name: entry.id, status: "…", handler: null, result: null, pending: true };
    }
    return entry.placeholder;
  }

  /** The name a row shows: the job's own, or its ID if it has none. */
  function nameOf(entry, info) {
    return info.name == null || info.name === "" ? entry.id : String(info.name);
  }

  let dialogCount = 0; // for the IDs that label each list's confirmation dialog

  /** An empty default row: name, status badge, times, Hide button; the rest comes as needed. */
  function defaultTemplate(tag) {
    const row = element(tag, "moi-job");
    const times = element("span", "moi-job-times");
    times.append(element("time", "moi-job-submitted"));
    const actions = element("span", "moi-job-actions");
    const hide = element("button", "moi-job-remove moi-job-hide");
    hide.type = "button";
    hide.textContent = "Hide";
    actions.append(hide);
    row.append(element("span", "moi-job-name"), element("span", "moi-status"), times, actions);
    return row;
  }

  const rowParts = new WeakMap(); // default row -> its parts, which stay with the row when it is re-used

  /** A default row's parts (the row is a clone of defaultTemplate()). */
  function partsOf(row) {
    let parts = rowParts.get(row);
    if (!parts) {
      const [name, badge, times, actions] = row.children;
      const [submitted, hide] = [times.firstChild, actions.lastChild];
      parts = { name, badge, times, actions, submitted, hide, created: undefined, absolute: undefined };
      for (const key of ["ran", "attempt", "ahead", "link", "cancel", "again", "progress", "refused", "reason"]) parts[key] = null;
      rowParts.set(row, parts);
    }
    return parts;
  }

  /**
   * Name, badge, times, attempt, progress bar, link, Cancel, Run again and Hide; updated
   * in place (every part, as the row may have shown another job). Sets `entry.times`
   * (dates as ms, or null) for the list's timer.
   */
  function renderDefault(entry, info, status, list) {
    const row = entry.row;
    const parts = partsOf(row);
    const name = nameOf(entry, info);
    setText(parts.name, name);
    setAttr(parts.name, "title", name); // a long name is cut to one line
    setText(parts.badge, status);
    const pending = !entry.info;
    const final = !pending && moi.isFinal(status);
    const slug = pending ? "pending" : moi.statusSlug(status);
    const badgeClass = "moi-status moi-status-" + slug + (final ? " moi-status-final" : "");
    if (parts.badge.className !== badgeClass) parts.badge.className = badgeClass;
    setAttr(parts.hide, "aria-label", "Hide " + name);

    const progress = info.progress;
    if (toggle(parts, "refused", !!entry.refused, refusedNote, row, null)) {
      // Most often the job ended just before the cancel came: say that, once the row knows.
      setText(parts.refused, "Not cancelled: " + (final ? "it had already ended." : entry.refused));
    }
    if (toggle(parts, "progress", typeof progress === "number" && Number.isFinite(progress), progressBar, row, parts.refused)) {
      parts.progress.value = Math.min(1, Math.max(0, progress));
      setAttr(parts.progress, "aria-label", name + " progress");
    }

    // A job without a page of its own (the command line's) has moi's job page, if given.
    const href = pending ? null : resultHref(info.handler, entry.id) ?? resultHref(list._jobPage, entry.id);
    if (toggle(parts, "link", href !== null, pageLink, parts.actions, parts.actions.firstChild)) {
      setAttr(parts.link, "href", href);
      setAttr(parts.link, "aria-label", "Open " + name);
    }
    let again = false;
    if (!pending && list._canRunAgain) {
      try {
        again = !!list._canRunAgain(info);
      } catch (err) {
        console.error("moi.JobList: canRunAgain failed for", entry.id, err);
      }
    }
    if (toggle(parts, "again", again, againButton, parts.actions, parts.hide)) {
      setAttr(parts.again, "aria-label", "Run again " + name);
    }
    if (toggle(parts, "cancel", !pending && !final, cancelButton, parts.actions, parts.again || parts.hide)) {
      setAttr(parts.cancel, "aria-label", "Cancel " + name);
      setText(parts.cancel, entry.cancelling ? "Cancelling…" : "Cancel");
      parts.cancel.disabled = !!entry.cancelling;
    }

    entry.times = {
      created: parseDate(info.date_created),
      start: parseDate(info.date_start),
      end: parseDate(info.date_end),
      final,
    };
    renderTimes(entry, parts, Date.now(), list._locale, list._times);
    // A run after the first: the job went again after its engine died (an attempt its
    // engine took but never started, counted in `requeues`, uses no retry).
    const { retries } = info;
    const run = Number.isInteger(info.attempt) ? info.attempt - (Number.isInteger(info.requeues) ? info.requeues : 0) : 1;
    if (toggle(parts, "attempt", run > 1, attemptText, parts.times, null)) {
      const of = Number.isInteger(retries) && retries >= 0 ? " of " + (retries + 1) : "";
      setText(parts.attempt, "attempt " + run + of);
    }
    const waiting = !pending && status === "Queued" && Number.isInteger(entry.ahead);
    if (toggle(parts, "ahead", waiting, aheadText, parts.times, null)) {
      setText(parts.ahead, entry.ahead === 0 ? "next in line" : entry.ahead + " ahead in line");
    }
    const reason = pending ? "" : failureReason(info);
    if (toggle(parts, "reason", reason !== "", reasonText, row, parts.progress || parts.refused)) {
      setText(parts.reason, reason);
      setAttr(parts.reason, "title", reason);
    }
  }

  const MAX_REASON = 300; // moi.status.MAX_REASON
  // What Python's str.strip() strips (str.isspace()): not quite JS's trim().
  const PY_STRIP = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

  /**
   * Why a Failed job failed, in one line; "" for any other status. The same rule as
   * moi.status.failure_reason: the last non-empty line of `result` (a traceback's
   * "ValueError: bad input"), stripped, cut at 300 characters with "…".
   */
  function failureReason(info) {
    if (!info || info.status !== "Failed" || typeof info.result !== "string") return "";
    // Python's str.splitlines() boundaries, so both sides find the same last line.
    const lines = info.result.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/);
    let line = "";
    for (let i = lines.length - 1; i >= 0 && !line; i--) line = lines[i].replace(PY_STRIP, "");
    const chars = Array.from(line); // code points, as Python counts
    return chars.length <= MAX_REASON ? line : chars.slice(0, MAX_REASON - 1).join("") + "…";
  }

  /**
   * "submitted 5 min ago" (local date and time in its title), or "submitted <date and
   * time>" in the "absolute" mode; and "ran 4.2 s" / "running 1:05".
   */
  function renderTimes(entry, parts, clock, locale, mode) {
    const { created, start, end, final } = entry.times;
    const submitted = parts.submitted;
    if (parts.created !== created) {
      parts.created = created;
      if (created === null) {
        submitted.removeAttribute("datetime");
        submitted.removeAttribute("title");
      } else {
        parts.absolute = formatter("datetime", locale).format(created);
        submitted.setAttribute("datetime", new Date(created).toISOString());
        submitted.setAttribute("title", "Submitted " + parts.absolute);
      }
    }
    const when = mode === "absolute" ? parts.absolute : formatAgo(created, clock, locale);
    setText(submitted, created === null ? "" : "submitted " + when);
    let ran = "";
    if (start !== null && end !== null) ran = "ran " + formatDuration((end - start) / 1000);
    else if (start !== null && !final) ran = "running " + formatDuration((clock - start) / 1000, true);
    if (toggle(parts, "ran", ran !== "", ranText, parts.times, parts.attempt)) setText(parts.ran, ran);
  }

  /**
   * Make sure `parts[key]` is in the row if `want` (made by `make`, put into `parent`
   * before `before`), and gone if not. Returns `want`.
   */
  function toggle(parts, key, want, make, parent, before) {
    if (want && !parts[key]) {
      parts[key] = make();
      parent.insertBefore(parts[key], before);
    } else if (!want && parts[key]) {
      parts[key].remove();
      parts[key] = null;
    }
    return want;
  }

  function setHeight(el, px) {
    const height = px + "px";
    if (el.style.height !== height) el.style.height = height;
  }

  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  function progressBar() {
    const bar = element("progress", "moi-progress");
    bar.max = 1;
    return bar;
  }

  function pageLink() {
    const link = element("a", "moi-job-link");
    link.textContent = "Open";
    return link;
  }

  function againButton() {
    const button = element("button", "moi-job-again");
    button.type = "button";
    button.textContent = "Run again";
    return button;
  }

  function cancelButton() {
    const button = element("button", "moi-job-cancel");
    button.type = "button";
    return button;
  }

  /** Why a cancel was refused; an alert, so a screen reader says it when it appears. */
  function refusedNote() {
    const note = element("span", "moi-job-refused-note");
    note.setAttribute("role", "alert");
    return note;
  }

  const ranText = () => element("span", "moi-job-ran");
  const reasonText = () => element("span", "moi-job-reason");
  const attemptText = () => element("span", "moi-job-attempt");
  const aheadText = () => element("span", "moi-job-ahead");

  /** An info object's ISO 8601 date as ms since the epoch, or null. No zone means UTC, as on the server. */
  function parseDate(value) {
    if (typeof value !== "string" || value === "") return null;
    const ms = Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : value + "Z");
    return Number.isFinite(ms) ? ms : null;
  }

  const formatters = new Map(); // "kind|locale" -> Intl formatter (making one is slow)

  function formatter(kind, locale) {
    const key = kind + "|" + (locale || "");
    let found = formatters.get(key);
    if (found === undefined) {
      if (kind === "ago") {
        const Relative = global.Intl && Intl.RelativeTimeFormat;
        found = Relative ? new Relative(locale, { numeric: "auto" }) : null;
      } else {
        const style = kind === "date" ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "medium" };
        found = new Intl.DateTimeFormat(locale, style);
      }
      formatters.set(key, found);
    }
    return found;
  }

  /**
   * How long ago `then` was at `now` (both ms): "just now", "5 minutes ago", "3 hours
   * ago", "yesterday", then "on <date>" after a week. A date ahead of `now` (the
   * server's clock and the browser's differ) is "just now".
   */
  function formatAgo(then, now, locale) {
    const seconds = (now - then) / 1000;
    if (!(seconds >= 45)) return "just now";
    if (seconds >= 7 * 86400) return "on " + formatter("date", locale).format(then);
    const [unit, size] = seconds < 3600 ? ["minute", 60] : seconds < 86400 ? ["hour", 3600] : ["day", 86400];
    const count = Math.max(1, Math.floor(seconds / size));
    const relative = formatter("ago", locale);
    if (relative) return relative.format(-count, unit);
    if (unit === "day" && count === 1) return "yesterday";
    return `${count} ${unit}${count === 1 ? "" : "s"} ago`;
  }

  /**
   * A run time: "<0.01 s", "0.05 s", "4.2 s", "42 s", "1:05", "1:02:03". `live` (a job still
   * running, shown once a second) gives whole seconds only.
   */
  function formatDuration(seconds, live = false) {
    const s = Math.max(0, seconds);
    if (!live && s < 0.01) return "<0.01 s";
    if (!live && s < 1) return s.toFixed(2) + " s";
    if (!live && s < 10) return s.toFixed(1) + " s";
    const whole = Math.floor(s);
    if (whole < 60) return whole + " s";
    const pad = (n) => String(n).padStart(2, "0");
    const [h, m, sec] = [Math.floor(whole / 3600), Math.floor(whole / 60) % 60, whole % 60];
    return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
  }

  moi.JobList = JobList;
  moi.JobList.newestFirst = newestFirst;
  moi.JobList.formatAgo = formatAgo;
  moi.JobList.formatDuration = formatDuration;
  moi.JobList.failureReason = failureReason;
  moi.JobList.API_VERSION = 2;
})(typeof window !== "undefined" ? window : globalThis);
