// Message templates (#/admin/templates, supervisors and admins): the list, an editor whose body takes
// {{variables}} from a menu, the optional network and approved WhatsApp template, and a preview
// rendered by the server for a real contact (and appointment). The server is the only judge of a
// template: its 422 (an unknown variable) is shown under the text, its 409 (used by an automation)
// under the list.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { locale, t } from "../i18n.js";
import { busy, card, errorLine, field } from "./admin_ui.js";

const KINDS = ["whatsapp", "instagram", "messenger", "telegram"];
const KIND_NAMES = { whatsapp: "WhatsApp", instagram: "Instagram", messenger: "Messenger", telegram: "Telegram" };

export async function templatesSection(view) {
  const errors = errorLine();
  const list = h("div", {});
  const editorBox = h("div", { class: "sup-col" });
  // What the menu offers, with what each means: the server's own list (GET /api/templates/variables),
  // the only one there is; it rejects anything else.
  let variables = [];
  const load = async () => {
    try {
      const items = (await api.get("/api/templates")).items || [];
      replace(list, templatesTable(items, { edit, remove }));
    } catch (err) {
      errors.show(err);
    }
  };
  const edit = (tpl, justSaved = false) => replace(editorBox, editorCard(tpl, { variables, saved, fresh: () => edit(null), justSaved }), previewCard(tpl));
  const saved = async (tpl) => {
    await load();
    edit(tpl, true);
  };
  const remove = (tpl, button) => {
    if (!confirm(t("adm.confirm_delete", { name: tpl.name }))) return;
    busy(button, errors, async () => {
      await api.del(`/api/templates/${tpl.id}`); // 409: the automations using it, in the error line
      await load();
      edit(null);
    });
  };
  const newBtn = h("button", { type: "button", class: "btn btn-sm", id: "tpl-new", onclick: () => edit(null) }, t("tpl.new"));
  replace(view.body, h("div", { class: "sup-grid" }, h("div", { class: "sup-col" }, card(t("tpl.list"), h("div", { class: "adm-actions" }, newBtn), errors, list)), editorBox));
  try {
    variables = (await api.get("/api/templates/variables")).items || [];
  } catch (err) {
    errors.show(err);
  }
  edit(null);
  await load();
}

