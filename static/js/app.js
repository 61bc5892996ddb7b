// The signed-in app: starts the realtime link, turns its events into store updates, routes between
// the inbox (#/ and #/c/ID) and the supervisor view (#/supervisor), and (re)loads on a fresh link
// (the first one, and after `resync`).

import * as api from "./api.js";
import * as i18n from "./i18n.js";
import { store } from "./store.js";
import { Realtime } from "./ws.js";
import { Keyboard } from "./keyboard.js";
import { Notifier } from "./notify.js";
import { Shell } from "./views/shell.js";
import { InboxView } from "./views/inbox.js";
import { SupervisorView } from "./views/supervisor.js";
import { ManageView } from "./views/manage.js";
import { SearchView } from "./views/search.js";
import { AdminView, adminSections } from "./views/admin.js";

const VIEWS = { inbox: InboxView, supervisor: SupervisorView, manage: ManageView, search: SearchView, admin: AdminView };
const SEES_ALL_ONLY = ["supervisor", "manage"];

let session = null;

function parseRoute() {
  const [hash, query] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = hash.split("/").filter(Boolean);
  if (parts[0] === "supervisor") return { name: "supervisor" };
  if (parts[0] === "manage") return { name: "manage" };
  if (parts[0] === "search") return { name: "search", q: new URLSearchParams(query || "").get("q") || "" };
  if (parts[0] === "admin") return { name: "admin", section: parts[1] || "setup" };
  if (parts[0] === "c" && parts[1]) {
    // #/c/ID/m/MID: a search result, the conversation opened at that message.
    const messageId = parts[2] === "m" && parts[3] ? Number(parts[3]) || null : null;
    return { name: "inbox", conversationId: Number(parts[1]) || parts[1], messageId };
  }
  return { name: "inbox", conversationId: null };
}

class Session {
  constructor(root, me, onLogout) {
    this.root = root;
    this.onLogout = onLogout;
    this.rt = new Realtime();
    this.view = null;
    this.viewName = null;
    this.fetching = new Set();
    store.reset();
    store.setMe(me);
    this.notifier = new Notifier(store); // tab title count, sound and notification (issue 15 item 9)
    this.keyboard = new Keyboard(); // shortcuts and the `?` help (issue 15 item 7)
    this.shell = new Shell(root, {
      rt: this.rt,
      logout: () => this.logout(),
      notifier: this.notifier,
    });
    this.onHash = () => this.route();
    this.onLang = () => this.rerender();
    this.rt.addEventListener("event", (e) => this.apply(e.detail));
    this.rt.addEventListener("ready", (e) => this.ready(e.detail.fresh));
  }

  async start() {
    window.addEventListener("hashchange", this.onHash);
    i18n.events.addEventListener("change", this.onLang);
    this.rt.start();
    // The views load once the link is up (so no event falls between their load and the live feed),
    // or after a moment without it (offline: show what the API has; the first `ready` reloads).
    this.startTimer = setTimeout(() => {
      this.loadAgents();
      this.route();
    }, 1500);
    // A handle for the browser tests (and for curious support engineers): read-only state.
    window.__inbox = { realtime: this.rt, store, notifier: this.notifier };
  }

  /** A fresh link (first connect, or after `resync`): load, or reload, what the page shows. */
  ready(fresh) {
    if (!fresh) {
      // A reconnect with `since`: the missed events were replayed; only loads that failed while
      // the network was gone are done again.
      if (this.view && this.view.retryFailed) this.view.retryFailed();
      return;
    }
    if (this.viewName === null) {
      clearTimeout(this.startTimer);
      this.loadAgents();
      this.route();
    } else {
      this.reload();
    }
  }

  stop() {
    clearTimeout(this.startTimer);
    window.removeEventListener("hashchange", this.onHash);
    i18n.events.removeEventListener("change", this.onLang);
    this.rt.stop();
    if (this.view) this.view.unmount();
    this.view = null;
    this.shell.destroy();
    this.keyboard.destroy();
    this.notifier.destroy();
    delete window.__inbox;
  }

