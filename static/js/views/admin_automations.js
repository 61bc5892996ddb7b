// Automations (#/admin/automations, supervisors and admins): the list (trigger, template, channel,
// offset in hours or days, an on/off switch, runs by status), a form to create or change one (each
// trigger explained, with what its offset means), the ready-made presets (admins), and a panel of
// one automation's runs. The server checks everything; its errors are shown as it words them.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { store } from "../store.js";
import { busy, card, check, errorLine, field } from "./admin_ui.js";
import { RUN_STATUSES, runsCard } from "./automation_runs.js";

// inbox/automations/triggers.py TRIGGERS: the default offset (seconds) and whether it counts back
// from the start (a reminder). Only for showing an empty offset; the server applies its own.
export const TRIGGERS = {
  "contact.created": { offset: 0 },
  "appointment.created": { offset: 0 },
  "appointment.reminder": { offset: 86_400, before: true },
  "appointment.completed": { offset: 3_600 },
  "conversation.resolved": { offset: 0 },
  "contact.birthday": { offset: 0 },
  "lead.no_reply": { offset: 86_400 },
};
const DAY = 86_400;
const HOUR = 3_600;
const DEFAULT_HOURS = { days: [0, 1, 2, 3, 4], start: "08:00", end: "18:00" };

/** "3 h", "1 day", "2 days" (whole days as days, the rest in hours). */
export function span(seconds) {
  if (seconds % DAY === 0) return seconds === DAY ? t("auto.d.day") : t("auto.d.days", { n: seconds / DAY });
  return t("auto.d.hours", { n: Math.round((seconds / HOUR) * 100) / 100 });
}

/** The offset as a person says it: "at once", "1 day before the start", "2 h after". */
export function offsetText(a) {
  const spec = TRIGGERS[a.trigger] || { offset: 0 };
  const seconds = a.offset_seconds ?? spec.offset;
  const said = seconds === 0 ? t("auto.at_once") : t(spec.before ? "auto.before" : "auto.after", { d: span(seconds) });
  return a.offset_seconds === null || a.offset_seconds === undefined ? t("auto.default", { d: said }) : said;
}

/** What PUT takes: the automation's own fields (the switch sends them all, changing one). */
function fieldsOf(a) {
  const { name, trigger, template_id, channel_id, offset_seconds, business_hours, while_bot, enabled } = a;
  return { name, trigger, template_id, channel_id, offset_seconds, business_hours, while_bot, enabled };
}

export async function automationsSection(view) {
  const errors = errorLine();
  const list = h("div", {});
  const editorBox = h("div", {});
  const runsBox = h("div", { id: "auto-runs" });
  const note = h("p", { class: "notice notice-info", id: "auto-presets-note", role: "status", hidden: true });
  let templates = [];
  let channels = [];
  const load = async () => {
    try {
      const [autos, tpls, chans] = await Promise.all([api.get("/api/automations"), api.get("/api/templates"), api.get("/api/admin/channels")]);
      templates = tpls.items || [];
      channels = chans.items || [];
      replace(list, automationsTable(autos.items || [], { templates, channels, errors, reload: load, edit, showRuns }));
    } catch (err) {
      errors.show(err);
    }
  };
  const edit = (a) => {
    replace(editorBox, editorCard(a, { templates, channels, saved: async () => { replace(editorBox); await load(); }, close: () => replace(editorBox) }));
    editorBox.scrollIntoView?.({ block: "nearest" });
  };
  const showRuns = (a) => {
    replace(runsBox, runsCard(a, () => replace(runsBox)));
    runsBox.scrollIntoView?.({ block: "nearest" });
  };
  // Usable once the templates and channels the form offers are loaded.
  const newBtn = h("button", { type: "button", class: "btn btn-primary btn-sm", id: "auto-new", disabled: true, onclick: () => edit(null) }, t("auto.new"));
  const presets = h("button", { type: "button", class: "btn btn-sm", id: "auto-presets", hidden: store.me?.role !== "admin" }, t("auto.presets"));
  presets.addEventListener("click", () =>
    busy(presets, errors, async () => {
      const done = await api.post("/api/automations/presets");
      replace(note, t("auto.presets_done", { n: done.items.length }));
      note.hidden = false;
      await load();
    }),
  );
  replace(view.body, card(t("auto.list"), h("p", { class: "muted-note" }, t("auto.lead")), h("div", { class: "adm-actions" }, newBtn, presets), note, errors, list), editorBox, runsBox);
  await load();
  newBtn.disabled = false;
}

