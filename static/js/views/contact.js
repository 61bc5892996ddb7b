// The contact panel: the lead behind the open conversation (GET /api/contacts/{id}) and the
// conversation's own facts (channel, start, first response, wait).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { avatar, channelIcon, channelLabel } from "../icons.js";
import { store } from "../store.js";

export class ContactPanel {
  constructor(el) {
    this.el = el;
    this.id = null;
    this.contact = null;
    this.sig = null;
    this.onChange = () => this.render();
    store.addEventListener("conversations", this.onChange);
    this.render();
  }

  destroy() {
    store.removeEventListener("conversations", this.onChange);
  }

  open(id) {
    this.id = id;
    this.contact = null;
    this.render();
    this.load();
  }

  reload() {
    this.load();
  }

  retryFailed() {
    if (this.failed) this.load();
  }

  async load() {
    const conv = store.conversations.get(this.id);
    const contactId = conv?.contact?.id;
    if (contactId === undefined || contactId === null) {
      // The conversation is still loading: try again once it is in the store.
      if (this.id !== null) setTimeout(() => this.id !== null && !this.contact && this.load(), 300);
      return;
    }
    try {
      const contact = await api.get(`/api/contacts/${contactId}`);
      this.failed = false;
      if (store.conversations.get(this.id)?.contact?.id === contactId) {
        this.contact = contact;
        this.render();
      }
    } catch {
      this.failed = true; // the panel shows what the conversation says until the link is back
    }
  }

  render() {
    const conv = this.id === null ? null : store.conversations.get(this.id);
    const sig = JSON.stringify([conv, this.contact]);
    if (sig === this.sig) return;
    this.sig = sig;
    if (!conv) {
      replace(this.el);
      return;
    }
    const c = this.contact || { name: conv.contact?.name, identities: [] };
    const row = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
    const details = h(
      "dl",
      { class: "facts" },
      row(t("contact.lead"), c.lead_status ? h("span", { class: "pill pill-lead" }, c.lead_status) : t("contact.none")),
      row(t("contact.since"), c.created_at ? fmt.dateTime(c.created_at) : t("contact.none")),
    );
    const ids = h(
      "ul",
      { class: "identities" },
      (c.identities || []).map((i) => h("li", {}, channelIcon(i.kind, 14), h("span", { class: "identity-kind" }, channelLabel(i.kind)), h("span", { class: "identity-id" }, i.external_id))),
    );
    const frt = conv.first_response_at ? fmt.duration((Date.parse(conv.first_response_at) - Date.parse(conv.queued_at || conv.created_at)) / 1000) : t("contact.none");
    const facts = h(
      "dl",
      { class: "facts" },
      row(t("contact.channel"), channelIcon(conv.channel?.kind, 14), " ", conv.channel?.name || ""),
      row(t("sup.status"), t(`conv.status.${conv.status}`)),
      row(t("conv.assignee"), store.agentName(conv.assignee_id) || t("conv.unassigned")),
      row(t("contact.started"), fmt.dateTime(conv.created_at)),
      row(t("contact.first_response"), frt),
    );
    replace(
      this.el,
      h("div", { class: "contact-card" }, avatar(c.name || "?", "lg"), h("h2", { class: "contact-name" }, c.name || "?")),
      h("section", { class: "panel-section" }, h("h3", {}, t("contact.title")), details, (c.identities || []).length ? [h("h4", {}, t("contact.ids")), ids] : null),
      h("section", { class: "panel-section" }, h("h3", {}, t("contact.conversation")), facts),
    );
  }
}
