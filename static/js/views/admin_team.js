// The admin pages about people and rules: agents (invite with a generated password shown once, role,
// capacity, disable; login lockouts below, admin_lockouts.js), queues and their members, routing and bot settings (tenant and per channel),
// and the audit log (newest first, "load more" through the cursor). Built on the existing admin API.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { lockoutsCard } from "./admin_lockouts.js";
import { busy, card, check, errorLine, field } from "./admin_ui.js";

const ROLES = ["agent", "supervisor", "admin"];

// --- Agents ------------------------------------------------------------------------------------

export async function agentsSection(view) {
  const errors = errorLine();
  const box = h("div", {});
  const email = field(t("adm.agent.email"), { type: "email", name: "invite-email", required: true });
  const name = field(t("adm.agent.name"), { name: "invite-name", required: true });
  const role = field(t("adm.agent.role"), { type: "select", name: "invite-role", options: ROLES.map((r) => [r, t(`adm.role.${r}`)]) });
  const capacity = field(t("adm.agent.capacity"), { type: "number", name: "invite-capacity", min: "0", value: "5" });
  const invited = h("div", { id: "invite-result", "aria-live": "polite" });
  const inviteErrors = errorLine();
  const invite = h("button", { type: "submit", class: "btn btn-primary", id: "invite" }, t("adm.agent.invite"));
  const load = async () => {
    try {
      const items = ((await api.get("/api/agents")).items || []).slice().sort((a, b) => a.id - b.id);
      replace(box, agentsTable(items, errors, load));
    } catch (err) {
      errors.show(err);
    }
  };
  const form = h(
    "form",
    {
      class: "adm-form adm-inline",
      onsubmit: (e) => {
        e.preventDefault();
        busy(invite, inviteErrors, async () => {
          const made = await api.post("/api/admin/agents", { email: email.input.value, name: name.input.value, role: role.input.value, capacity: Number(capacity.input.value || 0) });
          email.input.value = name.input.value = "";
          // Shown this once: the server keeps only its hash.
          replace(invited, h("p", { class: "notice notice-info" }, t("adm.agent.password_once", { email: made.email }), " ", h("code", { class: "adm-code", id: "invite-password" }, made.password)));
          await load();
        });
      },
    },
    email,
    name,
    role,
    capacity,
    h("div", { class: "adm-actions" }, invite),
  );
  replace(view.body, card(t("adm.agent.invite_title"), form, inviteErrors, invited), card(t("adm.tab.agents"), errors, box), lockoutsCard());
  await load();
}

