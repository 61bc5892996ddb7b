// The contact's appointments in the panel (GET /api/contacts/{id}/appointments), and their lifecycle:
// schedule one (title, date and time in the browser's zone), reschedule, complete, cancel
// (PATCH /api/appointments/{id}). A cancelled one cannot change again, so cancelling asks first.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";

/** An ISO instant as a datetime-local value ("YYYY-MM-DDTHH:MM", the browser's zone). */
function localValue(iso) {
  const d = iso ? new Date(iso) : new Date(Date.now() + 86_400_000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value as an ISO instant (the browser knows its zone), or null when empty. */
function instant(value) {
  const d = value ? new Date(value) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

function reason(err) {
  return err.status === 0 ? t("contact.network") : err.message;
}

export class AppointmentsSection {
  constructor() {
    this.el = h("section", { class: "panel-section contact-appointments", "aria-labelledby": "contact-appt-title" });
    this.contactId = null;
    this.items = [];
    this.moving = null; // the appointment being rescheduled
    this.status = h("p", { class: "field-error", role: "alert" });
  }

  async load(contactId) {
    this.contactId = contactId;
    this.moving = null;
    try {
      const page = await api.get(`/api/contacts/${contactId}/appointments`);
      if (contactId !== this.contactId) return;
      this.items = page.items;
    } catch {
      return;
    }
    this.render();
  }

  async change(appt, body, focus) {
    try {
      const updated = await api.patch(`/api/appointments/${appt.id}`, body);
      this.items = this.items.map((a) => (a.id === updated.id ? updated : a));
      this.items.sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at) || a.id - b.id);
      this.moving = null;
      this.status.textContent = "";
      this.render();
      this.el.querySelector(focus || `[data-appointment-id="${updated.id}"]`)?.focus();
      return null;
    } catch (err) {
      return reason(err);
    }
  }

  async create(title, when) {
    const problem = !title ? `${t("appt.what")}?` : !instant(when) ? `${t("appt.when")}?` : null;
    if (problem) return problem;
    try {
      const created = await api.post(`/api/contacts/${this.contactId}/appointments`, { title, starts_at: instant(when) });
      this.items = [...this.items, created].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at) || a.id - b.id);
      this.render();
      this.el.querySelector(`[data-appointment-id="${created.id}"]`)?.focus();
      return null;
    } catch (err) {
      return reason(err);
    }
  }

  row(a) {
    const open = a.status === "scheduled";
    const actions = [];
    if (open && this.moving === a.id) {
      const input = h("input", { class: "input input-sm", type: "datetime-local", value: localValue(a.starts_at), "aria-label": `${t("appt.reschedule")}: ${a.title}` });
      const error = h("p", { class: "field-error", role: "alert" });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          this.moving = null;
          this.render();
        }
      });
      actions.push(
        h(
          "form",
          {
            class: "inline-edit appt-move",
            onsubmit: async (e) => {
              e.preventDefault();
              const problem = instant(input.value) ? await this.change(a, { starts_at: instant(input.value) }) : `${t("appt.when")}?`;
              if (problem) error.textContent = problem;
            },
          },
          input,
          h("button", { class: "btn btn-sm btn-primary", type: "submit" }, t("contact.save")),
          h("button", { class: "btn btn-sm btn-ghost", type: "button", onclick: () => ((this.moving = null), this.render()) }, t("contact.cancel")),
          error,
        ),
      );
      queueMicrotask(() => input.focus());
    } else if (open) {
      const button = (label, cls, onclick) => h("button", { type: "button", class: `btn btn-sm ${cls}`, onclick }, label);
      actions.push(
        h(
          "div",
          { class: "appt-actions" },
          button(t("appt.reschedule"), "btn-ghost", () => ((this.moving = a.id), this.render())),
          button(t("appt.complete"), "btn-success", async () => this.report(await this.change(a, { status: "completed" }))),
          button(t("appt.cancel"), "btn-danger-ghost", async () => {
            if (window.confirm(t("appt.cancel_confirm", { title: a.title }))) this.report(await this.change(a, { status: "cancelled" }));
          }),
        ),
      );
    }
    return h(
      "li",
      { class: ["appt", `appt-${a.status}`] },
      h(
        "div",
        { class: "appt-head", tabindex: "-1", dataset: { appointmentId: String(a.id) } },
        h("span", { class: "appt-title" }, a.title),
        h("span", { class: `pill pill-appt-${a.status}` }, t(`appt.status.${a.status}`)),
      ),
      h("time", { class: "appt-when", datetime: a.starts_at }, fmt.dateTime(a.starts_at)),
      actions,
    );
  }

  report(problem) {
    this.status.textContent = problem || "";
  }

  render() {
    const title = h("input", { class: "input input-sm", id: "appt-new-title", maxlength: 300 });
    const when = h("input", { class: "input input-sm", id: "appt-new-when", type: "datetime-local", value: localValue(null) });
    const error = h("p", { class: "field-error", role: "alert" });
    const form = h(
      "form",
      {
        class: "appt-new",
        onsubmit: async (e) => {
          e.preventDefault();
          const problem = await this.create(title.value.trim(), when.value);
          if (problem) error.textContent = problem;
        },
      },
      h("label", { class: "appt-label", for: "appt-new-title" }, t("appt.what")),
      title,
      h("label", { class: "appt-label", for: "appt-new-when" }, t("appt.when")),
      when,
      h("button", { class: "btn btn-sm btn-primary", type: "submit" }, t("appt.create")),
      error,
    );
    replace(
      this.el,
      h("h3", { id: "contact-appt-title" }, t("appt.title")),
      this.items.length ? h("ul", { class: "appointments" }, this.items.map((a) => this.row(a))) : h("p", { class: "muted-note" }, t("appt.none")),
      this.status,
      h("details", { class: "appt-new-box" }, h("summary", {}, t("appt.new")), form),
    );
  }
}
