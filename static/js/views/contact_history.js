// The contact's conversations on every channel (GET /api/contacts/{id}/conversations: the ones this
// agent may open), newest activity first. Each is a link that opens it (#/c/ID); the open one is marked.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { channelIcon } from "../icons.js";

export class HistorySection {
  constructor() {
    this.el = h("section", { class: "panel-section contact-history", "aria-labelledby": "contact-history-title" });
    this.contactId = null;
    this.openId = null;
    this.items = [];
    this.next = null;
  }

  /** Load the first page for `contactId` (again), marking `openId`. */
  async load(contactId, openId = this.openId) {
    this.contactId = contactId;
    this.openId = openId;
    try {
      const page = await api.get(`/api/contacts/${contactId}/conversations`);
      if (contactId !== this.contactId) return;
      this.items = page.items;
      this.next = page.next_cursor;
    } catch {
      return; // the list stays as it was; the panel's retry loads it again
    }
    this.render();
  }

  async more() {
    const contactId = this.contactId;
    try {
      const page = await api.get(`/api/contacts/${contactId}/conversations${api.qs({ cursor: this.next })}`);
      if (contactId !== this.contactId) return;
      const known = new Set(this.items.map((c) => c.id));
      this.items.push(...page.items.filter((c) => !known.has(c.id)));
      this.next = page.next_cursor;
      this.render();
    } catch {
      /* the button stays: try again */
    }
  }

  /** Whether `conv` is listed, or would be on a page not loaded yet: the panel reloads the list when
   * a conversation of the contact appears that it does not cover. */
  covers(conv) {
    if (this.items.some((c) => c.id === conv.id)) return true;
    const oldest = this.items[this.items.length - 1];
    return Boolean(this.next && oldest && Date.parse(conv.last_message_at) < Date.parse(oldest.last_message_at));
  }

  render() {
    const rows = this.items.map((c) =>
      h(
        "li",
        {},
        h(
          "a",
          { class: "history-item", href: `#/c/${c.id}`, dataset: { conversationId: String(c.id) }, "aria-current": c.id === this.openId ? "page" : null },
          channelIcon(c.channel?.kind, 16),
          h(
            "span",
            { class: "history-main" },
            h("span", { class: "history-top" }, h("span", { class: "history-channel" }, c.channel?.name || ""), h("span", { class: `pill pill-${c.status}` }, t(`conv.status.${c.status}`))),
            h("span", { class: "history-preview" }, c.last_message?.text || ""),
          ),
          h("time", { class: "history-when", datetime: c.last_message_at }, c.id === this.openId ? t("history.current") : fmt.when(c.last_message_at)),
        ),
      ),
    );
    replace(
      this.el,
      h("h3", { id: "contact-history-title" }, t("history.title")),
      rows.length ? h("ul", { class: "history" }, rows) : h("p", { class: "muted-note" }, t("history.none")),
      this.next ? h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => this.more() }, t("history.more")) : null,
    );
  }
}
