/*
 * moi.js: browser client for moi's job websocket (PROTOCOL.md, "Websocket").
 *
 *   <script src="/static/moi.js"></script>
 *   const conn = new moi.Connection({path: "/moi-ws/"});
 *   conn.on("add", (ids) => ...);      // ids is always an array of strings
 *   conn.on("update", (info) => ...);  // one job's info object (a list is split, see below)
 *   conn.on("resync", () => ...);      // reopened after a drop: the next "add" is the full list
 *   conn.on("ended", () => ...);       // the session ended (close code 4401, or the probe's 401/403)
 *   conn.onState((state) => ...);      // "connecting" | "connected" | "reconnecting" | "closed"
 *   conn.remove(jobId);                // or an array of IDs
 *   conn.cancel(jobId);                // or an array of IDs; the job's "update" says Cancelled
 *
 * One Connection owns one socket. After a drop it reconnects after a random wait of up to
 * the backoff ("full jitter"), which doubles from BACKOFF_START_MS to BACKOFF_MAX_MS, so
 * the tabs a server dropped together come back spread out, and none waits long once the
 * server is back. The backoff starts over only once a socket has brought the server's
 * list (its first "add"), not on open: a server that accepts and then closes at once
 * (1011 while its Redis is down) is not asked again at once.
 *
 * A socket that never opened was refused before the upgrade, or never reached the
 * server, and the browser does not say which. So then the probe is asked (a GET of
 * option `probeUrl`, by default the socket's path + "ready": "/moi-ws/ready"; null for
 * none): 401 or 403, the session is gone, and the connection ends as on 4401; 503 or no
 * answer (also 502, 504), the server is away: the probe is asked again after each wait
 * (moi's probe also holds its answer a while, and says 200 as soon as the server is
 * back); 2xx, the socket reconnects at once, unless the last one, made at once after a
 * 2xx, was refused too: then after the wait, so that a socket refused for another reason
 * is not a loop; anything else (404: no probe there), the socket is tried after the wait.
 * A socket the server closed with 1012 or 1013 (away for a while) is followed by the
 * probe too, after the wait, rather than by a socket it would refuse.
 *
 * Messages sent while the socket is not open wait in a small queue (QUEUE_MAX) and go
 * out on the next open; beyond that, or after close(), they are dropped with a console
 * warning. A server that closes with SESSION_ENDED (4401: the user signed out) is not
 * reconnected to: the state goes "closed" and "ended" is emitted, for the page to go to
 * its sign-in. Plain ES2020, no dependencies; defines the global `moi`. An "update" that
 * carries a list of info objects (PROTOCOL.md 1.1) reaches "update" listeners as one
 * call per object.
 */
