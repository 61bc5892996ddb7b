// The realtime link: one websocket to /ws that never silently misses an event.
// It keeps the last sequence number seen and reconnects with `since` (exponential backoff with jitter),
// pings every 25 s and treats a silent link as dead, and turns a server `resync` into a "resync" event
// (the app then reloads what it shows). Events are dispatched as "event" with the frame as detail.

import * as api from "./api.js";

const PING_EVERY = 25_000;
const DEAD_AFTER = 10_000; // no frame this long after a ping: the link is dead even if TCP says not
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 15_000;
const CONNECT_TIMEOUT = 10_000;

export class Realtime extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.lastSeq = null; // the last event applied; null until the first `ready`
    this.state = "idle"; // idle | connecting | online | offline
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.deadTimer = null;
    this.stopped = true;
    this.onOnline = () => this.reconnectNow();
    this.onVisible = () => {
      if (document.visibilityState === "visible" && this.state === "offline") this.reconnectNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.retryTimer);
    this.stopTimers();
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.lastSeq = null;
    this.setState("idle");
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  reconnectNow() {
    if (this.stopped || this.state === "online" || this.state === "connecting") return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ token: api.token() || "" });
    if (this.lastSeq !== null) params.set("since", String(this.lastSeq));
    return `${scheme}://${location.host}/ws?${params}`;
  }

  connect() {
    if (this.stopped) return;
    this.setState("connecting");
    let opened = false;
    const socket = new WebSocket(this.url());
    this.socket = socket;
    // A handshake to an unreachable host can hang for minutes: give up and retry instead.
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => opened || this.drop(socket), CONNECT_TIMEOUT);
    socket.onmessage = (msg) => {
      if (socket !== this.socket) return;
      this.armDeadTimer(false);
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      opened = true;
      this.handle(frame);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      // Refused before `ready`: maybe the session ended (the server refuses the upgrade, which a
      // browser cannot tell from a network error). A 401 here sends the app back to the login.
      if (!opened) api.get("/api/auth/me").catch(() => {});
      this.drop(socket);
    };
  }

  /** Forget `socket` (closed, dead or refused) and schedule the next attempt. */
  drop(socket, { now = false } = {}) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.stopTimers();
    try {
      socket.close();
    } catch {
      /* already closed */
    }
    if (this.stopped) return;
    this.setState("offline");
    if (now) {
      clearTimeout(this.retryTimer);
      this.connect();
    } else {
      this.scheduleRetry();
    }
  }

  handle(frame) {
    if (frame.type === "ready") {
      this.attempt = 0;
      // Fresh (no `since`): nothing before this point will be replayed, so whatever the page shows
      // must be (re)loaded now; every event from here on is applied on top of that load.
      const fresh = this.lastSeq === null;
      if (fresh) this.lastSeq = frame.seq ?? 0;
      this.setState("online");
      this.startPing();
      this.dispatchEvent(new CustomEvent("ready", { detail: { frame, fresh } }));
      return;
    }
    if (frame.type === "pong") return;
    if (frame.type === "resync") {
      // What was missed is gone from the server's log: start over from "now" and reload the views.
      this.lastSeq = null; // the next `ready` is fresh: the app reloads then
      this.resyncs = (this.resyncs || 0) + 1;
      this.drop(this.socket, { now: true });
      return;
    }
    if (typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // already applied
      this.lastSeq = frame.seq;
    }
    this.dispatchEvent(new CustomEvent("event", { detail: frame }));
  }

  scheduleRetry() {
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt);
    const delay = base * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.send({ type: "ping" })) this.armDeadTimer(true);
    }, PING_EVERY);
  }

  armDeadTimer(on) {
    clearTimeout(this.deadTimer);
    if (on) {
      const socket = this.socket;
      this.deadTimer = setTimeout(() => this.drop(socket), DEAD_AFTER);
    }
  }

  stopTimers() {
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
  }
}