function runCounts(runs) {
  const chips = RUN_STATUSES.filter((s) => runs?.[s]).map((s) => h("span", { class: `pill run-${s}`, dataset: { runs: s } }, `${t(`run.status.${s}`)} ${runs[s]}`));
  return chips.length ? h("span", { class: "auto-counts" }, chips) : h("span", { class: "muted" }, t("auto.no_runs"));
}

function automationsTable(items, { templates, channels, errors, reload, edit, showRuns }) {
  const templateName = new Map(templates.map((x) => [x.id, x.name]));
  const channelName = new Map(channels.map((c) => [c.id, c.name]));
  const rows = items.map((a) => {
    const toggle = h("input", { type: "checkbox", role: "switch", class: "auto-switch", checked: a.enabled, "aria-label": t("auto.enable_label", { name: a.name }) });
    toggle.addEventListener("change", () =>
      busy(toggle, errors, async () => {
        try {
          await api.put(`/api/automations/${a.id}`, { ...fieldsOf(a), enabled: toggle.checked });
        } finally {
          await reload(); // the list says what the server kept
        }
      }),
    );
    const editBtn = h("button", { type: "button", class: "btn btn-sm", onclick: () => edit(a) }, t("adm.edit"));
    const runsBtn = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "runs" }, onclick: () => showRuns(a) }, t("auto.show_runs"));
    const delBtn = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost" }, t("adm.delete"));
    delBtn.addEventListener("click", () => {
      if (!confirm(t("adm.confirm_delete", { name: a.name }))) return;
      busy(delBtn, errors, async () => {
        await api.del(`/api/automations/${a.id}`);
        await reload();
      });
    });
    const hours = a.business_hours ? h("div", { class: "muted" }, `${t("auto.hours")} ${a.business_hours.start}–${a.business_hours.end}`) : null;
    return h(
      "tr",
      { dataset: { automation: String(a.id), enabled: String(a.enabled) }, class: a.enabled ? null : "auto-off" },
      h("th", { scope: "row" }, a.name),
      h("td", {}, t(`trigger.${a.trigger}`)),
      h("td", {}, templateName.get(a.template_id) || `#${a.template_id}`),
      h("td", {}, a.channel_id ? channelName.get(a.channel_id) || `#${a.channel_id}` : h("span", { class: "muted", title: t("auto.channel_any") }, t("auto.channel_any_short"))),
      h("td", { dataset: { field: "offset" } }, offsetText(a), hours),
      h("td", {}, runCounts(a.runs)),
      h("td", {}, h("label", { class: "auto-switch-label" }, toggle)),
      h("td", { class: "adm-row-actions" }, editBtn, runsBtn, delBtn),
    );
  });
  const heads = ["auto.name", "auto.trigger", "auto.template", "auto.channel", "auto.offset", "auto.runs", "auto.enabled", "adm.ch.actions"];
  return h(
    "table",
    { class: "table", id: "automations-table" },
    h("thead", {}, h("tr", {}, ...heads.map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: String(heads.length), class: "muted" }, t("adm.none")))),
  );
}

// --- The form ----------------------------------------------------------------------------------

function offsetFields(a) {
  const seconds = a?.offset_seconds;
  const inDays = seconds != null && seconds > 0 && seconds % DAY === 0;
  const value = seconds == null ? "" : String(inDays ? seconds / DAY : Math.round((seconds / HOUR) * 100) / 100);
  const amount = field(t("auto.offset"), { type: "number", name: "auto-offset", min: "0", step: "any", value });
  const unit = field(t("auto.unit"), { type: "select", name: "auto-offset-unit", options: [["hours", t("auto.unit.hours")], ["days", t("auto.unit.days")]], value: inDays ? "days" : "hours" });
  const inSeconds = () => (amount.input.value === "" ? null : Math.round(Number(amount.input.value) * (unit.input.value === "days" ? DAY : HOUR)));
  return { amount, unit, seconds: inSeconds };
}

