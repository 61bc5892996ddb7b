// Merge another contact into the panel's contact: find it (GET /api/contacts/{id}/merge-candidates:
// first the ones sharing a phone or an email, then what the agent types), confirm, merge
// (POST /api/contacts/{id}/merge). Not undoable, hence the explicit confirmation step.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { channelIcon } from "../icons.js";

function reason(err) {
  return err.status === 0 ? t("contact.network") : err.message;
}

export class MergeSection {
  /** `onMerged(result)`: the server's answer `{contact, merged}`. */
  constructor({ onMerged }) {
    this.onMerged = onMerged;
    this.el = h("section", { class: "panel-section contact-merge", "aria-labelledby": "contact-merge-title" });
    this.contact = null;
    this.reset();
  }

  reset() {
    this.open = false;
    this.query = "";
    this.found = null;
    this.picked = null;
    this.seq = 0;
    this.message = "";
    this.error = "";
  }

  set(contact) {
    const other = !this.contact || !contact || this.contact.id !== contact.id;
    this.contact = contact;
    if (other) {
      this.reset();
      this.render();
    }
  }

  async search(q) {
    const seq = ++this.seq;
    try {
      const page = await api.get(`/api/contacts/${this.contact.id}/merge-candidates${api.qs({ q })}`);
      if (seq !== this.seq) return;
      this.found = page.items;
      this.error = "";
    } catch (err) {
      if (seq !== this.seq) return;
      this.found = [];
      this.error = reason(err);
    }
    this.renderResults();
  }

  async merge() {
    const other = this.picked;
    try {
      const result = await api.post(`/api/contacts/${this.contact.id}/merge`, { other_id: other.id });
      this.reset();
      this.message = t("merge.done", { other: other.name || "?" });
      this.contact = result.contact;
      this.render();
      this.onMerged(result);
      this.el.querySelector("[data-action=merge-open]")?.focus();
    } catch (err) {
      this.error = reason(err);
      this.renderResults();
    }
  }

  toggle() {
    this.open = !this.open;
    this.picked = null;
    this.message = "";
    this.render();
    if (this.open) {
      this.el.querySelector("#merge-search")?.focus();
      this.search("");
    }
  }

  renderResults() {
    if (!this.results) return;
    if (this.picked) {
      const p = this.picked;
      replace(
        this.results,
        h(
          "div",
          { class: "merge-confirm", role: "group", "aria-labelledby": "merge-confirm-text" },
          h("p", { id: "merge-confirm-text" }, t("merge.confirm", { other: p.name || "?", name: this.contact.name || "?" })),
          h("div", { class: "merge-buttons" },
            h("button", { type: "button", class: "btn btn-sm btn-primary", dataset: { action: "merge-go" }, onclick: () => this.merge() }, t("merge.go")),
            h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => { this.picked = null; this.renderResults(); this.el.querySelector("#merge-search")?.focus(); } }, t("contact.cancel")),
          ),
          this.error ? h("p", { class: "field-error", role: "alert" }, this.error) : null,
        ),
      );
      this.results.querySelector("[data-action=merge-go]").focus();
      return;
    }
    if (this.found === null) return replace(this.results);
    const heading = this.query ? t("merge.results") : t("merge.suggested");
    const items = this.found.map((c) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "merge-candidate", dataset: { contactId: String(c.id) }, "aria-label": t("merge.pick", { name: c.name || "?" }), onclick: () => { this.picked = c; this.error = ""; this.renderResults(); } },
          h("span", { class: "merge-name" }, c.name || "?"),
          h("span", { class: "merge-ids" }, (c.identities || []).map((i) => [channelIcon(i.kind, 12), " ", i.external_id, " "]), c.email ? [c.email, " "] : null, c.phone || null),
        ),
      ),
    );
    replace(
      this.results,
      h("h4", {}, heading),
      items.length ? h("ul", { class: "merge-list" }, items) : h("p", { class: "muted-note" }, t("merge.none")),
      this.error ? h("p", { class: "field-error", role: "alert" }, this.error) : null,
    );
  }

  render() {
    if (!this.contact) return replace(this.el);
    this.results = null;
    const toggle = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "merge-open" }, "aria-expanded": String(this.open), "aria-controls": "merge-box", onclick: () => this.toggle() }, t("merge.open"));
    const done = h("p", { class: "muted-note", role: "status" }, this.message);
    if (!this.open) return replace(this.el, h("h3", { id: "contact-merge-title" }, t("merge.title")), toggle, done);
    let timer = null;
    const input = h("input", { class: "input input-sm", id: "merge-search", type: "search", placeholder: t("merge.placeholder"), value: this.query, autocomplete: "off" });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.query = input.value.trim();
        this.picked = null;
        this.search(this.query);
      }, 250);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        this.toggle();
        this.el.querySelector("[data-action=merge-open]")?.focus();
      }
    });
    this.results = h("div", { class: "merge-results", "aria-live": "polite" });
    replace(
      this.el,
      h("h3", { id: "contact-merge-title" }, t("merge.title")),
      toggle,
      h("div", { class: "merge-box", id: "merge-box" }, h("p", { class: "muted-note" }, t("merge.lead")), h("label", { class: "appt-label", for: "merge-search" }, t("merge.search")), input, this.results),
      done,
    );
    this.renderResults();
  }
}