function agentsTable(items, errors, reload) {
  const rows = items.map((a) => {
    const role = h("select", { class: "select select-sm", "aria-label": t("adm.agent.role"), disabled: a.disabled });
    for (const r of ROLES) role.append(h("option", { value: r }, t(`adm.role.${r}`)));
    role.value = a.role;
    role.addEventListener("change", () => busy(role, errors, async () => { await api.patch(`/api/admin/agents/${a.id}`, { role: role.value }); await reload(); }));
    const cap = h("input", { type: "number", min: "0", class: "input input-sm adm-num", value: String(a.capacity), "aria-label": t("adm.agent.capacity"), disabled: a.disabled });
    cap.addEventListener("change", () => busy(cap, errors, async () => { await api.patch(`/api/admin/agents/${a.id}`, { capacity: Number(cap.value) }); }));
    const disable = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost", hidden: a.disabled }, t("adm.agent.disable"));
    disable.addEventListener("click", () => {
      if (!confirm(t("adm.agent.disable_confirm", { name: a.name }))) return;
      busy(disable, errors, async () => { await api.post(`/api/admin/agents/${a.id}/disable`); await reload(); });
    });
    return h(
      "tr",
      { dataset: { agent: String(a.id) }, class: a.disabled ? "adm-disabled" : null },
      h("th", { scope: "row" }, a.name),
      h("td", {}, a.email),
      h("td", {}, role),
      h("td", {}, cap),
      h("td", {}, a.disabled ? t("adm.agent.disabled") : t(`agent.${a.status}`)),
      h("td", {}, disable),
    );
  });
  return h(
    "table",
    { class: "table", id: "agents-admin" },
    h("thead", {}, h("tr", {}, ...["adm.agent.name", "adm.agent.email", "adm.agent.role", "adm.agent.capacity", "adm.agent.status", "adm.ch.actions"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows),
  );
}

// --- Queues ------------------------------------------------------------------------------------

export async function queuesSection(view) {
  const errors = errorLine();
  const box = h("div", {});
  const qname = field(t("adm.queue.name"), { name: "queue-name", required: true });
  const add = h("button", { type: "submit", class: "btn btn-primary", id: "queue-create" }, t("adm.queue.create"));
  const load = async () => {
    try {
      const [queues, agents] = await Promise.all([api.get("/api/admin/queues"), api.get("/api/agents")]);
      const people = (agents.items || []).filter((a) => !a.disabled);
      replace(box, ...(queues.items.length ? queues.items.map((q) => queueCard(q, people, errors)) : [h("p", { class: "muted" }, t("adm.none"))]));
    } catch (err) {
      errors.show(err);
    }
  };
  const form = h(
    "form",
    {
      class: "adm-form adm-inline",
      onsubmit: (e) => {
        e.preventDefault();
        busy(add, errors, async () => {
          await api.post("/api/admin/queues", { name: qname.input.value });
          qname.input.value = "";
          await load();
        });
      },
    },
    qname,
    h("div", { class: "adm-actions" }, add),
  );
  replace(view.body, card(t("adm.tab.queues"), form, errors, box));
  await load();
}

function queueCard(q, people, errors) {
  const boxes = people.map((a) => check(a.name, { checked: q.agent_ids.includes(a.id), value: String(a.id) }));
  const save = h("button", { type: "button", class: "btn btn-sm" }, t("adm.save"));
  const saved = h("span", { class: "muted", role: "status" });
  save.addEventListener("click", () =>
    busy(save, errors, async () => {
      const ids = boxes.filter((b) => b.input.checked).map((b) => Number(b.input.value));
      await api.put(`/api/admin/queues/${q.id}/members`, { agent_ids: ids });
      replace(saved, t("adm.saved"));
    }),
  );
  return h("fieldset", { class: "adm-fieldset", dataset: { queue: String(q.id) } }, h("legend", {}, q.name), h("div", { class: "adm-checks" }, boxes), h("div", { class: "adm-actions" }, save, saved));
}

// --- Routing and bot settings --------------------------------------------------------------------

export async function settingsSection(view) {
  const errors = errorLine();
  let routing = {};
  let bot = { settings: {} };
  let channels = [];
  try {
    [routing, bot, channels] = await Promise.all([api.get("/api/admin/routing"), api.get("/api/settings/bot"), api.get("/api/admin/channels").then((r) => r.items || [])]);
  } catch (err) {
    errors.show(err);
  }
  const auto = check(t("adm.routing.auto_assign"), { checked: !!routing.auto_assign, name: "auto-assign" });
  const sla = field(t("adm.routing.sla"), { type: "number", min: "0", name: "sla", value: String(routing.sla_first_response_seconds ?? "") });
  const requeue = field(t("adm.routing.requeue"), { type: "number", min: "0", name: "requeue", value: String(routing.requeue_offline_after_seconds ?? "") });
  const tz = field(t("adm.routing.timezone"), { name: "timezone", value: routing.timezone || "UTC" });
  const rSaved = h("span", { class: "muted", role: "status" });
  const rSave = h("button", { type: "submit", class: "btn btn-primary", id: "routing-save" }, t("adm.save"));
  const num = (input) => (input.value === "" ? null : Number(input.value));
  const routingForm = h(
    "form",
    {
      class: "adm-form",
      onsubmit: (e) => {
        e.preventDefault();
        busy(rSave, errors, async () => {
          await api.patch("/api/admin/routing", { auto_assign: auto.input.checked, sla_first_response_seconds: num(sla.input), requeue_offline_after_seconds: num(requeue.input), timezone: tz.input.value });
          replace(rSaved, t("adm.saved"));
        });
      },
    },
    auto,
    sla,
    requeue,
    tz,
    h("div", { class: "adm-actions" }, rSave, rSaved),
  );
  replace(view.body, errors, h("div", { class: "sup-grid" }, h("div", { class: "sup-col" }, card(t("adm.routing.title"), routingForm)), h("div", { class: "sup-col" }, botCard(t("adm.bot.tenant"), bot.settings || {}, (layer) => api.put("/api/settings/bot", layer), errors), channelBotCard(channels, errors))));
}

function botFields(layer) {
  return {
    prompt: field(t("adm.bot.prompt"), { type: "textarea", rows: "4", name: "bot-prompt", value: layer.system_prompt || "" }),
    turns: field(t("adm.bot.max_turns"), { type: "number", min: "1", max: "100", name: "bot-turns", value: String(layer.max_turns ?? "") }),
    keywords: field(t("adm.bot.keywords"), { name: "bot-keywords", value: (layer.handoff_keywords || []).join(", ") }),
  };
}

function botLayer(f, base) {
  const layer = { ...base };
  const put = (key, value) => (value === "" || value === null ? delete layer[key] : (layer[key] = value));
  put("system_prompt", f.prompt.input.value.trim());
  put("max_turns", f.turns.input.value === "" ? null : Number(f.turns.input.value));
  const words = f.keywords.input.value.split(",").map((w) => w.trim()).filter(Boolean);
  if (words.length) layer.handoff_keywords = words;
  else delete layer.handoff_keywords;
  return layer;
}

function botCard(title, layer, save, errors) {
  const f = botFields(layer);
  const saved = h("span", { class: "muted", role: "status" });
  const btn = h("button", { type: "submit", class: "btn btn-primary" }, t("adm.save"));
  const form = h(
    "form",
    {
      class: "adm-form",
      onsubmit: (e) => {
        e.preventDefault();
        busy(btn, errors, async () => {
          await save(botLayer(f, layer));
          replace(saved, t("adm.saved"));
        });
      },
    },
    f.prompt,
    f.turns,
    f.keywords,
    h("div", { class: "adm-actions" }, btn, saved),
  );
  return card(title, form);
}

function channelBotCard(channels, errors) {
  const pick = field(t("adm.test.channel"), { type: "select", name: "bot-channel", options: channels.map((c) => [String(c.id), c.name]) });
  const box = h("div", {});
  const show = async () => {
    if (!pick.input.value) return replace(box, h("p", { class: "muted" }, t("adm.none")));
    try {
      const id = pick.input.value;
      const cfg = await api.get(`/api/channels/${id}/bot`);
      const enabled = check(t("adm.ch.bot"), { checked: !!cfg.enabled, name: "bot-enabled" });
      enabled.input.addEventListener("change", () => busy(enabled.input, errors, () => api.put(`/api/channels/${id}/bot`, { enabled: enabled.input.checked })));
      replace(box, enabled, botCard(t("adm.bot.override"), cfg.settings || {}, (layer) => api.put(`/api/channels/${id}/bot`, { settings: layer }), errors));
    } catch (err) {
      errors.show(err);
    }
  };
  pick.input.addEventListener("change", show);
  show();
  return card(t("adm.bot.channel"), pick, box);
}

// --- Audit log ---------------------------------------------------------------------------------

export async function auditSection(view) {
  const errors = errorLine();
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "btn btn-sm", id: "audit-more", hidden: true }, t("list.more"));
  let cursor = null;
  const load = async () => {
    try {
      const page = await api.get(`/api/audit${api.qs({ cursor })}`);
      for (const item of page.items) body.append(auditRow(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      errors.show(err);
    }
  };
  more.addEventListener("click", () => busy(more, errors, load));
  const table = h(
    "table",
    { class: "table", id: "audit-table" },
    h("thead", {}, h("tr", {}, ...["adm.audit.when", "adm.audit.who", "adm.audit.action", "adm.audit.target", "adm.audit.details", "adm.audit.address"].map((k) => h("th", { scope: "col" }, t(k))))),
    body,
  );
  replace(view.body, card(t("adm.tab.audit"), errors, table, h("div", { class: "list-footer" }, more)));
  await load();
}

function auditRow(item) {
  const details = Object.entries(item.details || {})
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join("; ");
  return h(
    "tr",
    { dataset: { audit: String(item.id), action: item.action } },
    h("td", {}, h("time", { datetime: item.created_at, title: fmt.dateTime(item.created_at) }, fmt.relative(item.created_at))),
    h("td", {}, item.actor ? item.actor.name || item.actor.email : t("adm.audit.system")),
    h("td", { class: "adm-code" }, item.action),
    h("td", {}, item.target ? `${item.target.type} #${item.target.id}` : "—"),
    h("td", { class: "adm-details" }, details),
    h("td", {}, item.address || "—"),
  );
}
