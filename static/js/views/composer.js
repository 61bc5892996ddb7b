// The reply box: Enter sends, Shift+Enter is a new line, a private-note toggle. Each message gets a
// client_id when first sent and keeps it until the server has it, so a double click or a retried
// POST creates one message. Typing is announced to other agents at most every 3 s. Drafts survive
// switching conversations and reloads. Files come by the paperclip, drag and drop or paste and are
// uploaded at once (the server's refusal, too large or a type not taken, shows on the file); emoji
// from a small picker; the provider's messaging window counts down in the bar and, once closed,
// the box says why public replies are blocked (private notes still go).

import * as api from "../api.js";
import { h, replace, uuid } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { store } from "../store.js";
import { CannedPicker } from "./canned.js";
import { EmojiPicker } from "./emoji.js";
import { fileItems } from "./file_list.js";

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
    // `/` in the reply box; a canned response's files join the attachments.
    this.canned = new CannedPicker(this.textarea, () => this.conv, (files) => this.addUploaded(files));
    this.noteToggle = h(
      "button",
      { type: "button", class: "btn btn-sm btn-toggle", "aria-pressed": String(draft.note), dataset: { action: "note" }, onclick: () => this.setNote(!this.draft.note) },
      icon("lock", { size: 14 }),
      t("reply.note"),
    );
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary btn-send" }, icon("send", { size: 16 }), h("span", { class: "send-label" }));
    this.error = h("p", { class: "form-error reply-error", role: "alert", hidden: true });
    // Attachments: uploaded as soon as they are picked, dropped or pasted; sent with the reply.
    this.files = []; // {key, file, name, status: "uploading"|"ready"|"error", upload, error}
    this.fileList = h("ul", { class: "composer-files", "aria-label": t("attach.list") });
    this.fileInput = h("input", { type: "file", multiple: true, hidden: true, class: "composer-file-input", onchange: (e) => { this.addFiles(e.target.files); e.target.value = ""; } });
    const attachButton = h(
      "button",
      { type: "button", class: "btn btn-sm btn-ghost btn-icon", dataset: { action: "attach" }, "aria-label": t("attach.add"), title: t("attach.add"), onclick: () => this.fileInput.click() },
      icon("paperclip", { size: 16 }),
    );
    this.emoji = new EmojiPicker((ch) => this.insert(ch));
    // The provider's window: a countdown in the bar; closed, a notice saying why replies are blocked.
    this.countdown = h("span", { class: "window-countdown", dataset: { windowCountdown: "" }, hidden: true });
    this.blocked = h("p", { class: "window-blocked", role: "status", hidden: true });
    this.windowState = { closesAt: null, refusal: null, checked: null };
    this.el = h(
      "form",
      {
        class: "composer",
        onsubmit: (e) => { e.preventDefault(); this.send(); },
        ondragover: (e) => this.dragOver(e),
        ondragleave: () => this.el.classList.remove("is-dropping"),
        ondrop: (e) => this.drop(e),
      },
      h("label", { for: `reply-${id}`, class: "sr-only" }, t("reply.label")),
      this.canned.el,
      this.blocked,
      this.textarea,
      this.fileList,
      this.error,
      h(
        "div",
        { class: "composer-bar" },
        this.noteToggle,
        attachButton,
        this.emoji.el,
        this.fileInput,
        h("div", { class: "composer-spacer" }),
        this.countdown,
        this.sendButton,
      ),
    );
    this.textarea.addEventListener("paste", (e) => this.paste(e));
    this.ticker = setInterval(() => this.renderWindow(), 15_000);
    this.setNote(draft.note);
    this.autosize();
    this.renderWindow();
  }

  destroy() {
    clearInterval(this.ticker);
    this.emoji.destroy();
  }

  setConversation(conv) {
    if (!conv) return;
    const changed = conv.window_closes_at !== this.conv?.window_closes_at;
    this.conv = conv;
    if (changed) this.windowState.checked = null;
    this.renderWindow();
  }

  // ---- the messaging window

  /** Time left in the bar; past the closing time, the server says whether a reply is refused and
   * why (some channels allow more, e.g. a message tag), once per closing time. */
  renderWindow() {
    const closes = this.conv && this.conv.window_closes_at && this.conv.status !== "resolved" ? this.conv.window_closes_at : null;
    const left = closes ? (Date.parse(closes) - Date.now()) / 1000 : null;
    this.countdown.hidden = !(left > 0);
    if (left > 0) {
      this.countdown.textContent = t("window.left", { d: fmt.duration(left) });
      this.countdown.classList.toggle("is-closing", left < 3 * 3600);
      this.countdown.title = t("window.left_title", { t: fmt.dateTime(closes) });
      this.windowState.refusal = null;
    } else if (closes && this.windowState.checked !== closes) {
      this.windowState.checked = closes;
      this.checkWindow();
    }
    if (!closes) this.windowState.refusal = null;
    this.renderBlocked();
  }

  async checkWindow() {
    const id = this.id;
    try {
      const w = await api.get(`/api/conversations/${id}/window`);
      if (id !== this.id) return;
      this.windowState.refusal = w.open ? null : w.refusal;
    } catch {
      this.windowState.checked = null; // asked again on the next tick
    }
    this.renderBlocked();
  }

  renderBlocked() {
    const refusal = this.windowState.refusal;
    const blocked = !!refusal && !this.draft.note;
    this.blocked.hidden = !refusal;
    if (refusal) {
      replace(
        this.blocked,
        h("strong", {}, t("window.blocked")),
        " ",
        fmt.errorText("window_closed", null, refusal), // the provider's detail in English, translated otherwise
        " ",
        h("span", { class: "window-blocked-hint" }, t("window.note_ok")),
      );
    }
    this.el.classList.toggle("is-blocked", blocked);
    this.textarea.disabled = blocked;
    this.sendButton.disabled = blocked || this.sending;
  }

  // ---- attachments

  dragOver(e) {
    if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    this.el.classList.add("is-dropping");
  }

  drop(e) {
    this.el.classList.remove("is-dropping");
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    this.addFiles(e.dataTransfer.files);
  }

  paste(e) {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return; // plain text pastes as usual
    e.preventDefault();
    this.addFiles(files);
  }

  addFiles(list) {
    for (const file of [...list].slice(0, 10 - this.files.length)) {
      const item = { key: uuid(), file, name: file.name || t("msg.file"), status: "uploading", upload: null, error: null };
      this.files.push(item);
      this.uploadFile(item);
    }
    this.renderFiles();
  }

  /** Files already uploaded (a canned response's): ready at once, each once. */
  addUploaded(attachments) {
    const have = new Set(this.files.map((f) => f.upload?.id));
    for (const a of attachments) {
      if (this.files.length >= 10 || have.has(a.upload_id)) continue;
      have.add(a.upload_id);
      this.files.push({ key: uuid(), file: null, name: a.name, status: "ready", upload: { id: a.upload_id, size: a.size }, error: null });
    }
    this.renderFiles();
  }

  async uploadFile(item) {
    try {
      item.upload = await api.upload(item.file);
      item.status = "ready";
    } catch (err) {
      item.status = "error";
      item.error = err.status === 0 ? t("error.network") : err.message;
    }
    this.renderFiles();
  }

  removeFile(key) {
    this.files = this.files.filter((f) => f.key !== key);
    this.renderFiles();
  }

  renderFiles() {
    replace(this.fileList, fileItems(this.files, (key) => this.removeFile(key)));
  }

  /** Insert text at the caret (an emoji), as if typed. */
  insert(text) {
    const ta = this.textarea;
    if (ta.disabled) return;
    const start = ta.selectionStart ?? ta.value.length;
    const end = ta.selectionEnd ?? start;
    ta.setRangeText(text, start, end, "end");
    ta.focus();
    this.input();
  }

  setNote(on) {
    this.draft.note = on;
    saveDraft(this.id, this.draft);
    this.noteToggle.setAttribute("aria-pressed", String(on));
    this.el.classList.toggle("is-note", on);
    this.textarea.placeholder = on ? t("reply.note_placeholder") : t("reply.placeholder");
    this.sendButton.querySelector(".send-label").textContent = on ? t("reply.add_note") : t("reply.send");
    if (this.blocked) this.renderBlocked();
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
    if (this.files.some((f) => f.status === "uploading")) return; // Enter again once they are up
    const files = this.files.filter((f) => f.status === "ready");
    if ((!text && !files.length) || this.sending) return;
    if (this.windowState.refusal && !this.draft.note) return;
    this.sending = true;
    this.sendButton.disabled = true;
    this.error.hidden = true;
    // Kept until the server has the message: a retry after a lost answer is the same message.
    this.draft.clientId ||= uuid();
    const body = { text: text || null, client_id: this.draft.clientId };
    if (files.length) body.attachments = files.map((f) => ({ upload_id: f.upload.id }));
    if (this.draft.note) body.private = true;
    const mark = store.tick;
    try {
      const msg = await api.post(`/api/conversations/${this.id}/messages`, body);
      if (msg && msg.id) store.applyMessage(msg, { created: true, fromApi: true, mark });
      this.textarea.value = "";
      this.draft.text = "";
      this.draft.clientId = null;
      saveDraft(this.id, this.draft);
      this.files = this.files.filter((f) => !files.includes(f));
      this.renderFiles();
      this.autosize();
    } catch (err) {
      // A refusal (4xx) means nothing was stored: the next try is a new message.
      if (err.status >= 400 && err.status < 500) this.draft.clientId = null;
      this.error.textContent = t("reply.failed", { e: err.status === 0 ? t("error.network") : err.message });
      this.error.hidden = false;
    } finally {
      this.sending = false;
      this.renderBlocked();
      if (!this.textarea.disabled) this.textarea.focus();
    }
  }
}
