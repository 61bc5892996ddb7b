// LGPD/GDPR in the contact panel (admins only, as the API): download everything kept about the
// contact as JSON (GET /api/contacts/{id}/export) and erase the contact (POST /api/contacts/{id}/erase
// {"confirm": true}) after an explicit confirmation step, since it cannot be undone. The server
// audits both; the panel only shows the outcome.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { store } from "../store.js";

function reason(err) {
  return err.status === 0 ? t("contact.network") : err.message;
}

/** Hands `data` to the browser as a file download named `name`. */
function download(name, data) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export class PrivacySection {
  /** `onErased(result)`: the server's answer `{contact, erased}`. */
  constructor({ onErased }) {
    this.onErased = onErased;
    this.el = h("section", { class: "panel-section contact-privacy", "aria-labelledby": "contact-privacy-title" });
    this.contact = null;
    this.confirming = false;
    this.message = "";
    this.error = "";
  }

  set(contact) {
    if (!contact || !this.contact || contact.id !== this.contact.id) {
      this.confirming = false;
      this.message = this.error = "";
    }
    this.contact = contact;
    this.render();
  }

  async exportData(button) {
    const id = this.contact.id;
    button.disabled = true;
    try {
      const name = `contact-${id}.json`;
      download(name, await api.get(`/api/contacts/${id}/export`));
      this.message = t("privacy.exported", { file: name });
      this.error = "";
    } catch (err) {
      this.error = reason(err);
    }
    this.render();
  }

  async erase() {
    try {
      const result = await api.post(`/api/contacts/${this.contact.id}/erase`, { confirm: true });
      this.confirming = false;
      this.error = "";
      this.message = t("privacy.erased", { messages: result.erased.messages });
      this.contact = result.contact;
      this.onErased(result);
    } catch (err) {
      this.error = reason(err);
    }
    this.render();
  }

  render() {
    if (!this.contact || store.me?.role !== "admin") return replace(this.el);
    const exportBtn = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "privacy-export" } }, t("privacy.export"));
    exportBtn.addEventListener("click", () => this.exportData(exportBtn));
    const eraseBtn = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost", dataset: { action: "privacy-erase" }, "aria-expanded": String(this.confirming) }, t("privacy.erase"));
    eraseBtn.addEventListener("click", () => {
      this.confirming = !this.confirming;
      this.error = "";
      this.render();
      this.el.querySelector(this.confirming ? "[data-action=privacy-erase-go]" : "[data-action=privacy-erase]")?.focus();
    });
    const confirmBox = this.confirming
      ? h(
          "div",
          { class: "merge-confirm", role: "group", "aria-labelledby": "privacy-confirm-text" },
          h("p", { id: "privacy-confirm-text" }, t("privacy.erase_confirm", { name: this.contact.name || "?" })),
          h(
            "div",
            { class: "merge-buttons" },
            h("button", { type: "button", class: "btn btn-sm btn-danger", dataset: { action: "privacy-erase-go" }, onclick: () => this.erase() }, t("privacy.erase")),
            h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => { this.confirming = false; this.render(); this.el.querySelector("[data-action=privacy-erase]")?.focus(); } }, t("contact.cancel")),
          ),
        )
      : null;
    replace(
      this.el,
      h("h3", { id: "contact-privacy-title" }, t("privacy.title")),
      h("div", { class: "merge-buttons" }, exportBtn, eraseBtn),
      confirmBox,
      this.error ? h("p", { class: "field-error", role: "alert" }, this.error) : null,
      h("p", { class: "muted-note", role: "status" }, this.message),
    );
  }
}