function hoursFields(a) {
  const bh = a?.business_hours || DEFAULT_HOURS;
  const on = check(t("auto.business_hours"), { name: "auto-hours", checked: !!a?.business_hours });
  const days = [0, 1, 2, 3, 4, 5, 6].map((d) => check(t(`day.${d}`), { value: String(d), checked: bh.days.includes(d) }));
  const start = field(t("auto.bh_start"), { type: "time", name: "auto-hours-start", value: bh.start });
  const end = field(t("auto.bh_end"), { type: "time", name: "auto-hours-end", value: bh.end });
  const box = h("fieldset", { class: "adm-fieldset", hidden: !on.input.checked }, h("legend", {}, t("auto.bh_days")), h("div", { class: "adm-checks" }, days), h("div", { class: "adm-inline adm-form" }, start, end));
  on.input.addEventListener("change", () => (box.hidden = !on.input.checked));
  const value = () => (on.input.checked ? { days: days.filter((d) => d.input.checked).map((d) => Number(d.input.value)), start: start.input.value, end: end.input.value } : null);
  return { on, box, value };
}

function editorCard(a, { templates, channels, saved, close }) {
  const name = field(t("auto.name"), { name: "auto-name", required: true, maxlength: "200", value: a?.name || "" });
  const trigger = field(t("auto.trigger"), { type: "select", name: "auto-trigger", options: Object.keys(TRIGGERS).map((k) => [k, t(`trigger.${k}`)]), value: a?.trigger || "contact.created" });
  const help = h("p", { class: "muted-note", id: "auto-trigger-help" });
  const offsetHelp = h("p", { class: "muted-note", id: "auto-offset-help" });
  const explain = () => {
    replace(help, t(`trigger.${trigger.input.value}.help`));
    replace(offsetHelp, t(`trigger.${trigger.input.value}.offset`));
  };
  trigger.input.addEventListener("change", explain);
  explain();
  const template = field(t("auto.template"), { type: "select", name: "auto-template", required: true, options: templates.map((x) => [String(x.id), x.name]), value: a ? String(a.template_id) : undefined });
  const channel = field(t("auto.channel"), { type: "select", name: "auto-channel", options: [["", t("auto.channel_any")], ...channels.map((c) => [String(c.id), `${c.name} · ${c.kind}`])], value: a?.channel_id ? String(a.channel_id) : "" });
  const offset = offsetFields(a);
  const hours = hoursFields(a);
  const whileBot = check(t("auto.while_bot"), { name: "auto-while-bot", checked: !!a?.while_bot });
  const enabled = check(t("auto.switch_on"), { name: "auto-enabled", checked: !!a?.enabled });
  const errors = errorLine();
  const save = h("button", { type: "submit", class: "btn btn-primary", id: "auto-save" }, t("auto.save"));
  const cancel = h("button", { type: "button", class: "btn", onclick: close }, t("adm.cancel"));
  const form = h(
    "form",
    {
      class: "adm-form",
      id: "auto-form",
      onsubmit: (e) => {
        e.preventDefault();
        const payload = {
          name: name.input.value,
          trigger: trigger.input.value,
          template_id: Number(template.input.value),
          channel_id: channel.input.value ? Number(channel.input.value) : null,
          offset_seconds: offset.seconds(),
          business_hours: hours.value(),
          while_bot: whileBot.input.checked,
          enabled: enabled.input.checked,
        };
        busy(save, errors, async () => {
          if (a) await api.put(`/api/automations/${a.id}`, payload);
          else await api.post("/api/automations", payload);
          await saved();
        });
      },
    },
    name,
    trigger,
    help,
    templates.length ? template : h("p", { class: "notice notice-warn" }, t("auto.template_none")),
    channel,
    h("div", { class: "adm-inline adm-form" }, offset.amount, offset.unit),
    offsetHelp,
    hours.on,
    hours.box,
    whileBot,
    enabled,
    h("div", { class: "adm-actions" }, save, cancel),
    errors,
  );
  return card(a ? t("auto.editing", { name: a.name }) : t("auto.new"), form);
}
