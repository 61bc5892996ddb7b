// What the browser knows: conversations, the last message of each, the open conversation's messages,
// agents, typing. REST loads and realtime events both go through `upsert*`/`applyMessage`, which are
// idempotent (keyed by id), so a replayed or doubled event changes nothing. Views listen for
// "conversations", "messages", "agents", "typing" and "me" (batched to one per animation frame).

const OPEN_STATUSES = ["bot", "queued", "assigned"];
export const FILTERS = {
  open: OPEN_STATUSES,
  snoozed: ["snoozed"],
  resolved: ["resolved"],
};

const ts = (iso) => (iso ? Date.parse(iso) : 0);

class Store extends EventTarget {
  constructor() {
    super();
    this.reset();
  }

  reset() {
    this.me = null;
    this.agents = new Map();
    this.conversations = new Map();
    this.previews = new Map(); // conversation id -> its newest message
    this.messages = new Map(); // conversation id -> Map(message id -> message), for loaded ones
    this.typing = new Map(); // conversation id -> {name, until}
    this.openId = null;
    this.pending = new Set();
    this.frame = null;
  }

  emit(name) {
    this.pending.add(name);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      const names = [...this.pending];
      this.pending.clear();
      for (const n of names) this.dispatchEvent(new Event(n));
    });
  }

  setMe(me) {
    this.me = { ...(this.me || {}), ...me };
    this.emit("me");
  }

  get sees_all() {
    return this.me && (this.me.role === "supervisor" || this.me.role === "admin");
  }

  // ---- agents
  upsertAgent(agent) {
    const old = this.agents.get(agent.id) || {};
    this.agents.set(agent.id, { ...old, ...agent });
    if (this.me && agent.id === this.me.id && agent.status) this.setMe({ status: agent.status });
    this.emit("agents");
  }

  agentName(id) {
    const a = this.agents.get(id);
    return a ? a.name : null;
  }

  // ---- conversations
  upsertConversation(conv) {
    const old = this.conversations.get(conv.id);
    const merged = { ...(old || {}), ...conv };
    // The list row may know a newer last message than the conversation payload (events race).
    if (old && ts(old.last_message_at) > ts(conv.last_message_at)) {
      merged.last_message_at = old.last_message_at;
    }
    if (conv.last_message) {
      const known = this.previews.get(conv.id);
      if (!known || known.id <= conv.last_message.id) this.previews.set(conv.id, conv.last_message);
    }
    if (this.openId === conv.id) merged.unread_count = 0;
    this.conversations.set(conv.id, merged);
    this.emit("conversations");
    return merged;
  }

  /** Forget every conversation (before a reload after `resync`: one resolved or transferred while
   * the page was away must not linger). Messages of the open one stay until its reload lands. */
  clearConversations() {
    this.conversations.clear();
    this.previews.clear();
    for (const id of [...this.messages.keys()]) if (id !== this.openId) this.messages.delete(id);
    this.emit("conversations");
  }

  /** Conversations passing `filter(conv)`, newest activity first. */
  list(filter) {
    return [...this.conversations.values()].filter(filter).sort((a, b) => {
      const x = ts(a.last_message_at || a.created_at);
      const y = ts(b.last_message_at || b.created_at);
      return x === y ? b.id - a.id : y - x;
    });
  }

  // ---- messages
  setMessages(conversationId, items) {
    const map = new Map();
    for (const m of items) map.set(m.id, m);
    this.messages.set(conversationId, map);
    const last = items[items.length - 1];
    if (last) this.setPreview(last);
    this.emit("messages");
  }

  setPreview(msg) {
    const old = this.previews.get(msg.conversation_id);
    if (!old || old.id <= msg.id) {
      this.previews.set(msg.conversation_id, msg);
      this.emit("conversations");
    }
  }

  /** A message from the API or an event; `created` counts it as new activity (unread, ordering). */
  applyMessage(msg, { created = false } = {}) {
    const map = this.messages.get(msg.conversation_id);
    const known = map && map.has(msg.id);
    if (map) {
      map.set(msg.id, { ...(map.get(msg.id) || {}), ...msg });
      this.emit("messages");
    }
    this.setPreview(msg);
    const conv = this.conversations.get(msg.conversation_id);
    if (conv && created && !known) {
      const at = msg.created_at;
      if (ts(at) > ts(conv.last_message_at)) conv.last_message_at = at;
      if (msg.direction === "in" && this.openId !== conv.id) conv.unread_count = (conv.unread_count || 0) + 1;
      if (msg.direction === "in") this.typing.delete(conv.id);
      this.emit("conversations");
    }
  }

  messagesOf(conversationId) {
    const map = this.messages.get(conversationId);
    return map ? [...map.values()].sort((a, b) => a.id - b.id) : null;
  }

  // ---- typing
  setTyping(conversationId, name, ms = 6000) {
    this.typing.set(conversationId, { name, until: Date.now() + ms });
    this.emit("typing");
    setTimeout(() => this.emit("typing"), ms + 50);
  }

  typingIn(conversationId) {
    const t = this.typing.get(conversationId);
    return t && t.until > Date.now() ? t : null;
  }
}

export const store = new Store();
