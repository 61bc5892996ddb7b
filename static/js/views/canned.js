// Canned responses in the reply box: typing `/` (at the start or after a space) opens a list filtered
// by what follows; arrow keys move, Enter or Tab inserts (so `/short_code` + Tab expands), Esc closes,
// a click inserts too. A canned response's files go to the composer's attachments (`onFiles`), as if
// dropped there. Owns the picker only: the composer hands it its keys first.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { store } from "../store.js";
import { context, render } from "../template.js";

const TOKEN = /(^|\s)\/([\w.-]*)$/;
const MAX_SHOWN = 8;
let cache = null; // one load per page; the manage page invalidates it

export function invalidateCanned() {
  cache = null;
}

function loadCanned() {
  if (!cache) {
    cache = api.get("/api/canned-responses").then(
      (data) => data.items,
      () => {
        cache = null; // try again next time
        return [];
      },
    );
  }
  return cache;
}

let seq = 0;

export class CannedPicker {
  constructor(textarea, conversation, onFiles = () => {}) {
    this.textarea = textarea;
    this.conversation = conversation; // () -> the open conversation (for the variables)
    this.onFiles = onFiles; // (attachments) -> the composer attaches them
    this.items = [];
    this.shown = [];
    this.active = 0;
    this.token = null; // {start, end, query} of the `/query` before the caret
    this.dismissed = null; // the token Esc closed (reopens once it changes)
    this.id = `canned-list-${++seq}`;
    this.el = h("ul", { class: "canned-list", id: this.id, role: "listbox", "aria-label": t("canned.list"), hidden: true });
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", this.id);
    textarea.setAttribute("aria-expanded", "false");
    textarea.addEventListener("blur", () => this.close());
    loadCanned().then((items) => {
      this.items = items;
      if (this.token) this.update();
    });
  }

  get open() {
    return !this.el.hidden;
  }

  /** After each input: find the `/token` before the caret and filter. */
  update() {
    const ta = this.textarea;
    const before = ta.value.slice(0, ta.selectionStart);
    const match = TOKEN.exec(before);
    if (!match) {
      this.token = null;
      this.dismissed = null;
      return this.close();
    }
    const query = match[2].toLowerCase();
    this.token = { start: before.length - match[2].length - 1, end: before.length, query };
    if (this.dismissed === before) return this.close();
    const starts = this.items.filter((c) => c.short_code.toLowerCase().startsWith(query));
    const rest = this.items.filter((c) => !starts.includes(c) && (c.short_code.toLowerCase().includes(query) || c.body.toLowerCase().includes(query)));
    this.shown = [...starts, ...rest].slice(0, MAX_SHOWN);
    this.active = 0;
    if (!this.shown.length) return this.close();
    this.renderList();
  }

  renderList() {
    const rows = this.shown.map((c, i) =>
      h(
        "li",
        {
          id: `${this.id}-${i}`,
          role: "option",
          class: ["canned-item", i === this.active && "active"],
          "aria-selected": String(i === this.active),
          dataset: { code: c.short_code },
          // mousedown, not click: the textarea keeps its focus and caret.
          onmousedown: (e) => {
            e.preventDefault();
            this.insert(c);
          },
        },
        h("span", { class: "canned-code" }, `/${c.short_code}`),
        h("span", { class: "canned-body" }, c.body),
        c.attachments?.length
          ? h("span", { class: "canned-files", title: c.attachments.map((a) => a.name).join(", "), "aria-label": t("canned.files_count", { n: c.attachments.length }) }, icon("paperclip", { size: 12 }), String(c.attachments.length))
          : null,
      ),
    );
    replace(this.el, rows);
    this.el.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    this.textarea.setAttribute("aria-activedescendant", `${this.id}-${this.active}`);
    this.el.children[this.active]?.scrollIntoView({ block: "nearest" });
  }

  close() {
    this.el.hidden = true;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  /** The composer's keydown goes here first; true when the picker used the key. */
  keydown(e) {
    if (!this.open || e.isComposing) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const n = this.shown.length;
      this.active = (this.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.renderList();
    } else if ((e.key === "Enter" && !e.shiftKey) || (e.key === "Tab" && !e.shiftKey)) {
      this.insert(this.shown[this.active]);
    } else if (e.key === "Escape") {
      this.dismissed = this.textarea.value.slice(0, this.textarea.selectionStart);
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    e.stopPropagation();
    return true;
  }

  insert(item) {
    if (!item || !this.token) return;
    const ta = this.textarea;
    const text = render(item.body, context(this.conversation(), store.me));
    ta.value = ta.value.slice(0, this.token.start) + text + ta.value.slice(this.token.end);
    const caret = this.token.start + text.length;
    ta.setSelectionRange(caret, caret);
    this.close();
    ta.focus();
    ta.dispatchEvent(new Event("input", { bubbles: true })); // the draft and the height follow
    if (item.attachments?.length) this.onFiles(item.attachments);
  }
}