  async logout() {
    await api.logout();
    this.onLogout();
  }

  async loadAgents() {
    try {
      const data = await api.get("/api/agents");
      for (const a of data.items || data) store.upsertAgent(a);
    } catch {
      /* the picker just shows fewer names */
    }
    if (store.me && !store.me.status) {
      const mine = store.agents.get(store.me.id);
      if (mine) store.setMe({ status: mine.status });
    }
  }

  route() {
    clearTimeout(this.startTimer);
    const r = parseRoute();
    const role = store.me && store.me.role;
    // Admins see every admin section; supervisors only templates and automations (adminSections).
    const sections = adminSections(role);
    const allowed = (!SEES_ALL_ONLY.includes(r.name) || store.sees_all) && (r.name !== "admin" || sections.length > 0);
    const name = allowed ? r.name : "inbox";
    if (name !== r.name) location.hash = "#/";
    if (name === "admin" && !sections.includes(r.section)) {
      r.section = sections[0];
      history.replaceState(null, "", `#/admin/${r.section}`);
    }
    if (this.viewName !== name) {
      if (this.view) this.view.unmount();
      this.view = name === "admin" ? new AdminView(this, r.section, role) : new VIEWS[name](this);
      this.viewName = name;
      this.view.mount(this.shell.main);
    }
    this.shell.setActive(name === "admin" && role !== "admin" ? "automations" : name);
    if (name === "inbox") this.view.open(r.conversationId, r.messageId);
    if (name === "search") this.view.search(r.q);
    if (name === "admin") this.view.open(r.section);
  }

  rerender() {
    this.shell.render();
    this.notifier.renderTitle();
    this.keyboard.relabel();
    if (this.view) {
      this.view.unmount();
      this.view.mount(this.shell.main);
      const r = parseRoute();
      if (this.viewName === "inbox") this.view.open(r.conversationId, r.messageId);
      if (this.viewName === "search") this.view.search(r.q, { force: true });
      if (this.viewName === "admin") this.view.open(r.section);
    }
  }

  /** After a `resync` (or a first connect after the views loaded): reload from the API. */
  reload() {
    store.clearConversations();
    this.loadAgents();
    if (this.view) this.view.reload();
  }

  apply(frame) {
    const data = frame.data || {};
    this.notifier.observe(frame);
    switch (frame.type) {
      case "message.created":
        store.applyMessage(data, { created: true });
        this.ensureConversation(data.conversation_id);
        break;
      case "message.updated":
        store.applyMessage(data);
        break;
      case "conversation.created":
      case "conversation.updated":
        store.upsertConversation(data);
        break;
      case "agent.updated":
        store.upsertAgent(data);
        break;
      case "typing": {
        const t = frame.data || frame;
        const who = t.agent_id ?? t.agent?.id;
        if (store.me && who === store.me.id) break;
        store.setTyping(t.conversation_id, t.name || t.agent?.name || store.agentName(who) || "");
        break;
      }
      default:
        break;
    }
    if (this.view && this.view.onEvent) this.view.onEvent(frame);
  }

  /** A message for a conversation this page has not loaded yet (e.g. just assigned to me). */
  async ensureConversation(id) {
    if (id === undefined || id === null || store.conversations.has(id) || this.fetching.has(id)) return;
    this.fetching.add(id);
    const mark = store.tick;
    try {
      store.upsertConversation(await api.get(`/api/conversations/${id}`), { fromApi: true, mark });
    } catch {
      /* not visible to me after all */
    } finally {
      this.fetching.delete(id);
    }
  }
}

export async function startApp(root, me, { onLogout }) {
  stopApp();
  session = new Session(root, me, onLogout);
  await session.start();
}

export function stopApp() {
  if (session) session.stop();
  session = null;
}
