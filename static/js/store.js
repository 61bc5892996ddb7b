// What the browser knows: conversations, the last message of each, the open conversation's messages,
// agents, typing. REST loads and realtime events both go through `upsert*`/`applyMessage`, which are
// idempotent (keyed by id), so a replayed or doubled event changes nothing, and a slow API answer
// never overwrites what a later event said (see `tick`). Views listen for
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
    this.tick = 0; // counts changes; API answers older than a change never overwrite it
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
  /**
   * A conversation row, from the API (`fromApi`, with the store's `tick` when the request left) or
   * from an event / action answer. An API answer never overwrites what an event changed after its
   * request left (it may be older). Unread: an API row is the truth as of its newest message (list
   * rows carry `last_message`); an event row's non-zero count is kept local, because the
   * message.created events that follow count their own messages (a row written in the same
   * transaction as a message already counts it, and would count it twice).
   */
  upsertConversation(conv, { fromApi = false, mark = this.tick } = {}) {
    const old = this.conversations.get(conv.id);
    if (conv.last_message) this.setPreview(conv.last_message);
    if (fromApi && old && old.touched > mark) return old;
    const merged = { ...(old || {}), ...conv, touched: fromApi ? mark : ++this.tick };
    if (old && ts(old.last_message_at) > ts(conv.last_message_at)) merged.last_message_at = old.last_message_at;
    if (fromApi) {
      const newest = conv.last_message ? conv.last_message.id : this.previews.get(conv.id)?.id ?? 0;
      merged.counted = Math.max(old?.counted ?? 0, newest);
    } else if (old && conv.unread_count) {
      merged.unread_count = old.unread_count;
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
  /** Before loading a conversation's messages: from now on its events are kept, even mid-load. */
  beginMessages(conversationId) {
    if (!this.messages.has(conversationId)) this.messages.set(conversationId, new Map());
  }

  /** The API's messages (requested at `mark`), with whatever events brought since `mark` on top. */
  setMessages(conversationId, items, mark) {
    const old = this.messages.get(conversationId) || new Map();
    const map = new Map();
    for (const m of items) map.set(m.id, { ...m, touched: mark });
    for (const [id, m] of old) if (m.touched > mark) map.set(id, m);
    this.messages.set(conversationId, map);
    const last = items[items.length - 1];
    if (last) this.setPreview(last);
    this.emit("messages");
  }

  setPreview(msg) {
    const old = this.previews.get(msg.conversation_id);
    if (!old || old.id < msg.id || (old.id === msg.id && old !== msg)) {
      this.previews.set(msg.conversation_id, msg);
      this.emit("conversations");
    }
  }

  /**
   * A message from an event, or from an API answer (`fromApi`, with the `tick` when the request left:
   * the answer to a POST may arrive after the events that followed it, and must not undo them).
   * `created` counts it as new activity (unread, ordering).
   */
  applyMessage(msg, { created = false, fromApi = false, mark = this.tick } = {}) {
    const map = this.messages.get(msg.conversation_id);
    if (msg.merged_into != null) {
      // The provider's echo of our own reply, shown for a moment as its own row: the outbox merged
      // it into ours (it is gone on the server), so it disappears here too rather than show "deleted".
      if (map && map.delete(msg.id)) this.emit("messages");
      if (this.previews.get(msg.conversation_id)?.id === msg.id) this.previews.delete(msg.conversation_id);
      return;
    }
    const known = map && map.has(msg.id);
    if (fromApi && known && map.get(msg.id).touched > mark) return;
    if (map) {
      map.set(msg.id, { ...(map.get(msg.id) || {}), ...msg, touched: fromApi ? mark : ++this.tick });
      this.emit("messages");
    }
    this.setPreview(msg);
    const conv = this.conversations.get(msg.conversation_id);
    if (conv && created && !known && msg.id > (conv.counted ?? 0)) {
      // News, not a message the row's unread count already includes.
      conv.counted = msg.id;
      if (ts(msg.created_at) > ts(conv.last_message_at)) conv.last_message_at = msg.created_at;
      if (msg.direction === "in" && this.openId !== conv.id) conv.unread_count = (conv.unread_count || 0) + 1;
      this.emit("conversations");
    }
    // The one typing has sent: stop showing "typing…" at once.
    if (created && msg.sender?.type === "agent" && this.typing.delete(msg.conversation_id)) this.emit("typing");
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