(function (global) {
  "use strict";

  const moi = global.moi || (global.moi = {});

  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 2000;
  const PROBE_TIMEOUT_MS = 8000;
  // The probe's answers for "the server is away": nothing (0), a proxy's 502/504, 503.
  const AWAY = [0, 502, 503, 504];
  // Close codes by which a server says it is away for a while (Service Restart, Try Again
  // Later; moi's hub closes 1012 when it lost Redis): ask the probe, not the socket.
  const AWAY_CODES = [1012, 1013];
  const QUEUE_MAX = 100;
  const SESSION_ENDED = 4401;
  // Fixed dispatch order for keys sharing one message: a job must be added before its
  // info can be applied. Keys not listed follow in the message's own order.
  const DISPATCH_ORDER = ["add", "update", "remove", "error"];

  const FINAL_STATUSES = ["Success", "Failed", "Cancelled"];  // Cancelled: PROTOCOL.md 1.1

  /** Whether a job with this status has ended: it never changes again (PROTOCOL.md). */
  function isFinal(status) {
    return FINAL_STATUSES.includes(status);
  }

  /** "Running 50%" -> "running-50-": a status as a class-name suffix. */
  function statusSlug(status) {
    // "u": one dash per character, as the server's status_slug makes it, emoji too.
    return String(status).toLowerCase().replace(/[^a-z0-9]/gu, "-") || "unknown";
  }

  /** Return `value` (a job ID or a list of them) as an array of strings. */
  function toIds(value) {
    const list = Array.isArray(value) ? value : value == null ? [] : [value];
    return list.filter((id) => typeof id === "string");
  }

  /** Build ws:// or wss:// for `path` on this page's host. */
  function socketUrl(path) {
    const scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    const suffix = path.startsWith("/") ? path : "/" + path;
    return scheme + "//" + global.location.host + suffix;
  }

  /** The default probe of a socket URL: http(s) for ws(s), its path + "ready"; or null. */
  function probeUrl(url) {
    try {
      const parsed = new URL(url);
      parsed.protocol = parsed.protocol === "wss:" ? "https:" : "http:";
      parsed.pathname = parsed.pathname.replace(/\/?$/, "/") + "ready";
      return parsed.href;
    } catch (err) {
      return null;
    }
  }

  class Connection {
    /**
     * @param {object} [options]
     * @param {string} [options.path="/moi-ws/"] websocket path on this page's host
     * @param {string} [options.url] full ws(s):// URL; overrides `path`
     * @param {string|null} [options.probeUrl] readiness probe (see above); default the
     *   socket's path + "ready" on the same host, null for none
     * @param {Function} [options.WebSocket] constructor to use instead of the global one (tests)
     * @param {Function} [options.fetch] fetch to use instead of the global one (tests)
     */
    constructor(options = {}) {
      this.url = options.url || socketUrl(options.path || "/moi-ws/");
      this.probeUrl = options.probeUrl === undefined ? probeUrl(this.url) : options.probeUrl;
      this._WebSocket = options.WebSocket || global.WebSocket;
      this._fetch = options.fetch || (global.fetch && global.fetch.bind(global));
      this._handlers = new Map(); // action -> Set of callbacks
      this._stateHandlers = new Set();
      this._queue = [];
      this._delay = BACKOFF_START_MS;
      this._opened = false; // has any socket of ours ever opened?
      this._closed = false;
      this._timer = null;
      this._next = null; // what the timer will do
      this._probing = null; // the probe on its way, if any
      this._trusted = false; // was this socket made at once, because the probe said 2xx?
      this._distrust = false; // was such a socket refused, since the last one that opened?
      this._ws = null;
      this.state = "connecting";
      // Coming back online is a better hint than the backoff timer.
      this._onOnline = () => {
        if (this._timer !== null) {
          clearTimeout(this._timer);
          this._timer = null;
          this._next();
        }
      };
      if (global.addEventListener) global.addEventListener("online", this._onOnline);
      this._connect();
    }

    /**
     * Call `callback(value)` for each server action `action` ("add", "remove",
     * "update", "error") and for the client event "resync".
     * @returns {Function} call it to unregister
     */
    on(action, callback) {
      if (!this._handlers.has(action)) this._handlers.set(action, new Set());
      this._handlers.get(action).add(callback);
      return () => this.off(action, callback);
    }

    off(action, callback) {
      const set = this._handlers.get(action);
      if (set) set.delete(callback);
    }

    /**
     * Call `callback(state)` whenever `conn.state` changes.
     * @returns {Function} call it to unregister
     */
    onState(callback) {
      this._stateHandlers.add(callback);
      return () => this._stateHandlers.delete(callback);
    }

    /**
     * Send `{action: value}` now, or queue it until the socket opens.
     * @returns {boolean} false if the message was dropped
     */
    send(action, value = null) {
      const data = JSON.stringify({ [action]: value });
      if (this._ws && this._ws.readyState === 1) {
        this._ws.send(data);
        return true;
      }
      if (this._closed) {
        console.warn("moi: connection closed, dropped message:", action);
        return false;
      }
      if (this._queue.length >= QUEUE_MAX) {
        console.warn("moi: send queue full, dropped message:", action);
        return false;
      }
      this._queue.push(data);
      return true;
    }

    /** Ask the server to take job `ids` (an ID or an array of IDs) out of the group. */
    remove(ids) {
      return this._sendIds("remove", ids);
    }

    /**
     * Ask the server to stop job `ids` (an ID or an array of IDs). There is no direct
     * reply on success: the job's "update" with status Cancelled follows. A job that has
     * ended, or is not the group's, gets an "error" instead.
     */
    cancel(ids) {
      return this._sendIds("cancel", ids);
    }

    /** Send `{action: ids}`: one ID as a string, an array as an array; nothing if empty. */
    _sendIds(action, ids) {
      const list = toIds(ids);
      if (!list.length) return false;
      return this.send(action, Array.isArray(ids) ? list : list[0]);
    }

    /**
     * Ask for the whole list again. Not queued: every open sends the list anyway.
     * Unlike a reconnect this emits no "resync", so nothing is pruned.
     */
    get() {
      if (!this._ws || this._ws.readyState !== 1) return false;
      return this.send("get", null);
    }

    /** Close the socket for good: no reconnect, queued messages are dropped. */
    close() {
      this._stop();
      const ws = this._ws;
      this._ws = null;
      if (ws) ws.close(1000);
      this._setState("closed");
    }

    /** No more sockets, probes or timers. */
    _stop() {
      this._closed = true;
      this._queue = [];
      this._probing = null;
      if (this._timer !== null) clearTimeout(this._timer);
      this._timer = null;
      if (global.removeEventListener) global.removeEventListener("online", this._onOnline);
    }

    /** The session is over (4401, or the probe said so): no reconnect, "ended". */
    _end() {
      this._stop();
      this._setState("closed");
      this._emit("ended", null);
    }

    _connect(trusted = false) {
      this._timer = null;
      if (this._closed) return;
      this._trusted = trusted;
      const ws = new this._WebSocket(this.url);
      this._ws = ws;
      let opened = false;
      // Events of a socket we have already replaced are ignored.
      ws.onopen = () => {
        if (ws !== this._ws) return;
        opened = true;
        this._handleOpen();
      };
      ws.onmessage = (event) => ws === this._ws && this._handleMessage(event.data);
      ws.onclose = (event) => ws === this._ws && this._handleClose(event.code, opened);
      // "error" is always followed by "close", which does the work.
      ws.onerror = () => {};
    }

    /**
     * Do `next` after a random wait of up to the backoff (full jitter: the tabs that one
     * outage dropped come back spread over the whole interval), and double the backoff.
     */
    _later(next) {
      const wait = Math.random() * this._delay;
      this._delay = Math.min(BACKOFF_MAX_MS, this._delay * 2);
      this._next = next;
      this._timer = setTimeout(() => {
        this._timer = null;
        next();
      }, wait);
    }

    /** Ask the probe why the socket could not open (see the top of this file). */
    _probe() {
      if (this._closed) return;
      const token = {};
      this._probing = token;
      const Abort = global.AbortSignal;
      const signal = Abort && Abort.timeout ? Abort.timeout(PROBE_TIMEOUT_MS) : undefined;
      let asked;
      try {
        asked = Promise.resolve(this._fetch(this.probeUrl, { credentials: "same-origin", cache: "no-store", signal }));
      } catch (err) {
        asked = Promise.reject(err);
      }
      asked
        .then((response) => response.status, () => 0)
        .then((status) => {
          if (this._probing !== token) return; // closed meanwhile
          this._probing = null;
          this._probed(status);
        });
    }

    _probed(status) {
      if (status === 401 || status === 403) {
        this._end();
      } else if (AWAY.includes(status)) {
        this._later(() => this._probe());
      } else if (status >= 200 && status < 300 && !this._distrust) {
        this._connect(true); // back: at once, which is what the probe is for
      } else {
        this._later(() => this._connect()); // (see the top of this file)
      }
    }

    _handleOpen() {
      const reopened = this._opened;
      this._opened = true;
      // The queue first: what listeners send below must not overtake older messages.
      const queued = this._queue;
      this._queue = [];
      for (const data of queued) this._ws.send(data);
      this._setState("connected");
      // Before the server's first message on this socket (its full "add"), so that
      // listeners can mark what they hold as stale.
      if (reopened) this._emit("resync", null);
    }

    _handleClose(code, opened) {
      this._ws = null;
      if (this._closed) return;
      this._distrust = !opened && (this._trusted || this._distrust);
      if (code === SESSION_ENDED) {
        this._end();
        return;
      }
      this._setState("reconnecting");
      const probe = this.probeUrl && this._fetch;
      // Refused before the upgrade, or the server is not there: the probe tells which.
      if (probe && !opened) this._probe();
      else if (probe && AWAY_CODES.includes(code)) this._later(() => this._probe());
      else this._later(() => this._connect());
    }

    _handleMessage(data) {
      if (typeof data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (err) {
        console.warn("moi: ignored a message that is not JSON");
        return;
      }
      if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
        console.warn("moi: ignored a message that is not a JSON object");
        return;
      }
      const keys = Object.keys(msg);
      // The server's list shows that it works, which an open alone does not (see above).
      if (keys.includes("add")) this._delay = BACKOFF_START_MS;
      const ordered =
        keys.length < 2
          ? keys
          : DISPATCH_ORDER.filter((k) => keys.includes(k)).concat(keys.filter((k) => !DISPATCH_ORDER.includes(k)));
      for (const action of ordered) {
        const value = action === "add" || action === "remove" ? toIds(msg[action]) : msg[action];
        if (action === "error" && !this._handlers.get("error")?.size) {
          console.warn("moi: server refused a message:", value);
        }
        // Since 1.1 one "update" may carry many jobs; listeners still get one each.
        if (action === "update" && Array.isArray(value)) for (const info of value) this._emit(action, info);
        else this._emit(action, value);
      }
    }

    _emit(action, value) {
      const set = this._handlers.get(action);
      if (!set) return;
      // A throwing listener must not keep the others from hearing the message.
      for (const callback of [...set]) {
        try {
          callback(value);
        } catch (err) {
          console.error("moi: error in", action, "listener:", err);
        }
      }
    }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      for (const callback of [...this._stateHandlers]) {
        try {
          callback(state);
        } catch (err) {
          console.error("moi: error in state listener:", err);
        }
      }
    }
  }

  moi.Connection = Connection;
  moi.toIds = toIds;
  moi.isFinal = isFinal;
  moi.statusSlug = statusSlug;
})(typeof window !== "undefined" ? window : globalThis);
