// The reply box: Enter sends, Shift+Enter is a new line, a private-note toggle. Each message gets a
// client_id when first sent and keeps it until the server has it, so a double click or a retried
// POST creates one message. Typing is announced to other agents at most every 3 s. Drafts survive
// switching conversations and reloads.

import * as api from "../api.js";
import { h, uuid } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { store } from "../store.js";
import { CannedPicker } from "./canned.js";

const TYPING_EVERY = 3000;
const drafts = new Map(); // conversation id -> {text, note, clientId}

// Drafts also survive a reload: kept in localStorage per signed-in agent (text and note flag only),
// the newest MAX_SAVED of them.
const MAX_SAVED = 100;

function draftsKey() {
  return `inbox.drafts.${store.me?.id ?? ""}`;
}

function savedDrafts() {
  try {
    return JSON.parse(localStorage.getItem(draftsKey())) || {};
  } catch {
    return {};
  }
}

function saveDraft(id, draft) {
  try {
    const all = savedDrafts();
    if (draft.text) all[id] = { text: draft.text, note: draft.note, at: Date.now() };
    else delete all[id];
    const kept = Object.entries(all).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_SAVED);
    localStorage.setItem(draftsKey(), JSON.stringify(Object.fromEntries(kept)));
  } catch {
    /* storage full or disabled: the draft lasts as long as the page */
  }
}

export class Composer {
  constructor({ session, id }) {
    this.session = session;
    this.id = id;
    this.sending = false;
    this.lastTyping = 0;
    const saved = savedDrafts()[id];
    const draft = drafts.get(id) || { text: saved?.text || "", note: !!saved?.note, clientId: null };
    this.draft = draft;
    drafts.set(id, draft);

    this.textarea = h("textarea", {
      id: `reply-${id}`,
      class: "reply-input",
      rows: 2,
      onkeydown: (e) => this.keydown(e),
      oninput: () => this.input(),
    });
    this.textarea.value = draft.text;
    this.conv = store.conversations.get(id) || null;
    this.canned = new CannedPicker(this.textarea, () => this.conv); // `/` in the reply box
    this.noteToggle = h(
      "button",
      { type: "button", class: "btn btn-sm btn-toggle", "aria-pressed": String(draft.note), dataset: { action: "note" }, onclick: () => this.setNote(!this.draft.note) },
      icon("lock", { size: 14 }),
      t("reply.note"),
    );
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary btn-send" }, icon("send", { size: 16 }), h("span", { class: "send-label" }));
    this.error = h("p", { class: "form-error reply-error", role: "alert", hidden: true });
    this.el = h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h("label", { for: `reply-${id}`, class: "sr-only" }, t("reply.label")),
      this.canned.el,
      this.textarea,
      this.error,
      h("div", { class: "composer-bar" }, this.noteToggle, h("div", { class: "composer-spacer" }), this.sendButton),
    );
    this.setNote(draft.note);
    this.autosize();
  }

  destroy() {}

  setConversation(conv) {
    if (conv) this.conv = conv;
  }

  setNote(on) {
    this.draft.note = on;
    saveDraft(this.id, this.draft);
    this.noteToggle.setAttribute("aria-pressed", String(on));
    this.el.classList.toggle("is-note", on);
    this.textarea.placeholder = on ? t("reply.note_placeholder") : t("reply.placeholder");
    this.sendButton.querySelector(".send-label").textContent = on ? t("reply.add_note") : t("reply.send");
  }

  keydown(e) {
    if (this.canned.keydown(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      this.send();
    }
  }

  input() {
    this.draft.text = this.textarea.value;
    saveDraft(this.id, this.draft);
    this.canned.update();
    this.autosize();
    const now = Date.now();
    if (!this.draft.note && this.textarea.value && now - this.lastTyping > TYPING_EVERY) {
      this.lastTyping = now;
      this.session.rt.send({ type: "typing", conversation_id: this.id });
    }
  }

  autosize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 200)}px`;
  }

  async send() {
    const text = this.textarea.value.trim();
    if (!text || this.sending) return;
    this.sending = true;
    this.sendButton.disabled = true;
    this.error.hidden = true;
    // Kept until the server has the message: a retry after a lost answer is the same message.
    this.draft.clientId ||= uuid();
    const body = { text, client_id: this.draft.clientId };
    if (this.draft.note) body.private = true;
    const mark = store.tick;
    try {
      const msg = await api.post(`/api/conversations/${this.id}/messages`, body);
      if (msg && msg.id) store.applyMessage(msg, { created: true, fromApi: true, mark });
      this.textarea.value = "";
      this.draft.text = "";
      this.draft.clientId = null;
      saveDraft(this.id, this.draft);
      this.autosize();
    } catch (err) {
      // A refusal (4xx) means nothing was stored: the next try is a new message.
      if (err.status >= 400 && err.status < 500) this.draft.clientId = null;
      this.error.textContent = t("reply.failed", { e: err.status === 0 ? t("error.network") : err.message });
      this.error.hidden = false;
    } finally {
      this.sending = false;
      this.sendButton.disabled = false;
      this.textarea.focus();
    }
  }
}
