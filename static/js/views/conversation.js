// The open conversation: header with actions, the messages (keyed: a status change re-renders one
// bubble, never the whole list, so players keep playing), typing, the 24-hour window warning, the reply
// box. Messages come from the store, fed by the API and by realtime events.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { store } from "../store.js";
import { ConversationHeader } from "./actions.js";
import { Composer } from "./composer.js";
import { HistoryPanel } from "./history.js";
import { renderMessage } from "./message.js";

const WINDOW_WARN_SECONDS = 3 * 3600; // warn when the 24-hour window closes within 3 hours

export class ConversationPane {
  constructor(el, { session }) {
    this.el = el;
    this.session = session;
    this.id = null;
    this.nodes = new Map(); // key -> {sig, el}
    this.onMessages = () => this.renderMessages();
    this.onConversations = () => this.renderConversation();
    this.onTyping = () => this.renderTyping();
    store.addEventListener("messages", this.onMessages);
    store.addEventListener("conversations", this.onConversations);
    store.addEventListener("agents", this.onConversations);
    store.addEventListener("typing", this.onTyping);
    this.ticker = setInterval(() => this.renderWindow(), 30_000);
    this.renderEmpty();
  }

  destroy() {
    store.removeEventListener("messages", this.onMessages);
    store.removeEventListener("conversations", this.onConversations);
    store.removeEventListener("agents", this.onConversations);
    store.removeEventListener("typing", this.onTyping);
    clearInterval(this.ticker);
    clearTimeout(this.readTimer);
    if (this.composer) this.composer.destroy();
    if (store.openId === this.id) store.openId = null;
  }

  renderEmpty() {
    replace(this.el, h("div", { class: "empty-state" }, h("div", { class: "empty-art", "aria-hidden": "true" }), h("p", {}, t("conv.pick"))));
  }

  async open(id) {
    if (id === this.id) return;
    if (this.composer) this.composer.destroy();
    this.composer = null;
    this.id = id;
    store.openId = id;
    this.nodes.clear();
    if (id === null) return this.renderEmpty();
    this.header = new ConversationHeader({ session: this.session, id });
    this.banners = h("div", { class: "conv-banners" });
    this.history = new HistoryPanel(id); // assignment history (issue 17)
    // Live announcements start after the first render (not the whole history at once).
    this.list = h("ol", { class: "messages", "aria-live": "off", "aria-relevant": "additions", tabindex: "0", "aria-label": t("conv.messages") });
    this.scroller = h("div", { class: "messages-scroll" }, this.list);
    this.typing = h("div", { class: "typing", "aria-live": "polite" });
    this.composer = new Composer({ session: this.session, id });
    replace(this.el, this.header.el, this.history.el, this.banners, this.scroller, this.typing, this.composer.el);
    this.list.append(h("li", { class: "messages-loading" }, t("conv.loading")));
    this.stickToBottom = true;
    this.renderConversation();
    await this.load();
  }

  async load() {
    const id = this.id;
    const mark = store.tick;
    store.beginMessages(id); // events arriving while the answer travels are kept
    this.loading = true;
    try {
      const [conv, page] = await Promise.all([api.get(`/api/conversations/${id}`), api.get(`/api/conversations/${id}/messages`)]);
      if (id !== this.id) return;
      store.upsertConversation({ ...conv, unread_count: 0 }, { fromApi: true, mark });
      this.loading = false;
      this.failed = false;
      store.setMessages(id, page.items, mark);
      this.markRead(conv);
    } catch (err) {
      if (id !== this.id) return;
      this.loading = false;
      this.failed = true; // loaded again once the link is back (events meanwhile are kept)
      replace(this.list, h("li", { class: "messages-loading" }, err.status === 0 ? t("error.network") : err.message));
    }
  }

  reload() {
    if (this.id !== null) this.load();
  }

  retryFailed() {
    if (this.failed) this.reload();
  }