function templatesTable(items, { edit, remove }) {
  const rows = items.map((tpl) => {
    const editBtn = h("button", { type: "button", class: "btn btn-sm", onclick: () => edit(tpl) }, t("adm.edit"));
    const delBtn = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost" }, t("adm.delete"));
    delBtn.addEventListener("click", () => remove(tpl, delBtn));
    const approved = tpl.provider_template ? `${tpl.provider_template.name} · ${tpl.provider_template.language}` : "";
    return h(
      "tr",
      { dataset: { template: String(tpl.id) } },
      h("th", { scope: "row" }, tpl.name, tpl.channel_kind ? h("div", { class: "muted" }, KIND_NAMES[tpl.channel_kind] || tpl.channel_kind) : null),
      h("td", { class: "tpl-body" }, tpl.body, approved ? h("div", { class: "muted adm-code" }, approved) : null),
      h("td", { class: "adm-row-actions" }, editBtn, delBtn),
    );
  });
  return h(
    "table",
    { class: "table", id: "templates-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("tpl.name")), h("th", { scope: "col" }, t("tpl.body")), h("th", { scope: "col" }))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "3", class: "muted" }, t("adm.none")))),
  );
}

/** Insert `{{variable}}` at the caret; for an attribute, select KEY so typing replaces it. */
function insertVariable(textarea, variable) {
  const text = `{{${variable}}}`;
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  textarea.setRangeText(text, start, end, "end");
  const key = variable.endsWith(".KEY") ? text.indexOf("KEY") : -1;
  if (key >= 0) textarea.setSelectionRange(start + key, start + key + 3);
  textarea.focus();
  textarea.dispatchEvent(new Event("input"));
}

function editorCard(tpl, { variables, saved, fresh, justSaved }) {
  const name = field(t("tpl.name"), { name: "tpl-name", required: true, maxlength: "200", value: tpl?.name || "" });
  const body = field(t("tpl.body"), { type: "textarea", name: "tpl-body", id: "tpl-body", rows: "6", required: true, maxlength: "4096", value: tpl?.body || "", "aria-describedby": "tpl-body-error" });
  const bodyError = h("p", { class: "form-error", id: "tpl-body-error", role: "alert", hidden: true });
  const menu = h("select", { class: "select select-sm", id: "tpl-insert", "aria-label": t("tpl.insert") }, h("option", { value: "" }, t("tpl.insert_pick")));
  const lang = locale();
  for (const v of variables) menu.append(h("option", { value: v.name }, `${v.description[lang] || v.description.en || v.name} · {{${v.name}}}`));
  menu.addEventListener("change", () => {
    if (menu.value) insertVariable(body.input, menu.value);
    menu.value = "";
  });
  body.input.addEventListener("input", () => (bodyError.hidden = true)); // the server's verdict was on the old text
  const kind = field(t("tpl.kind"), { type: "select", name: "tpl-kind", options: [["", t("tpl.kind_any")], ...KINDS.map((k) => [k, KIND_NAMES[k]])], value: tpl?.channel_kind || "" });
  const pName = field(t("tpl.provider_name"), { name: "tpl-provider-name", autocomplete: "off", placeholder: "lembrete_consulta", value: tpl?.provider_template?.name || "" });
  const pLang = field(t("tpl.provider_language"), { name: "tpl-provider-language", autocomplete: "off", placeholder: "pt_BR", value: tpl?.provider_template?.language || "" });
  const errors = errorLine();
  const status = h("span", { class: "muted", role: "status" }, justSaved ? t("tpl.saved") : "");
  const save = h("button", { type: "submit", class: "btn btn-primary", id: "tpl-save" }, t("tpl.save"));
  const cancel = h("button", { type: "button", class: "btn", onclick: fresh, hidden: !tpl }, t("adm.cancel"));
  const form = h(
    "form",
    {
      class: "adm-form",
      id: "tpl-form",
      onsubmit: (e) => {
        e.preventDefault();
        const provider = { name: pName.input.value.trim(), language: pLang.input.value.trim() };
        if (!provider.name !== !provider.language) return errors.show(new Error(t("tpl.provider_half")));
        const payload = { name: name.input.value, body: body.input.value, channel_kind: kind.input.value || null, provider_template: provider.name ? provider : null };
        busy(save, errors, async () => {
          let done;
          try {
            done = tpl ? await api.put(`/api/templates/${tpl.id}`, payload) : await api.post("/api/templates", payload);
          } catch (err) {
            if (err.status !== 422) throw err;
            bodyError.hidden = false; // an unknown variable or an empty text: said next to the text
            replace(bodyError, err.message);
            return;
          }
          await saved(done);
        });
      },
    },
    name,
    body,
    h("div", { class: "adm-actions" }, menu),
    bodyError,
    kind,
    h("fieldset", { class: "adm-fieldset" }, h("legend", {}, t("tpl.provider")), h("p", { class: "muted-note" }, t("tpl.provider_help")), h("div", { class: "adm-inline adm-form" }, pName, pLang)),
    h("div", { class: "adm-actions" }, save, cancel, status),
    errors,
  );
  return card(tpl ? t("tpl.editing", { name: tpl.name }) : t("tpl.new"), form);
}

// --- Preview: a contact found by search, its appointments when the text needs one -------------

function previewCard(tpl) {
  if (!tpl) return card(t("tpl.preview"), h("p", { class: "muted" }, t("tpl.preview_help")));
  const errors = errorLine();
  const q = field(t("tpl.preview_search"), { type: "search", name: "tpl-preview-q", id: "tpl-preview-q", placeholder: t("tpl.preview_placeholder"), autocomplete: "off" });
  const found = h("ul", { class: "tpl-contacts", id: "tpl-contacts" });
  const picked = h("div", { class: "tpl-picked" });
  const out = h("p", { class: "tpl-preview", id: "tpl-preview", "aria-live": "polite", hidden: true });
  const find = h("button", { type: "submit", class: "btn btn-sm" }, t("tpl.preview_find"));
  const needsAppointment = (tpl.variables || []).some((v) => v.startsWith("appointment."));
  const render = (contactId, appointmentId) =>
    busy(find, errors, async () => {
      out.hidden = true;
      const r = await api.post(`/api/templates/${tpl.id}/preview`, { contact_id: contactId, appointment_id: appointmentId || null });
      replace(out, r.text);
      out.hidden = false;
    });
  const pick = async (contact) => {
    replace(found);
    let appointments = [];
    if (needsAppointment) {
      try {
        appointments = (await api.get(`/api/contacts/${contact.id}/appointments`)).items || [];
      } catch (err) {
        errors.show(err);
      }
    }
    const options = [["", t("tpl.preview_no_appointment")], ...appointments.map((a) => [String(a.id), `${a.title || ""} · ${fmt.dateTime(a.starts_at)}`])];
    const which = needsAppointment ? field(t("tpl.preview_appointment"), { type: "select", name: "tpl-preview-appointment", options, value: appointments[0] ? String(appointments[0].id) : "" }) : null;
    which?.input.addEventListener("change", () => render(contact.id, Number(which.input.value) || null));
    replace(picked, h("p", { class: "muted" }, t("tpl.preview_for", { name: contact.name || contact.phone || `#${contact.id}` })), which);
    await render(contact.id, which ? Number(which.input.value) || null : null);
  };
  const form = h(
    "form",
    {
      class: "adm-form",
      onsubmit: (e) => {
        e.preventDefault();
        busy(find, errors, async () => {
          const contacts = (await api.get(`/api/search${api.qs({ q: q.input.value.trim() })}`)).contacts || [];
          replace(found, contacts.length ? contacts.map((c) => h("li", {}, h("button", { type: "button", class: "btn btn-sm btn-ghost", dataset: { contact: String(c.id) }, onclick: () => pick(c) }, c.name || `#${c.id}`, c.phone ? h("span", { class: "muted" }, ` · ${c.phone}`) : null))) : h("li", { class: "muted" }, t("tpl.preview_none")));
        });
      },
    },
    h("div", { class: "adm-inline adm-form" }, q, h("div", { class: "adm-actions" }, find)),
  );
  return card(t("tpl.preview"), form, found, picked, out, errors);
}
