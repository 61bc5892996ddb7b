// The contact panel: the lead behind the open conversation (GET /api/contacts/{id}) with its profile
// (contact_profile.js), appointments (contact_appointments.js), conversations on every channel
// (contact_history.js), merge (contact_merge.js) and, for admins, export and erasure
// (contact_privacy.js); and the open conversation's own facts (channel,
// start, first response, wait). Each section renders itself; store changes re-render only the facts,
// so an editor open in a section survives the conversation's live updates. When the conversation's
// contact changes (a merge, here or by another agent) the panel loads the new one.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { avatar, channelIcon } from "../icons.js";
import { store } from "../store.js";
import { AppointmentsSection } from "./contact_appointments.js";
import { HistorySection } from "./contact_history.js";
import { MergeSection } from "./contact_merge.js";
import { PrivacySection } from "./contact_privacy.js";
import { ProfileSection } from "./contact_profile.js";

export class ContactPanel {
  constructor(el) {
    this.el = el;
    this.id = null;
    this.contact = null;
    this.sig = null;
    this.asked = new Set(); // conversation ids the history list was reloaded for
    this.card = h("div", { class: "contact-card" });
    this.facts = h("section", { class: "panel-section", "aria-labelledby": "contact-conv-title" });
    this.profile = new ProfileSection({ onSaved: (c) => this.setContact(c) });
    this.appointments = new AppointmentsSection();
    this.history = new HistorySection();
    this.merge = new MergeSection({
      onMerged: (result) => {
        this.setContact(result.contact);
        this.appointments.load(result.contact.id);
        this.history.load(result.contact.id, this.id);
      },
    });
    this.privacy = new PrivacySection({
      onErased: (result) => {
        this.setContact(result.contact);
        this.history.load(result.contact.id, this.id);
      },
    });
    this.onChange = () => this.renderConversation();
    store.addEventListener("conversations", this.onChange);
    store.addEventListener("agents", this.onChange);
    replace(this.el);
  }

  destroy() {
    store.removeEventListener("conversations", this.onChange);
    store.removeEventListener("agents", this.onChange);
    clearTimeout(this.wait);
  }

  open(id) {
    this.id = id;
    this.contact = null;
    this.sig = null;
    if (id === null) {
      replace(this.el);
      return;
    }
    replace(this.el, this.card, this.profile.el, this.appointments.el, this.history.el, this.facts, this.merge.el, this.privacy.el);
    for (const section of [this.profile, this.merge, this.privacy]) section.set(null);
    replace(this.appointments.el);
    replace(this.history.el);
    this.renderConversation();
    this.load();
  }

  reload() {
    this.load();
  }

  retryFailed() {
    if (this.failed) this.load();
  }

  async load() {
    clearTimeout(this.wait);
    const openId = this.id;
    const contactId = store.conversations.get(openId)?.contact?.id;
    if (contactId === undefined || contactId === null) {
      // The conversation is still loading: try again once it is in the store.
      if (openId !== null) this.wait = setTimeout(() => this.id === openId && !this.contact && this.load(), 300);
      return;
    }
    this.loadingId = contactId;
    try {
      const contact = await api.get(`/api/contacts/${contactId}`);
      this.failed = false;
      if (this.id !== openId || store.conversations.get(openId)?.contact?.id !== contactId) return;
      this.setContact(contact);
      this.appointments.load(contactId);
      this.history.load(contactId, openId);
    } catch {
      this.failed = true; // the panel shows what the conversation says until the link is back
    } finally {
      if (this.loadingId === contactId) this.loadingId = null;
    }
  }

  setContact(contact) {
    this.contact = contact;
    this.profile.set(contact);
    this.merge.set(contact);
    this.privacy.set(contact);
    this.renderCard();
  }

  renderCard() {
    const conv = store.conversations.get(this.id);
    const name = this.contact?.name || conv?.contact?.name || "?";
    replace(this.card, avatar(name, "lg"), h("h2", { class: "contact-name" }, name));
  }

  /** Store changes: the facts of the open conversation; a contact that changed under it is loaded. */
  renderConversation() {
    const conv = this.id === null ? null : store.conversations.get(this.id);
    if (!conv) return;
    const contactId = conv.contact?.id;
    if (this.contact && contactId !== this.contact.id && this.loadingId !== contactId) {
      this.contact = null;
      this.load();
    } else if (this.contact && this.history.contactId === contactId) {
      // A conversation of this contact the list does not show yet (a new one, or merged here); once
      // per conversation, in case the list and the store disagree for a while.
      const fresh = [...store.conversations.values()].filter((c) => c.contact?.id === contactId && !this.history.covers(c) && !this.asked.has(c.id));
      if (fresh.length && !this.historyPending) {
        for (const c of fresh) this.asked.add(c.id);
        this.historyPending = true;
        setTimeout(() => {
          this.historyPending = false;
          if (this.contact) this.history.load(this.contact.id, this.id);
        }, 300);
      }
    }
    const sig = JSON.stringify([conv, this.contact?.name, store.agentName(conv.assignee_id)]);
    if (sig === this.sig) return;
    this.sig = sig;
    this.renderCard();
    const row = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
    const frt = conv.first_response_at ? fmt.duration((Date.parse(conv.first_response_at) - Date.parse(conv.queued_at || conv.created_at)) / 1000) : t("contact.none");
    replace(
      this.facts,
      h("h3", { id: "contact-conv-title" }, t("contact.conversation")),
      h(
        "dl",
        { class: "facts" },
        row(t("contact.channel"), channelIcon(conv.channel?.kind, 14), " ", conv.channel?.name || ""),
        row(t("sup.status"), t(`conv.status.${conv.status}`)),
        row(t("conv.assignee"), store.agentName(conv.assignee_id) || t("conv.unassigned")),
        row(t("contact.started"), fmt.dateTime(conv.created_at)),
        row(t("contact.first_response"), frt),
      ),
    );
  }
}
