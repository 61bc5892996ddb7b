// Search results (#/search?q=...): contacts and messages of the tenant that the agent may read,
// newest first, with "load more". A message opens its conversation scrolled to it (#/c/ID/m/MID);
// a contact opens its newest conversation. The matched text is marked (text nodes only, no HTML).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { avatar, channelIcon } from "../icons.js";

/** `text` with each case-insensitive occurrence of `q` in a <mark>. */
function marked(text, q) {
  const out = [];
  const lower = text.toLowerCase();
  const needle = q.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); needle && i !== -1; i = lower.indexOf(needle, i + needle.length)) {
    if (i > at) out.push(text.slice(at, i));
    out.push(h("mark", {}, text.slice(i, i + needle.length)));
    at = i + needle.length;
  }
  out.push(text.slice(at));
  return out;
}

export class SearchView {
  constructor(session) {
    this.session = session;
    this.q = "";
  }

  mount(container) {
    this.heading = h("h1", { id: "search-title" });
    this.contacts = h("ul", { class: "search-list", "aria-label": t("search.contacts") });
    this.messages = h("ul", { class: "search-list", "aria-label": t("search.messages") });
    this.status = h("p", { class: "search-status", role: "status", "aria-live": "polite" });
    this.more = h("div", { class: "list-footer" });
    this.el = h(
      "div",
      { class: "search-view", "aria-labelledby": "search-title" },
      this.heading,
      this.status,
      h("section", { class: "card" }, h("h2", {}, t("search.contacts")), this.contacts),
      h("section", { class: "card" }, h("h2", {}, t("search.messages")), this.messages, this.more),
    );
    replace(container, this.el);
  }

  unmount() {
    this.el.remove();
  }

  reload() {
    if (this.q) this.search(this.q, { force: true });
  }

  retryFailed() {
    if (this.failed) this.reload();
  }

  async search(q, { force = false } = {}) {
    if (q === this.q && !force) return;
    this.q = q;
    this.heading.textContent = t("search.title", { q });
    replace(this.contacts);
    replace(this.messages);
    replace(this.more);
    if (!q.trim()) return;
    await this.page(null);
  }

  async page(cursor) {
    const q = this.q;
    this.status.textContent = t("conv.loading");
    try {
      const data = await api.get(`/api/search${api.qs({ q, cursor })}`);
      if (q !== this.q) return;
      this.failed = false;
      if (!cursor) this.contacts.append(...data.contacts.map((c) => this.contactRow(c)));
      this.messages.append(...data.messages.map((m) => this.messageRow(m)));
      const none = !this.contacts.children.length && !this.messages.children.length;
      this.status.textContent = none ? t("search.none") : "";
      replace(
        this.more,
        data.next_cursor ? h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.page(data.next_cursor) }, t("list.more")) : null,
      );
    } catch (err) {
      this.failed = true;
      this.status.textContent = err.status === 0 ? t("error.network") : err.message;
    }
  }

  contactRow(c) {
    const ids = (c.identities || []).map((i) => i.external_id).join(" · ");
    return h(
      "li",
      {},
      h(
        "a",
        { class: "search-hit", href: `#/c/${c.conversation_id}`, dataset: { contactId: String(c.id) } },
        avatar(c.name || "?"),
        h("span", { class: "search-hit-body" }, h("span", { class: "search-hit-title" }, marked(c.name || "?", this.q)), h("span", { class: "search-hit-text" }, marked(ids, this.q))),
      ),
    );
  }

  messageRow(m) {
    const conv = m.conversation || {};
    return h(
      "li",
      {},
      h(
        "a",
        { class: "search-hit", href: `#/c/${m.conversation_id}/m/${m.id}`, dataset: { messageId: String(m.id) } },
        channelIcon(conv.channel?.kind, 20),
        h(
          "span",
          { class: "search-hit-body" },
          h("span", { class: "search-hit-title" }, conv.contact?.name || "?", h("time", { class: "search-hit-time", datetime: m.created_at }, fmt.when(m.created_at))),
          h("span", { class: "search-hit-text" }, marked(m.text || "", this.q)),
        ),
      ),
    );
  }
}
