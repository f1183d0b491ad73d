/*
 * moi_output.js: a job's output, live, in a terminal-like pane (README.md, "The output pane").
 *
 *   <div class="moi-output" data-moi-output="<job id>" data-moi-final="false"
 *        data-moi-pages="/jobs/<id>/output.json" data-moi-download="/jobs/<id>/output.txt"></div>
 *   <script src="/moi-static/moi.js"></script>        <!-- for a job that has not ended -->
 *   <script src="/moi-static/moi_output.js"></script>
 *
 * Every element with `data-moi-output` is made a pane once the page has loaded, unless a
 * script made it one before (`new moi.OutputPane(element, {conn})`, to share a socket).
 * A job that has not ended is followed over the moi socket (`moi:follow` from the last line
 * received, again after each reconnect); once it ends (its "update" says so, or `finish()`),
 * the pane stops following and reads the rest over HTTP (`data-moi-pages`, the pages of
 * moi.jobpage.JobOutputHandler), as it does at once for a job that had ended. Lines go in
 * once per animation frame; only the last `maxLines` stay in the page (the download has
 * them all). Job text goes in with textContent only, ANSI escapes stripped.
 */
(function (global) {
  "use strict";

  const moi = global.moi || (global.moi = {});

  const MAX_LINES = 20000;
  const FIND_DELAY_MS = 120;
  const END_SLACK_PX = 8; // this close to the bottom counts as at the end
  const MAX_HIGHLIGHTS = 5000; // ranges painted at most: past that, the lines' own class
  const READ_PAGES_MAX = 1000;
  const HIGHLIGHT = "moi-output-match"; // moi.css paints ::highlight(moi-output-match)
  // CSI and OSC sequences, and the two-character escapes; then any control left over.
  const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
  const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
  const STREAMS = ["stdout", "stderr", "log", "moi"];
  const NUMBER = new Intl.NumberFormat("en-US");
  const KIB = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  const nextFrame = global.requestAnimationFrame
    ? (fn) => global.requestAnimationFrame(fn)
    : (fn) => setTimeout(fn, 16);

  /** A line as a terminal would leave it: no escapes, only what follows the last "\r". */
  function clean(text) {
    let line = String(text ?? "").replace(ANSI, "").replace(/\r+$/, "");
    const cr = line.lastIndexOf("\r");
    if (cr >= 0) line = line.slice(cr + 1);
    return line.replace(CONTROL, "");
  }

  /** "… 1,234 lines (56.7 KiB) not kept …", as moi.jobpage writes it in the download. */
  function droppedText(lines, bytes) {
    const size = Number.isFinite(bytes) ? " (" + KIB.format(bytes / 1024) + " KiB)" : "";
    return "… " + NUMBER.format(lines) + " lines" + size + " not kept …";
  }

  let panes = 0; // for the IDs of each pane's controls

  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  class OutputPane {
    /**
     * @param {string|Element} element the pane's container; its children are replaced
     * @param {object} [options]
     * @param {moi.Connection} [options.conn] the socket to follow on (default: one of its own)
     * @param {string} [options.jobId] default `data-moi-output`
     * @param {boolean} [options.final] the job has ended (default `data-moi-final="true"`)
     * @param {string} [options.pagesUrl] JSON pages of the stored output (`data-moi-pages`)
     * @param {string} [options.downloadUrl] the whole output as text (`data-moi-download`)
     * @param {string} [options.socketPath] for a socket of its own (`data-moi-socket`, "/moi-ws/")
     * @param {string} [options.label] the output region's name ("Job output")
     * @param {number} [options.maxLines=20000] lines kept in the page
     */
    constructor(element, options = {}) {
      this.el = typeof element === "string" ? document.querySelector(element) : element;
      if (!this.el) throw new Error("moi.OutputPane: no element " + element);
      const data = this.el.dataset;
      this.jobId = options.jobId ?? data.moiOutput;
      this.pagesUrl = options.pagesUrl ?? data.moiPages ?? null;
      this.downloadUrl = options.downloadUrl ?? data.moiDownload ?? null;
      this.maxLines = options.maxLines ?? MAX_LINES;
      this.next = 0; // the number of the next line wanted
      this.hidden = 0; // lines taken out of the page for the cap
      this.following = true; // keep the end in view
      this.done = false;
      this.conn = null;
      this._pending = []; // [n, stream, text] or {note} to put in on the next frame
      this._frame = false;
      this._offs = [];
      this._ownConn = false;
      this._query = "";
      this._matches = [];
      this._ranges = [];
      this._current = -1;
      this._findTimer = null;
      this._highlight = null;
      this._number = ++panes;
      this.el.moiOutputPane = this;
      this._build(options.label || this.el.getAttribute("data-moi-label") || "Job output");
      const final = options.final ?? data.moiFinal === "true";
      if (final && this.pagesUrl) this._readRest();
      else this._follow(options.conn, options.socketPath ?? data.moiSocket ?? "/moi-ws/");
    }

    _build(label) {
      const id = "moi-output-" + this._number;
      const bar = make("div", "moi-output-bar");
      const find = make("div", "moi-output-find");
      find.setAttribute("role", "search");
      const findLabel = make("label", "moi-output-find-label", "Find in output");
      findLabel.htmlFor = id + "-find";
      this.findInput = make("input", "moi-output-find-input");
      this.findInput.type = "search";
      this.findInput.id = id + "-find";
      this.findInput.autocomplete = "off";
      this.findInput.spellcheck = false;
      this.prevButton = make("button", "moi-output-prev", "Previous");
      this.nextButton = make("button", "moi-output-next", "Next");
      for (const button of [this.prevButton, this.nextButton]) {
        button.type = "button";
        button.disabled = true;
      }
      this.prevButton.setAttribute("aria-label", "Previous match");
      this.nextButton.setAttribute("aria-label", "Next match");
      this.countEl = make("span", "moi-output-count");
      this.countEl.setAttribute("role", "status");
      const only = make("label", "moi-output-only");
      this.onlyBox = make("input");
      this.onlyBox.type = "checkbox";
      only.append(this.onlyBox, " Only matching lines");
      find.append(findLabel, this.findInput, this.prevButton, this.nextButton, this.countEl, only);
      bar.append(find);
      if (this.downloadUrl) {
        this.downloadLink = make("a", "moi-output-download", "Download");
        this.downloadLink.href = this.downloadUrl;
        this.downloadLink.setAttribute("download", "job-" + this.jobId + ".txt");
        this.downloadLink.setAttribute("aria-label", "Download the whole output as text");
        bar.append(this.downloadLink);
      }
      this.hiddenNote = make("p", "moi-output-hidden");
      this.hiddenNote.hidden = true;
      const frame = make("div", "moi-output-frame");
      this.linesEl = make("div", "moi-output-lines");
      this.linesEl.tabIndex = 0; // a region to scroll with the keyboard
      this.linesEl.setAttribute("role", "region");
      this.linesEl.setAttribute("aria-label", label);
      this.jumpButton = make("button", "moi-output-jump", "Jump to end");
      this.jumpButton.type = "button";
      this.jumpButton.hidden = true;
      frame.append(this.linesEl, this.jumpButton);
      this.stateEl = make("p", "moi-output-state");
      this.stateEl.setAttribute("role", "status");
      this.el.classList.add("moi-output");
      this.el.replaceChildren(bar, this.hiddenNote, frame, this.stateEl);

      this.linesEl.addEventListener("scroll", () => this._scrolled(), { passive: true });
      this.jumpButton.addEventListener("click", () => {
        this.jumpToEnd();
        this.linesEl.focus({ preventScroll: true });
      });
      this.findInput.addEventListener("input", () => {
        clearTimeout(this._findTimer);
        this._findTimer = setTimeout(() => this.find(this.findInput.value), FIND_DELAY_MS);
      });
      this.findInput.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          if (this._query !== this.findInput.value.toLowerCase()) this.find(this.findInput.value);
          else this.step(event.shiftKey ? -1 : 1);
        } else if (event.key === "Escape" && this.findInput.value) {
          event.preventDefault();
          this.findInput.value = "";
          this.find("");
        }
      });
      this.prevButton.addEventListener("click", () => this.step(-1));
      this.nextButton.addEventListener("click", () => this.step(1));
      this.onlyBox.addEventListener("change", () => this._filter());
      this._onResize = () => this.following && this._toEnd();
      global.addEventListener("resize", this._onResize);
    }

    /* ---- following ---- */

    _follow(conn, socketPath) {
      if (!conn) {
        if (!moi.Connection) {
          this._say("The live output needs moi.js.");
          return;
        }
        conn = new moi.Connection({ path: socketPath });
        this._ownConn = true;
      }
      this.conn = conn;
      this._offs = [
        conn.on("moi:output", (value) => {
          if (value && value.id === this.jobId) this._receive(value.lines, value.dropped);
        }),
        conn.on("resync", () => this._sendFollow()), // reopened: from the last line received
        conn.on("update", (info) => {
          if (info && info.id === this.jobId && moi.isFinal(info.status)) this.finish();
        }),
        conn.on("error", (message) => {
          if (this.next === 0) this._say("The output could not be followed: " + String(message));
        }),
        conn.on("ended", () => this._say("Signed out: the output stopped here.")),
        conn.onState((state) => this._connState(state)),
      ];
      this._connState(conn.state);
      this._sendFollow();
    }

    _sendFollow() {
      if (this.conn && !this.done) this.conn.send("moi:follow", { id: this.jobId, since: this.next });
    }

    _connState(state) {
      if (this.done) return;
      this.el.setAttribute("data-moi-state", state);
      const words = {
        connecting: "Connecting…",
        connected: "Following the output as the job prints it.",
        reconnecting: "Reconnecting… the output goes on from where it stopped.",
      };
      if (words[state]) this._say(words[state]);
    }

    /** Stop following: the job has ended. The rest is read over HTTP, if the pane can. */
    finish() {
      if (this._finishing || this.done) return;
      this._finishing = true;
      this._unhook();
      if (this.pagesUrl) this._readRest();
      else this._ended();
    }

    _unhook() {
      const conn = this.conn;
      for (const off of this._offs) off();
      this._offs = [];
      this.conn = null;
      if (!conn) return;
      if (this._ownConn) conn.close();
      else if (conn.state !== "closed") conn.send("moi:unfollow", this.jobId);
    }

    /** Read the stored output from `next` to its end, a page at a time. */
    async _readRest() {
      this._say("Loading the output…");
      try {
        for (let pages = 0; pages < READ_PAGES_MAX; pages++) {
          const url = this.pagesUrl + (this.pagesUrl.includes("?") ? "&" : "?") + "since=" + this.next;
          const response = await global.fetch(url, { credentials: "same-origin", cache: "no-store" });
          if (!response.ok) throw new Error("the server answered " + response.status);
          const page = await response.json();
          const lines = Array.isArray(page.lines) ? page.lines : [];
          this._receive(lines, page.dropped);
          if (!lines.length || !(this.next < page.total)) break;
        }
        this._ended();
      } catch (err) {
        this._say("The output could not be loaded (" + err.message + "). Download may still have it.");
      }
    }

    _ended() {
      this.done = true;
      this.el.setAttribute("data-moi-state", "ended");
      this._flushSoon(() => {
        const none = this.linesEl.childElementCount === 0 && this.hidden === 0;
        this.el.classList.toggle("moi-output-empty", none);
        this._say(none ? "This job printed nothing." : "The job has ended: this is all of its output.");
      });
    }

    /** Stop following and take the pane's listeners off the socket (and close its own). */
    destroy() {
      this.done = true;
      this._unhook();
      clearTimeout(this._findTimer);
      global.removeEventListener("resize", this._onResize);
      if (this._highlight && global.CSS && CSS.highlights) CSS.highlights.delete(HIGHLIGHT);
    }

    _say(text) {
      if (this.stateEl.textContent !== text) this.stateEl.textContent = text;
    }

    /* ---- lines ---- */

    /** Lines `[n, stream, time, text]` in order of n; repeats are skipped, a gap noted. */
    _receive(lines, dropped) {
      if (!Array.isArray(lines)) return;
      for (const line of lines) {
        if (!Array.isArray(line) || !Number.isInteger(line[0]) || line[0] < this.next) continue;
        const n = line[0];
        if (n > this.next) {
          const whole = dropped && dropped.from <= this.next && dropped.to >= n;
          this._pending.push({ note: droppedText(n - this.next, whole ? dropped.bytes : NaN) });
        }
        this._pending.push([n, STREAMS.includes(line[1]) ? line[1] : "stdout", line[3]]);
        this.next = n + 1;
      }
      if (this._pending.length > 2 * this.maxLines) {
        // A tab in the background gets no frames: keep only what could be shown.
        const extra = this._pending.length - this.maxLines;
        this.hidden += extra;
        this._pending.splice(0, extra);
      }
      this._flushSoon();
    }

    _flushSoon(then) {
      if (then) (this._afterFlush || (this._afterFlush = [])).push(then);
      if (this._frame) return;
      this._frame = true;
      nextFrame(() => this._flush());
    }

    _flush() {
      this._frame = false;
      let batch = this._pending;
      this._pending = [];
      const box = this.linesEl;
      if (batch.length > this.maxLines) {
        this.hidden += batch.length - this.maxLines;
        batch = batch.slice(-this.maxLines);
      }
      if (batch.length) {
        const fragment = document.createDocumentFragment();
        const added = [];
        for (const item of batch) {
          const el = item.note !== undefined
            ? make("div", "moi-line moi-line-note", item.note)
            : make("div", "moi-line moi-line-" + item[1], clean(item[2]));
          fragment.append(el);
          added.push(el);
        }
        const over = Math.min(box.childElementCount, box.childElementCount + batch.length - this.maxLines);
        let removed = 0;
        if (over > 0) {
          // Measured only to keep a reader's place: a following pane goes to the end anyway,
          // and each measure is a layout of every line.
          const before = this.following ? 0 : box.scrollHeight;
          for (let i = 0; i < over; i++) box.firstElementChild.remove();
          removed = this.following ? 0 : before - box.scrollHeight;
          this.hidden += over;
          if (this._matches.length) this._matches = this._matches.filter((el) => el.isConnected);
        }
        box.append(fragment);
        if (this._query) this._findIn(added);
        if (this.following) this._toEnd();
        else if (removed > 0) box.scrollTop -= removed; // keep what the reader looks at in view
        this._showHidden();
      }
      const after = this._afterFlush;
      this._afterFlush = null;
      if (after) for (const fn of after) fn();
    }

    _showHidden() {
      this.hiddenNote.hidden = this.hidden === 0;
      if (this.hidden) {
        this.hiddenNote.textContent =
          NUMBER.format(this.hidden) + " earlier lines are not shown here; Download has them all.";
      }
    }

    /* ---- scrolling ---- */

    _atEnd() {
      const box = this.linesEl;
      return box.scrollHeight - box.scrollTop - box.clientHeight <= END_SLACK_PX;
    }

    _toEnd() {
      this.linesEl.scrollTop = this.linesEl.scrollHeight;
    }

    _scrolled() {
      this._setFollowing(this._atEnd());
    }

    _setFollowing(following) {
      if (following === this.following) return;
      this.following = following;
      this.jumpButton.hidden = following;
      this.el.classList.toggle("moi-output-paused", !following);
    }

    /** Show the last line and keep following the end. */
    jumpToEnd() {
      this._setFollowing(true);
      this._toEnd();
    }

    /* ---- find ---- */

    /** Mark the lines that hold `query` (any case) and go to the first; "" clears. */
    find(query) {
      clearTimeout(this._findTimer);
      this._query = String(query || "").toLowerCase();
      for (const el of this._matches) el.classList.remove("moi-match", "moi-match-current");
      this._matches = [];
      this._current = -1;
      this._ranges = [];
      if (this._query) this._findIn(this.linesEl.children);
      else this._paint();
      this._filter();
      if (this._matches.length) this.step(1);
      else this._count();
    }

    _findIn(elements) {
      const query = this._query;
      for (const el of elements) {
        const text = el.textContent.toLowerCase();
        let at = text.indexOf(query);
        if (at < 0) continue;
        el.classList.add("moi-match");
        this._matches.push(el);
        const node = el.firstChild;
        while (at >= 0 && node && this._ranges.length < MAX_HIGHLIGHTS) {
          if (at + query.length <= node.length) {
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + query.length);
            this._ranges.push(range);
          }
          at = text.indexOf(query, at + query.length);
        }
      }
      this._paint();
      this._count();
    }

    /** Paint the matches with the CSS Custom Highlight API, where there is one. */
    _paint() {
      if (!global.CSS || !CSS.highlights || typeof global.Highlight !== "function") return;
      const ranges = this._ranges.filter((range) => range.startContainer.isConnected);
      this._ranges = ranges;
      this._highlight = new global.Highlight(...ranges);
      CSS.highlights.set(HIGHLIGHT, this._highlight);
    }

    _filter() {
      this.el.classList.toggle("moi-output-filtering", this.onlyBox.checked && !!this._query);
      if (this.following) this._toEnd();
    }

    _count() {
      const total = this._matches.length;
      this.prevButton.disabled = this.nextButton.disabled = total === 0;
      let text = "";
      if (this._query) text = total === 0 ? "No matches" : (this._current + 1) + " of " + total;
      if (this._query && this.hidden) text += " (in the lines shown)";
      if (this.countEl.textContent !== text) this.countEl.textContent = text;
    }

    /** Go to the next (1) or previous (-1) match, round the ends. */
    step(direction) {
      const total = this._matches.length;
      if (!total) return;
      const old = this._matches[this._current];
      if (old) old.classList.remove("moi-match-current");
      this._current = (((this._current + direction) % total) + total) % total;
      const el = this._matches[this._current];
      el.classList.add("moi-match-current");
      const box = this.linesEl;
      box.scrollTop = el.offsetTop - box.clientHeight / 2 + el.offsetHeight / 2;
      this._setFollowing(this._atEnd());
      this._count();
    }
  }

  /** Make a pane of every `[data-moi-output]` element under `root` that is none yet. */
  OutputPane.startAll = function (root = document, options = {}) {
    const made = [];
    for (const el of root.querySelectorAll("[data-moi-output]")) {
      if (!el.moiOutputPane) made.push(new OutputPane(el, options));
    }
    return made;
  };
  OutputPane.clean = clean;
  OutputPane.droppedText = droppedText;

  moi.OutputPane = OutputPane;

  if (typeof document !== "undefined") {
    const start = () => OutputPane.startAll();
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else setTimeout(start, 0); // after the page's own scripts, which may have made them
  }
})(typeof window !== "undefined" ? window : globalThis);