  /** A customer message arrived in the open conversation: the agent sees it, so it is read. */
  onEvent(frame) {
    const m = frame.data;
    if (frame.type !== "message.created" || !m || m.conversation_id !== this.id || m.direction !== "in") return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      if (document.visibilityState === "visible") this.markRead({ id: m.conversation_id, unread_count: 1 });
    }, 1000);
  }

  /** The agent has seen it: the unread count goes to zero for the whole team (conversation.updated). */
  async markRead(conv) {
    if (!conv.unread_count) return;
    const mark = store.tick;
    try {
      store.upsertConversation(await api.post(`/api/conversations/${conv.id}/read`, {}), { fromApi: true, mark });
    } catch {
      /* the badge comes back on reload; nothing is lost */
    }
  }

  renderConversation() {
    if (this.id === null || !this.header) return;
    const conv = store.conversations.get(this.id);
    this.header.render(conv);
    this.history.update(conv);
    this.renderWindow();
    if (this.composer) this.composer.setConversation(conv);
  }

  renderWindow() {
    if (!this.banners) return;
    const conv = store.conversations.get(this.id);
    const out = [];
    const closes = conv && conv.window_closes_at ? Date.parse(conv.window_closes_at) : null;
    if (closes !== null && conv.status !== "resolved") {
      const left = (closes - Date.now()) / 1000;
      if (left <= 0) out.push(h("div", { class: "notice notice-danger", role: "status", dataset: { window: "closed" } }, t("window.closed", { t: fmt.relative(conv.window_closes_at) })));
      else if (left < WINDOW_WARN_SECONDS) out.push(h("div", { class: "notice notice-warn", role: "status", dataset: { window: "closing" } }, t("window.closing", { d: fmt.duration(left) })));
    }
    if (conv && conv.status === "bot") out.push(h("div", { class: "notice notice-info" }, t("conv.bot_active")));
    if (conv && conv.status === "snoozed" && conv.snoozed_until) out.push(h("div", { class: "notice notice-info" }, t("conv.snoozed_until", { t: fmt.dateTime(conv.snoozed_until) })));
    replace(this.banners, out);
  }

  renderTyping() {
    if (!this.typing) return;
    const who = store.typingIn(this.id);
    this.typing.textContent = who ? t("typing.one", { name: who.name || t("msg.agent") }) : "";
  }

  renderMessages() {
    if (this.id === null || !this.list) return;
    const messages = store.messagesOf(this.id);
    if (!messages || (this.loading && !messages.length)) return;
    const conv = store.conversations.get(this.id);
    const nearBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 120;
    const wanted = [];
    let lastDay = null;
    let prevSender = null;
    let grewByMine = false;
    for (const msg of messages) {
      const dk = fmt.dayKey(msg.created_at);
      if (dk !== lastDay) {
        wanted.push(this.node(`d:${dk}`, dk, () => h("li", { class: "day-sep" }, h("span", {}, fmt.day(msg.created_at)))));
        lastDay = dk;
        prevSender = null;
      }
      const senderKey = `${msg.sender?.type}:${msg.sender?.id}:${msg.status === "note"}`;
      const showSender = senderKey !== prevSender;
      prevSender = msg.sender?.type === "system" ? null : senderKey;
      const sig = JSON.stringify([msg, showSender, conv?.contact?.name, store.agentName(msg.sender?.id)]);
      if (!this.nodes.has(`m:${msg.id}`) && msg.direction === "out" && msg.sender?.id === store.me?.id) grewByMine = true;
      wanted.push(this.node(`m:${msg.id}`, sig, () => renderMessage(msg, conv, { showSender, onRetry: (m, b) => this.retry(m, b) })));
    }
    const keep = new Set(wanted);
    for (const child of [...this.list.children]) if (!keep.has(child)) child.remove();
    wanted.forEach((el, i) => {
      if (this.list.children[i] !== el) this.list.insertBefore(el, this.list.children[i] || null);
    });
    const focus = this.focusId && this.nodes.get(`m:${this.focusId}`);
    if (focus) {
      // Opened from a search result: that message, centred and marked, instead of the bottom.
      this.focusId = null;
      for (const el of this.list.querySelectorAll(".msg-focus")) el.classList.remove("msg-focus");
      focus.el.classList.add("msg-focus");
      focus.el.scrollIntoView({ block: "center" });
    } else if (this.stickToBottom || nearBottom || grewByMine) this.scrollToBottom();
    this.stickToBottom = false;
    this.list.setAttribute("aria-live", "polite");
  }

  node(key, sig, build) {
    const old = this.nodes.get(key);
    if (old && old.sig === sig) return old.el;
    const el = build();
    if (old) old.el.replaceWith(el);
    this.nodes.set(key, { sig, el });
    return el;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    // Images load later and grow the list: keep the bottom in view once they do.
    for (const img of this.list.querySelectorAll("img:not([data-watched])")) {
      img.dataset.watched = "1";
      img.addEventListener("load", () => {
        if (this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 400) this.scroller.scrollTop = this.scroller.scrollHeight;
      });
    }
  }

  /** Scroll to a message (a search result) once it is rendered. */
  focusMessage(messageId) {
    this.focusId = messageId;
    this.renderMessages();
  }

  async retry(msg, button) {
    button.disabled = true;
    const mark = store.tick;
    try {
      const updated = await api.post(`/api/conversations/${msg.conversation_id}/messages/${msg.id}/retry`, {});
      if (updated && updated.id) store.applyMessage(updated, { fromApi: true, mark });
    } catch (err) {
      button.disabled = false;
      button.title = err.message;
    }
  }
}
