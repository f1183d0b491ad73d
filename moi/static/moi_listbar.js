/*
 * moi_listbar.js: a toolbar for a moi.JobList (load moi.js and moi_list.js first).
 *
 *   <div id="moi-listbar"></div>
 *   <ul id="moi-joblist"></ul>
 *   <script>
 *     const list = new moi.JobList(conn, {element: "#moi-joblist"});
 *     new moi.ListBar(list, {element: "#moi-listbar"});
 *   </script>
 *
 * Status filters with live counts, a search by name or ID, the sort and the times'
 * form, all kept in the page's URL (`?status=failed&q=pi&sort=duration&times=absolute`,
 * defaults left out) so a filtered list can be shared and reloaded; two bulk actions on
 * what the list shows, each confirmed in a <dialog> and sent as ONE message; the count of
 * jobs not ended in the tab's title; and, if the user asks for it, a browser notification
 * when a job ends while the tab is hidden. The bar holds no job state of its own: it asks
 * the list (its view model) and redraws on the list's "change", at most once a frame.
 * The list itself says jobs' ends aloud (aria-live), so the bar does not.
 */
(function (global) {
  "use strict";

  const moi = global.moi;
  if (!moi || !moi.JobList) throw new Error("moi_listbar.js: load moi.js and moi_list.js first");

  const FILTERS = [
    ["all", "All"],
    ["waiting", "Waiting"],
    ["running", "Running"],
    ["succeeded", "Succeeded"],
    ["failed", "Failed"],
    ["cancelled", "Cancelled"],
  ];
  const SORTS = [
    ["newest", "Newest first"],
    ["duration", "Longest first"],
  ];
  const TIMES = ["relative", "absolute"];
  const ENDED = ["succeeded", "failed", "cancelled"];
  const ACTIVE = ["waiting", "running"];
  // The URL's parameters, and each one's default (left out of the URL).
  const PARAMS = { filter: ["status", "all"], search: ["q", ""], sort: ["sort", "newest"], times: ["times", "relative"] };
  const SEARCH_DELAY_MS = 100; // typing pauses this long before the list is searched
  const SEARCH_MAX = 200; // characters of a search kept (from a long pasted or shared URL)
  // Ends heard within this long of the first make one notification, not one each.
  const NOTIFY_GATHER_MS = 1000;
  const NOTIFY_KEY = "moi-notify"; // localStorage: "on" once the user asked for them

  let bars = 0; // for the IDs of each bar's controls

  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  const oneOf = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);

  /** The bar's state from a query string; anything unknown is the default. */
  function readQuery(query) {
    const params = new URLSearchParams(query);
    return {
      filter: oneOf(params.get("status"), FILTERS.map(([name]) => name), "all"),
      search: (params.get("q") || "").slice(0, SEARCH_MAX),
      sort: oneOf(params.get("sort"), SORTS.map(([name]) => name), "newest"),
      times: oneOf(params.get("times"), TIMES, "relative"),
    };
  }

  /** `query` with the bar's parameters set to `state`, defaults left out, others kept. */
  function writeQuery(query, state) {
    const params = new URLSearchParams(query);
    for (const [key, [param, fallback]] of Object.entries(PARAMS)) {
      if (state[key] === fallback) params.delete(param);
      else params.set(param, state[key]);
    }
    const text = params.toString();
    return text ? "?" + text : "";
  }

  const SEARCH_COUNT_EVERY_MS = 250; // while a search is on, the bulk counts walk its jobs this often at most

  /**
   * Whether a bulk action takes a job: Hide takes ended jobs, Cancel the others, as the
   * list's counts have them (a job with no info yet is not known to have ended: waiting).
   */
  const ended = (info) => !!info && !info.pending && moi.isFinal(info.status);
  const active = (info) => !!info && !info.pending && !moi.isFinal(info.status);

  /** The notifications choice kept in localStorage: "on", "off", or null if none or blocked. */
  function choice() {
    try {
      return global.localStorage.getItem(NOTIFY_KEY);
    } catch (err) {
      return null; // storage blocked (a sandboxed frame, some private modes)
    }
  }

  function choose(value) {
    try {
      global.localStorage.setItem(NOTIFY_KEY, value);
    } catch (err) {
      // Not kept: it holds for this page only.
    }
  }

  class ListBar {
    /**
     * @param {moi.JobList} list the list it filters and acts on
     * @param {object} [options]
     * @param {string|Element} [options.element="#moi-listbar"] container; its children are replaced
     * @param {boolean} [options.url=true] keep the state in the page's URL (one bar per page)
     * @param {boolean} [options.title=true] count the jobs not ended in document.title
     * @param {boolean} [options.notify=true] offer browser notifications of ends
     * @param {string} [options.locale] for the counts' digits; default the browser's
     */
    constructor(list, options = {}) {
      const target = options.element || "#moi-listbar";
      this.el = typeof target === "string" ? document.querySelector(target) : target;
      if (!this.el) throw new Error("moi.ListBar: no element " + target);
      this.el.classList.add("moi-listbar");
      this.list = list;
      this._uid = "moi-listbar-" + ++bars;
      this._number = new Intl.NumberFormat(options.locale);
      this._useUrl = options.url !== false;
      this._baseTitle = options.title === false ? null : document.title;
      this._searchTimer = null;
      this._text = ""; // the search as typed (the list keeps it in lower case)
      this._found = null; // {hide, cancel, at}: the bulk counts of the search's jobs, when walked
      this._foundTimer = null;
      this._walking = false;
      this._dialog = null;
      this._asking = null; // {act, ids, opener} while the dialog asks
      this._build(options.notify !== false && typeof global.Notification === "function");
      if (this._useUrl) {
        this._apply(readQuery(global.location.search));
        this._onPop = () => this._apply(readQuery(global.location.search));
        global.addEventListener("popstate", this._onPop);
      }
      this._offs = [list.on("change", () => this.render())];
      if (this._notices) this._offs.push(list.on("ended", (info) => this._notices.heard(info)));
      this.render();
    }

    /** Stop listening, empty the element and give the page its own title back. */
    destroy() {
      for (const off of this._offs) off();
      if (this._onPop) global.removeEventListener("popstate", this._onPop);
      clearTimeout(this._searchTimer);
      clearTimeout(this._foundTimer);
      if (this._notices) this._notices.destroy();
      if (this._dialog) this._dialog.remove();
      if (this._baseTitle !== null) document.title = this._baseTitle;
      this.el.replaceChildren();
      this.el.classList.remove("moi-listbar");
    }

    _build(canNotify) {
      const uid = this._uid;
      const filters = make("div", "moi-listbar-filters");
      filters.setAttribute("role", "group");
      filters.setAttribute("aria-label", "Show jobs by status");
      this._filters = new Map();
      for (const [name, label] of FILTERS) {
        const button = make("button", "moi-listbar-filter");
        button.type = "button";
        button.setAttribute("data-filter", name);
        button.setAttribute("aria-pressed", "false");
        const count = make("span", "moi-listbar-count");
        button.append(make("span", "moi-listbar-filter-name", label), " ", count);
        button.addEventListener("click", () => this._change({ filter: name }));
        filters.append(button);
        this._filters.set(name, { button, count });
      }

      const search = make("input", "moi-listbar-search-input");
      search.type = "search";
      search.id = uid + "-search";
      search.placeholder = "Name or ID";
      search.autocomplete = "off";
      search.spellcheck = false;
      search.maxLength = SEARCH_MAX;
      search.setAttribute("aria-describedby", uid + "-shown");
      search.addEventListener("input", () => {
        clearTimeout(this._searchTimer);
        this._searchTimer = setTimeout(() => this._searchNow(), SEARCH_DELAY_MS);
      });
      search.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          this._searchNow();
        } else if (event.key === "Escape" && search.value !== "") {
          event.preventDefault(); // the field's own clearing, without waiting
          search.value = "";
          this._searchNow();
        }
      });
      this._search = search;

      const sort = make("select", "moi-listbar-sort-select");
      sort.id = uid + "-sort";
      for (const [name, label] of SORTS) sort.append(new Option(label, name));
      sort.addEventListener("change", () => this._change({ sort: sort.value }));
      this._sort = sort;

      const times = make("input", "moi-listbar-times-input");
      times.type = "checkbox";
      times.setAttribute("role", "switch");
      times.addEventListener("change", () => this._change({ times: times.checked ? "absolute" : "relative" }));
      this._times = times;
      const timesLabel = make("label", "moi-listbar-times");
      timesLabel.append(times, make("span", "moi-listbar-times-text", "Absolute times"));

      const find = make("div", "moi-listbar-find");
      find.append(
        field("moi-listbar-search", labelFor(search, "Search"), search),
        field("moi-listbar-sort", labelFor(sort, "Sort"), sort),
      );
      const view = make("div", "moi-listbar-options");
      view.append(timesLabel);
      this._notices = canNotify ? new EndNotices() : null;
      if (this._notices) view.append(this._notices.button);

      const shown = make("p", "moi-listbar-shown");
      shown.id = uid + "-shown";
      this._shown = shown;
      this._hide = actionButton("moi-listbar-hide", () => this._ask("hide"));
      this._cancel = actionButton("moi-listbar-cancel", () => this._ask("cancel"));
      const actions = make("div", "moi-listbar-actions");
      actions.append(shown, this._hide, this._cancel);
      this.el.replaceChildren(filters, find, view, actions);
    }

    /** Take `state` (from the URL) into the list and the controls. */
    _apply(state) {
      clearTimeout(this._searchTimer);
      const list = this.list;
      if (list.filter !== state.filter) list.setFilter(state.filter);
      this._text = state.search;
      this._found = null;
      if (list.search !== state.search.toLowerCase()) list.setSearch(state.search);
      if (list.sort !== state.sort) list.setSort(state.sort);
      if (list.times !== state.times) list.setTimes(state.times);
      this._search.value = state.search;
      this.render();
    }

    /** A change the user made: into the list, then the URL. */
    _change(part) {
      const list = this.list;
      if ("filter" in part) list.setFilter(part.filter);
      if ("search" in part) {
        this._text = part.search;
        list.setSearch(part.search);
      }
      this._found = null;
      if ("sort" in part) list.setSort(part.sort);
      if ("times" in part) list.setTimes(part.times);
      if (this._useUrl) {
        const state = { filter: list.filter, search: this._text, sort: list.sort, times: list.times };
        const query = writeQuery(global.location.search, state);
        if (query !== global.location.search) {
          const { pathname, hash } = global.location;
          global.history.replaceState(global.history.state, "", pathname + query + hash);
        }
      }
      this.render();
    }

    _searchNow() {
      clearTimeout(this._searchTimer);
      this._searchTimer = null;
      if (this._search.value !== this._text) this._change({ search: this._search.value });
    }

    /** Redraw from the list: counts, pressed filter, controls, bulk buttons, title. */
    render() {
      const list = this.list;
      const counts = list.counts();
      for (const [name, { button, count }] of this._filters) {
        setText(count, this._number.format(counts[name] || 0));
        const pressed = String(list.filter === name);
        if (button.getAttribute("aria-pressed") !== pressed) button.setAttribute("aria-pressed", pressed);
      }
      if (this._sort.value !== list.sort) this._sort.value = list.sort;
      this._times.checked = list.times === "absolute";
      // Searched by someone else (a script): the bar follows.
      if (list.search !== this._text.toLowerCase()) this._text = list.search;
      // Typing may be ahead of the list; otherwise the field shows what the list searches.
      if (this._searchTimer === null && document.activeElement !== this._search) this._search.value = this._text;

      const narrowed = list.filter !== "all" || list.search !== "";
      const all = this._number.format(counts.all || 0);
      const jobs = counts.all === 1 ? "job" : "jobs";
      setText(this._shown, narrowed ? `Showing ${this._number.format(list.matchCount)} of ${all}` : `${all} ${jobs}`);

      const { hide, cancel } = this._bulkCounts(counts);
      setText(this._hide, `Hide ended jobs (${this._number.format(hide)})`);
      setText(this._cancel, `Cancel ${this._number.format(cancel)} job${cancel === 1 ? "" : "s"}`);
      this._enable(this._hide, hide > 0);
      this._enable(this._cancel, cancel > 0);

      if (this._notices) this._notices.render();
      if (this._baseTitle !== null) {
        const running = ACTIVE.reduce((sum, name) => sum + (counts[name] || 0), 0);
        const title = running ? `(${this._number.format(running)}) ${this._baseTitle}` : this._baseTitle;
        if (document.title !== title) document.title = title;
      }
    }

    /** A focused button that goes off (its jobs are gone) hands the focus to the filters. */
    _enable(button, on) {
      if (button.disabled === !on) return;
      const focused = document.activeElement === button;
      button.disabled = !on;
      if (focused && !on) this._filters.get(this.list.filter).button.focus();
    }

    /**
     * How many jobs each bulk action would take: from the counts alone unless a search
     * narrows the list, so that a change costs no walk over a 100,000-job list; with a
     * search, from the jobs it finds, walked every SEARCH_COUNT_EVERY_MS at most (and
     * outside the list's "change", as matching() brings the list up to date).
     */
    _bulkCounts(counts) {
      const filter = this.list.filter;
      if (this.list.search === "") {
        const sum = (names) => names.reduce((total, name) => total + (counts[name] || 0), 0);
        const within = (names) => (filter === "all" ? sum(names) : names.includes(filter) ? counts[filter] || 0 : 0);
        return { hide: within(ENDED), cancel: within(ACTIVE) };
      }
      const found = this._found;
      if (!this._walking && this._foundTimer === null) {
        const wait = found ? SEARCH_COUNT_EVERY_MS - (Date.now() - found.at) : 0;
        this._foundTimer = setTimeout(() => this._countFound(), Math.max(0, wait));
      }
      return found || { hide: 0, cancel: 0 };
    }

    _countFound() {
      this._foundTimer = null;
      if (this.list.search === "") return;
      this._walking = true; // the walk brings the list up to date: its "change" needs no other walk
      try {
        let [hide, cancel] = [0, 0];
        for (const info of this.list.matching()) {
          if (ended(info)) hide += 1;
          else if (active(info)) cancel += 1;
        }
        this._found = { hide, cancel, at: Date.now() };
        this.render();
      } finally {
        this._walking = false;
      }
    }

    /** What the list shows now and `act` acts on: ended jobs (hide) or those not ended (cancel). */
    _targets(act) {
      const wanted = act === "hide" ? ended : active;
      return this.list.matching().filter(wanted).map((info) => info.id);
    }

    /** Ask before a bulk action, in a modal dialog that says how many jobs and which. */
    _ask(act) {
      const ids = this._targets(act);
      if (!ids.length) return;
      const opener = act === "hide" ? this._hide : this._cancel;
      const [title, text, go] = this._question(act, ids.length);
      const dialog = this._dialog || this._makeDialog();
      if (typeof dialog.showModal !== "function") {
        if (global.confirm(title + "\n\n" + text)) this._act(act, ids);
        return;
      }
      setText(dialog.querySelector(".moi-confirm-title"), title);
      setText(dialog.querySelector(".moi-confirm-text"), text);
      const goButton = dialog.querySelector(".moi-listbar-go");
      setText(goButton, go);
      goButton.classList.toggle("moi-confirm-cancel", act === "cancel");
      goButton.classList.toggle("moi-confirm-hide", act === "hide");
      this._asking = { act, ids, opener };
      dialog.returnValue = "";
      if (!dialog.open) dialog.showModal();
      dialog.querySelector(".moi-confirm-keep").focus(); // the choice that changes nothing
    }

    /**
     * The dialog's title, text and button for `act` on `count` jobs: how many, and which
     * (all of the user's, or those of the view, named by its filter and search).
     */
    _question(act, count) {
      const n = this._number.format(count);
      const jobs = count === 1 ? "job" : "jobs";
      const { filter } = this.list;
      const search = this._text;
      const view = [];
      if (filter !== "all") view.push(FILTERS.find(([name]) => name === filter)[1]);
      if (search !== "") view.push(`search “${search}”`);
      const which = act === "hide" ? "ended" : "waiting or running";
      const they = view.length
        ? `The ${count === 1 ? "" : n + " "}${which} ${jobs} this view shows (${view.join(", ")})`
        : count === 1
          ? `Your one ${which} job`
          : `All ${n} of your ${which} jobs`;
      if (act === "hide") {
        const rest = view.length ? " Jobs outside this view stay." : " Jobs waiting or running stay.";
        return [`Hide ${n} ended ${jobs}?`, `${they} will leave your list, in every tab.${rest}`, `Hide ${n} ${jobs}`];
      }
      const rest = view.length ? " Jobs outside this view go on." : "";
      return [`Cancel ${n} ${jobs}?`, `${they} will stop and end Cancelled.${rest}`, `Cancel ${n} ${jobs}`];
    }

    _makeDialog() {
      const uid = this._uid;
      const dialog = make("dialog", "moi-confirm moi-listbar-confirm");
      const form = make("form");
      form.method = "dialog";
      const title = make("h2", "moi-confirm-title");
      title.id = uid + "-confirm-title";
      const text = make("p", "moi-confirm-text");
      text.id = uid + "-confirm-text";
      const choices = make("div", "moi-confirm-choices");
      const go = make("button", "moi-listbar-go");
      go.value = "go";
      const keep = make("button", "moi-confirm-keep", "Keep");
      keep.value = "keep";
      choices.append(go, keep);
      form.append(title, text, choices);
      dialog.append(form);
      dialog.setAttribute("aria-labelledby", title.id);
      dialog.setAttribute("aria-describedby", text.id);
      // Escape closes it too ("cancel" event, returnValue ""): that keeps.
      dialog.addEventListener("close", () => {
        const asking = this._asking;
        this._asking = null;
        if (!asking) return;
        if (dialog.returnValue === "go") this._act(asking.act, asking.ids);
        // Back where the user was (once the jobs are gone and the button off, to the filters).
        const back = asking.opener.disabled ? this._filters.get(this.list.filter).button : asking.opener;
        back.focus();
      });
      document.body.append(dialog);
      return (this._dialog = dialog);
    }

    /** One message for all of `ids` still fit for `act` (some may have ended meanwhile). */
    _act(act, ids) {
      const list = this.list;
      const fit = act === "hide" ? (id) => ended(list.get(id)) : (id) => list.has(id) && !ended(list.get(id));
      const still = ids.filter(fit);
      if (!still.length) return;
      if (act === "hide") this.list.conn.remove(still);
      else this.list.conn.cancel(still);
    }
  }

  /**
   * "Notify me when jobs end", a button: it asks for the permission on the user's click
   * only; once granted and chosen (kept in localStorage), jobs that end while the tab is
   * hidden show a notification, text only; clicking it brings the tab to the front.
   */
  class EndNotices {
    constructor() {
      this.button = make("button", "moi-listbar-notify");
      this.button.type = "button";
      this.button.addEventListener("click", () => this.toggle());
      this._choice = null; // the choice made on this page, if any
      this._heard = []; // ends not shown yet
      this._timer = null;
    }

    get on() {
      return (this._choice ?? choice()) === "on" && global.Notification.permission === "granted";
    }

    render() {
      const permission = global.Notification.permission;
      const { button, on } = this;
      if (button.getAttribute("aria-pressed") !== String(on)) button.setAttribute("aria-pressed", String(on));
      button.disabled = permission === "denied";
      setText(button, permission === "denied" ? "Notifications blocked" : "Notify me when jobs end");
      const title =
        permission === "denied"
          ? "This browser blocks this site's notifications: allow them in its site settings."
          : on
            ? "On: a job that ends while this tab is hidden shows a notification. Press to stop."
            : "Show a notification when a job ends while this tab is hidden.";
      if (button.title !== title) button.title = title;
    }

    async toggle() {
      let value = "off";
      if (!this.on) {
        let permission = global.Notification.permission;
        if (permission === "default") permission = await global.Notification.requestPermission();
        if (permission === "granted") value = "on";
      }
      this._choice = value;
      choose(value);
      this.render();
    }

    /** A job ended (heard live): shown if they are on and the tab is hidden. */
    heard(info) {
      if (!document.hidden || !this.on) return;
      this._heard.push(info);
      if (this._timer === null) this._timer = setTimeout(() => this._show(), NOTIFY_GATHER_MS);
    }

    /** One notification for the ends heard since the first: its name and status, or how many. */
    _show() {
      this._timer = null;
      const heard = this._heard;
      this._heard = [];
      if (!heard.length || !this.on) return;
      let title;
      let body;
      if (heard.length === 1) {
        const info = heard[0];
        title = info.name == null || info.name === "" ? String(info.id) : String(info.name);
        body = String(info.status);
      } else {
        const counts = new Map();
        for (const info of heard) counts.set(String(info.status), (counts.get(String(info.status)) || 0) + 1);
        title = heard.length + " jobs ended";
        body = [...counts].map(([status, n]) => n + " " + status).join(", ");
      }
      try {
        // One tag: a later notice replaces an unread one instead of piling up.
        const notice = new global.Notification(title, { body, tag: "moi-jobs-ended" });
        notice.onclick = () => {
          global.focus();
          notice.close();
        };
      } catch (err) {
        console.warn("moi.ListBar: could not show a notification:", err);
      }
    }

    destroy() {
      clearTimeout(this._timer);
    }
  }

  function labelFor(control, text) {
    const label = make("label", "moi-listbar-label", text);
    label.htmlFor = control.id;
    return label;
  }

  function field(className, label, control) {
    const wrap = make("span", className);
    wrap.append(label, control);
    return wrap;
  }

  function actionButton(className, onClick) {
    const button = make("button", className);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  moi.ListBar = ListBar;
  moi.ListBar.readQuery = readQuery;
  moi.ListBar.writeQuery = writeQuery;
})(typeof window !== "undefined" ? window : globalThis);
