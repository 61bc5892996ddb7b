// The contact's profile in the panel, edited in place (PATCH /api/contacts/{id}): name, email, phone,
// birthday, the lead's stage in the tenant's pipeline, free attributes. A value is a button: click it
// (or Enter) to edit; Enter saves, Escape cancels. A refused value keeps its editor open with the
// server's reason. While an editor is open the section does not re-render under the agent's hands.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { locale, t } from "../i18n.js";
import { channelIcon, channelLabel } from "../icons.js";

const FIELDS = [
  ["name", "text"],
  ["email", "email"],
  ["phone", "tel"],
  ["birthday", "date"],
];

let stages = null; // the tenant's pipeline (GET /api/settings/pipeline), once per page
function pipeline() {
  if (!stages) {
    stages = api.get("/api/settings/pipeline").then(
      (r) => r.stages,
      () => {
        stages = null;
        return [];
      },
    );
  }
  return stages;
}

function birthday(value) {
  const d = new Date(`${value}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleDateString(locale(), { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
}

/** Nothing has the focus (the editor that had it is gone): moving it steals it from no one. */
function idle() {
  return !document.activeElement || document.activeElement === document.body;
}

function reason(err) {
  return err.status === 0 ? t("contact.network") : err.message;
}

export class ProfileSection {
  /** `onSaved(contact)`: the server's contact after a change. */
  constructor({ onSaved }) {
    this.onSaved = onSaved;
    this.el = h("section", { class: "panel-section contact-profile", "aria-labelledby": "contact-profile-title" });
    this.contact = null;
    this.editing = null; // "name", ..., or "attr:KEY"
    this.draft = { key: "", value: "" }; // the attribute being added
    this.queue = Promise.resolve();
    this.stages = [];
    pipeline().then((list) => {
      this.stages = list;
      if (!this.editing) this.render();
    });
  }

  set(contact) {
    if (this.contact?.id !== contact?.id) {
      this.editing = null;
      this.draft = { key: "", value: "" };
    }
    this.contact = contact;
    if (!this.editing) this.render();
  }

  /** PATCH `change`; answers an error text, or null once saved (the editor closes). Changes go one
   * at a time, in order: an answer never arrives after a later one and undoes what that one shows.
   * `change` may be a function of the contact as it is when its turn comes (attributes are sent whole). */
  save(change, focusKey) {
    const id = this.contact.id;
    const run = this.queue.then(() => this.send(id, change, focusKey));
    this.queue = run.catch(() => null);
    return run;
  }

  async send(id, change, focusKey) {
    try {
      const body = typeof change === "function" ? change(this.contact) : change;
      const c = await api.patch(`/api/contacts/${id}`, body);
      if (this.contact?.id !== id) return null;
      this.editing = null;
      this.onSaved(c);
      if (focusKey && idle()) this.el.querySelector(`[data-edit="${CSS.escape(focusKey)}"]`)?.focus();
      return null;
    } catch (err) {
      return reason(err);
    }
  }

  edit(key) {
    this.editing = key;
    this.render();
    this.el.querySelector(".inline-edit input")?.focus();
  }

  cancel(key) {
    this.editing = null;
    this.render();
    this.el.querySelector(`[data-edit="${CSS.escape(key)}"]`)?.focus();
  }

  /** A value shown as a button that opens its editor. */
  value(key, shown, label) {
    return h(
      "button",
      { type: "button", class: ["field-value", shown ? null : "is-empty"], dataset: { edit: key }, title: label, onclick: () => this.edit(key) },
      h("span", {}, shown || t("contact.add")),
      h("span", { class: "sr-only" }, ` (${label})`),
    );
  }

  /** The editor: one input, Save, Cancel, and the reason when refused. */
  editor(key, { type, value, label, send }) {
    const id = `contact-edit-${key.replace(/\W/g, "-")}`;
    const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert" });
    const input = h("input", { class: "input input-sm", id, type, value: value ?? "", "aria-label": label, "aria-describedby": `${id}-error` });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.cancel(key);
      }
    });
    const form = h(
      "form",
      {
        class: "inline-edit",
        onsubmit: async (e) => {
          e.preventDefault();
          const problem = await this.save(send(input.value.trim()), key);
          if (problem) {
            error.textContent = problem;
            input.setAttribute("aria-invalid", "true");
            input.focus();
          }
        },
      },
      input,
      h("button", { class: "btn btn-sm btn-primary", type: "submit" }, t("contact.save")),
      h("button", { class: "btn btn-sm btn-ghost", type: "button", onclick: () => this.cancel(key) }, t("contact.cancel")),
      error,
    );
    return form;
  }

  field(name, type) {
    const label = t(`contact.field.${name}`);
    const value = this.contact[name];
    const body =
      this.editing === name
        ? this.editor(name, { type, value, label, send: (v) => ({ [name]: v === "" ? null : v }) })
        : this.value(name, value ? (name === "birthday" ? birthday(value) : value) : "", t("contact.edit") + " " + label);
    return [h("dt", {}, label), h("dd", {}, body)];
  }

  lead() {
    const c = this.contact;
    const options = this.stages.includes(c.lead_status) ? this.stages : [c.lead_status, ...this.stages];
    const error = h("p", { class: "field-error", role: "alert" });
    const select = h(
      "select",
      {
        class: "select select-sm",
        id: "contact-lead-status",
        onchange: async () => {
          const problem = await this.save({ lead_status: select.value }, null);
          if (problem) error.textContent = problem;
        },
      },
      options.map((s) => h("option", { value: s, selected: s === c.lead_status }, s)),
    );
    return [h("dt", {}, h("label", { for: "contact-lead-status" }, t("contact.lead"))), h("dd", { class: "lead-field" }, select, error)];
  }

  attributes() {
    const attrs = this.contact.attributes || {};
    const keys = Object.keys(attrs).sort();
    const rows = keys.map((key) => {
      const edit = `attr:${key}`;
      const value = attrs[key] === null || attrs[key] === undefined ? "" : String(attrs[key]);
      const body =
        this.editing === edit
          ? this.editor(edit, { type: "text", value, label: t("contact.attr.edit", { key }), send: (v) => (now) => ({ attributes: { ...now.attributes, [key]: v } }) })
          : [
              this.value(edit, value, t("contact.attr.edit", { key })),
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn-sm btn-ghost btn-icon attr-remove",
                  "aria-label": t("contact.attr.remove", { key }),
                  title: t("contact.attr.remove", { key }),
                  onclick: async () => {
                    await this.save((now) => {
                      const rest = { ...now.attributes };
                      delete rest[key];
                      return { attributes: rest };
                    }, null);
                    if (idle()) this.el.querySelector(".attr-add input")?.focus();
                  },
                },
                "×",
              ),
            ];
      return h("li", { class: "attr", dataset: { key } }, h("span", { class: "attr-key" }, key), h("span", { class: "attr-value" }, body));
    });
    // What is typed here survives re-renders (another field saved meanwhile); cleared once added.
    const draft = this.draft;
    const key = h("input", { class: "input input-sm", id: "contact-attr-key", value: draft.key, placeholder: t("contact.attr.key"), "aria-label": t("contact.attr.key"), maxlength: 64, oninput: () => (draft.key = key.value) });
    const value = h("input", { class: "input input-sm", id: "contact-attr-value", value: draft.value, placeholder: t("contact.attr.value"), "aria-label": t("contact.attr.value"), oninput: () => (draft.value = value.value) });
    const error = h("p", { class: "field-error", role: "alert" });
    const add = h(
      "form",
      {
        class: "attr-add",
        onsubmit: async (e) => {
          e.preventDefault();
          const k = key.value.trim();
          if (!k) return key.focus();
          const before = { ...draft };
          this.draft = { key: "", value: "" };
          const v = value.value.trim();
          const problem = await this.save((now) => ({ attributes: { ...now.attributes, [k]: v } }), null);
          if (problem) {
            this.draft = before;
            error.textContent = problem;
          } else if (document.activeElement?.id === "contact-attr-value" || idle()) {
            document.getElementById("contact-attr-key")?.focus(); // ready for the next one
          }
        },
      },
      key,
      value,
      h("button", { class: "btn btn-sm", type: "submit" }, t("contact.attr.add")),
      error,
    );
    return [
      h("h4", {}, t("contact.attributes")),
      keys.length ? h("ul", { class: "attributes" }, rows) : h("p", { class: "muted-note" }, t("contact.attr.none")),
      add,
    ];
  }

  render() {
    const c = this.contact;
    if (!c) return replace(this.el);
    // Keyboard focus stays where it was across a re-render (an element with an id, or a value button).
    const active = this.el.contains(document.activeElement) ? document.activeElement : null;
    this.build(c);
    if (active && !this.el.contains(active)) {
      const again = active.id ? this.el.querySelector(`#${CSS.escape(active.id)}`) : active.dataset.edit ? this.el.querySelector(`[data-edit="${CSS.escape(active.dataset.edit)}"]`) : null;
      again?.focus();
    }
  }

  build(c) {
    const ids = (c.identities || []).map((i) =>
      h("li", {}, channelIcon(i.kind, 14), h("span", { class: "identity-kind" }, channelLabel(i.kind)), h("span", { class: "identity-id" }, i.external_id)),
    );
    replace(
      this.el,
      h("h3", { id: "contact-profile-title" }, t("contact.title")),
      h(
        "dl",
        { class: "facts contact-fields" },
        FIELDS.map(([name, type]) => this.field(name, type)),
        this.lead(),
        h("dt", {}, t("contact.since")),
        h("dd", {}, c.created_at ? fmt.dateTime(c.created_at) : t("contact.none")),
      ),
      c.opted_out ? h("p", { class: "muted-note" }, t("contact.opted_out")) : null,
      ids.length ? [h("h4", {}, t("contact.ids")), h("ul", { class: "identities" }, ids)] : null,
      this.attributes(),
    );
  }
}
