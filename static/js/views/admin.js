// The admin pages (#/admin/<section>, admins only): connect a Notifica.me account (check the token,
// list its channels, import them, send a test), create a Meta channel and watch its webhook arrive,
// and manage channels (rename, disable, bot, new webhook key). Agents, queues, settings and the audit
// log live in admin_team.js; message templates and automations (which supervisors manage too, the
// only sections they see here) in admin_templates.js and admin_automations.js. Secrets are typed
// in and sent once; nothing shows them again.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { channelIcon } from "../icons.js";
import { automationsSection } from "./admin_automations.js";
import { agentsSection, auditSection, queuesSection, settingsSection } from "./admin_team.js";
import { webhooksSection } from "./admin_hooks.js";
import { templatesSection } from "./admin_templates.js";
import { ago, busy, card, errorLine, field } from "./admin_ui.js";

const SECTIONS = ["setup", "channels", "agents", "queues", "settings", "templates", "automations", "webhooks", "audit"];
const SUPERVISOR_SECTIONS = ["automations", "templates"];

/** The sections `role` may open (none: the admin pages are not theirs). */
export function adminSections(role) {
  return role === "admin" ? SECTIONS : role === "supervisor" ? SUPERVISOR_SECTIONS : [];
}
const HEALTH_EVERY = 5_000;

export class AdminView {
  constructor(session, section, role) {
    this.session = session;
    this.sections = adminSections(role);
    this.section = this.sections.includes(section) ? section : this.sections[0];
    this.timers = [];
  }

  mount(container) {
    this.el = h("div", { class: "supervisor admin", id: "admin" });
    replace(container, this.el);
    this.render();
  }

  unmount() {
    this.stopTimers();
    this.el.remove();
  }

  stopTimers() {
    for (const id of this.timers) clearInterval(id);
    this.timers = [];
  }

  every(ms, fn) {
    this.timers.push(setInterval(fn, ms));
  }

  reload() {
    this.render();
  }

  open(section) {
    const next = this.sections.includes(section) ? section : this.sections[0];
    if (next === this.section && this.body) return;
    this.section = next;
    this.render();
  }

  render() {
    this.stopTimers();
    const tabs = h("nav", { class: "tabs adm-tabs", "aria-label": t("adm.title") });
    for (const name of this.sections) {
      const on = name === this.section;
      tabs.append(h("a", { href: `#/admin/${name}`, class: ["tab", on && "active"], "aria-current": on ? "page" : null, dataset: { section: name } }, t(`adm.tab.${name}`)));
    }
    this.body = h("div", { class: "adm-body", id: `admin-${this.section}` });
    replace(this.el, h("div", { class: "sup-head" }, h("h1", {}, t("adm.title"))), tabs, this.body);
    const build = {
      setup: () => this.setup(),
      channels: () => this.channels(),
      agents: () => agentsSection(this),
      queues: () => queuesSection(this),
      settings: () => settingsSection(this),
      webhooks: () => webhooksSection(this),
      templates: () => templatesSection(this),
      automations: () => automationsSection(this),
      audit: () => auditSection(this),
    }[this.section];
    build();
  }

  // --- Setup: Notifica.me account, test send, Meta channel -----------------------------------

  async setup() {
    let info = { public_url: null };
    try {
      info = await api.get("/api/admin/setup");
    } catch {
      /* the forms still work; the public URL hint is missing */
    }
    replace(this.body, h("div", { class: "sup-grid" }, h("div", { class: "sup-col" }, this.hubCard(info), this.testCard()), h("div", { class: "sup-col" }, this.metaCard(info))));
  }

  hubCard(info) {
    const token = field(t("adm.hub.token"), { type: "password", name: "hub-token", autocomplete: "off", required: true });
    const publicUrl = field(t("adm.hub.public_url"), { type: "url", name: "public-url", value: info.public_url || "", placeholder: "https://inbox.example.com" });
    const errors = errorLine();
    const results = h("div", { class: "adm-results", id: "hub-results", "aria-live": "polite" });
    const checkBtn = h("button", { type: "submit", class: "btn btn-primary", id: "hub-check" }, t("adm.hub.check"));
    const importBtn = h("button", { type: "button", class: "btn", id: "hub-import", hidden: true }, t("adm.hub.import"));
    const form = h(
      "form",
      {
        class: "adm-form",
        onsubmit: (e) => {
          e.preventDefault();
          busy(checkBtn, errors, async () => {
            const listed = await api.post("/api/admin/setup/check", { token: token.input.value });
            replace(results, listedTable(listed.channels));
            importBtn.hidden = !listed.channels.some((c) => c.supported);
          });
        },
      },
      token,
      publicUrl,
      h("div", { class: "adm-actions" }, checkBtn, importBtn),
      errors,
      results,
    );
    importBtn.addEventListener("click", () =>
      busy(importBtn, errors, async () => {
        const done = await api.post("/api/admin/setup/import", { token: token.input.value, public_url: publicUrl.input.value || null });
        token.input.value = ""; // sent once, sealed on the server: not kept in the page
        importBtn.hidden = true;
        replace(results, importedList(done));
        this.refreshTestChannels?.();
      }),
    );
    return card(t("adm.hub.title"), h("p", { class: "muted" }, t("adm.hub.lead")), form);
  }

  testCard() {
    const channel = field(t("adm.test.channel"), { type: "select", name: "test-channel", options: [] });
    const to = field(t("adm.test.to"), { name: "test-to", required: true, placeholder: "5511999999999" });
    const text = field(t("adm.test.text"), { name: "test-text", required: true, value: t("adm.test.default") });
    const errors = errorLine();
    const result = h("p", { class: "adm-result", id: "test-result", role: "status" });
    const send = h("button", { type: "submit", class: "btn btn-primary", id: "test-send" }, t("adm.test.send"));
    const refresh = async () => {
      try {
        const items = (await api.get("/api/admin/channels")).items || [];
        const before = channel.input.value;
        replace(channel.input, items.map((c) => h("option", { value: String(c.id) }, `${c.name} · ${c.kind}`)));
        if (before) channel.input.value = before;
      } catch (err) {
        errors.show(err);
      }
    };
    this.refreshTestChannels = refresh;
    refresh();
    const form = h(
      "form",
      {
        class: "adm-form",
        id: "test-form",
        onsubmit: (e) => {
          e.preventDefault();
          busy(send, errors, async () => {
            replace(result, "");
            const r = await api.post(`/api/admin/channels/${channel.input.value}/test`, { to: to.input.value, text: text.input.value });
            result.className = ["adm-result", r.ok ? "adm-ok" : "text-danger"].join(" ");
            replace(result, r.ok ? t("adm.test.sent", { id: r.provider_message_id }) : t("adm.test.failed", { reason: r.reason }));
          });
        },
      },
      channel,
      to,
      text,
      h("div", { class: "adm-actions" }, send),
      errors,
      result,
    );
    return card(t("adm.test.title"), form);
  }

  metaCard(info) {
    const kind = field(t("adm.meta.kind"), { type: "select", name: "meta-kind", options: [["whatsapp", "WhatsApp"], ["instagram", "Instagram"], ["messenger", "Messenger"]] });
    const name = field(t("adm.meta.name"), { name: "meta-name", required: true });
    const external = field(t("adm.meta.external_id"), { name: "meta-external-id", required: true });
    const appSecret = field(t("adm.meta.app_secret"), { type: "password", name: "meta-app-secret", autocomplete: "off", required: true });
    const verify = field(t("adm.meta.verify_token"), { name: "meta-verify-token", autocomplete: "off", required: true });
    const access = field(t("adm.meta.access_token"), { type: "password", name: "meta-access-token", autocomplete: "off", required: true });
    const errors = errorLine();
    const out = h("div", { class: "adm-results", id: "meta-result", "aria-live": "polite" });
    const create = h("button", { type: "submit", class: "btn btn-primary", id: "meta-create" }, t("adm.meta.create"));
    const form = h(
      "form",
      {
        class: "adm-form",
        onsubmit: (e) => {
          e.preventDefault();
          busy(create, errors, async () => {
            const made = await api.post("/api/admin/channels", {
              kind: kind.input.value,
              provider: "meta",
              name: name.input.value,
              options: { external_id: external.input.value, app_secret: appSecret.input.value, verify_token: verify.input.value, access_token: access.input.value },
            });
            for (const f of [appSecret, verify, access]) f.input.value = "";
            const base = info.public_url || location.origin;
            const status = h("dl", { class: "stats adm-health", id: "meta-health" });
            replace(
              out,
              h("p", {}, t("adm.meta.paste")),
              h("dl", { class: "stats" },
                h("div", { class: "stat" }, h("dt", {}, t("adm.meta.callback")), h("dd", { class: "adm-code", id: "meta-callback" }, base + made.webhook_path)),
                h("div", { class: "stat" }, h("dt", {}, t("adm.meta.verify_token")), h("dd", { class: "adm-code", id: "meta-verify" }, made.paste.verify_token || "")),
              ),
              status,
            );
            this.refreshTestChannels?.();
            const poll = async () => {
              const item = (await healthOf(made.id)) || {};
              replace(status, ...healthFacts(item));
            };
            poll();
            this.every(HEALTH_EVERY, poll);
          });
        },
      },
      kind,
      name,
      external,
      appSecret,
      verify,
      access,
      h("div", { class: "adm-actions" }, create),
      errors,
      out,
    );
    return card(t("adm.meta.title"), form);
  }

  // --- Channels ---------------------------------------------------------------------------

  async channels() {
    const errors = errorLine();
    const box = h("div", {});
    replace(this.body, card(t("adm.tab.channels"), errors, box));
    const load = async () => {
      try {
        const [list, health] = await Promise.all([api.get("/api/admin/channels"), api.get("/api/channels/health")]);
        const byId = new Map(health.items.map((i) => [i.channel.id, i]));
        replace(box, this.channelsTable(list.items || [], byId, errors, load));
      } catch (err) {
        errors.show(err);
      }
    };
    await load();
  }

  channelsTable(items, health, errors, reload) {
    const rows = items.map((c) => {
      const nameInput = h("input", { class: "input input-sm", value: c.name, "aria-label": t("adm.ch.name"), name: `name-${c.id}` });
      const save = h("button", { type: "button", class: "btn btn-sm" }, t("adm.save"));
      save.addEventListener("click", () => busy(save, errors, async () => { await api.patch(`/api/admin/channels/${c.id}`, { name: nameInput.value }); await reload(); }));
      const bot = h("button", { type: "button", class: "btn btn-sm btn-toggle", "aria-pressed": String(!!c.bot) }, t("adm.ch.bot"));
      bot.addEventListener("click", () => busy(bot, errors, async () => { await api.put(`/api/channels/${c.id}/bot`, { enabled: !c.bot }); await reload(); }));
      const toggle = h("button", { type: "button", class: ["btn", "btn-sm", !c.disabled && "btn-danger-ghost"] }, c.disabled ? t("adm.ch.enable") : t("adm.ch.disable"));
      toggle.addEventListener("click", () => busy(toggle, errors, async () => { await api.patch(`/api/admin/channels/${c.id}`, { disabled: !c.disabled }); await reload(); }));
      const rotate = h("button", { type: "button", class: "btn btn-sm" }, t("adm.ch.rotate"));
      rotate.addEventListener("click", () => {
        if (!confirm(t("adm.ch.rotate_confirm"))) return;
        busy(rotate, errors, async () => { await api.post(`/api/admin/channels/${c.id}/rotate-key`); await reload(); });
      });
      const hl = health.get(c.id) || {};
      return h(
        "tr",
        { dataset: { channel: String(c.id) }, class: c.disabled ? "adm-disabled" : null },
        h("td", {}, h("span", { class: "agent-cell" }, channelIcon(c.kind, 16), nameInput, save)),
        h("td", {}, c.provider),
        h("td", { class: "adm-code" }, c.webhook_path),
        h("td", {}, h("dl", { class: "adm-health" }, ...healthFacts(hl))),
        h("td", {}, h("div", { class: "adm-actions" }, bot, toggle, rotate)),
      );
    });
    return h(
      "table",
      { class: "table", id: "channels-table" },
      h("thead", {}, h("tr", {}, ...["adm.ch.name", "adm.ch.provider", "adm.ch.webhook", "adm.ch.health", "adm.ch.actions"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("adm.none")))),
    );
  }
}

async function healthOf(channelId) {
  try {
    return (await api.get("/api/channels/health")).items.find((i) => i.channel.id === channelId);
  } catch {
    return null;
  }
}

/** last handshake, last event, signature failures, last send, failures in the last hour. */
export function healthFacts(item) {
  const fact = (key, value) => h("div", { class: "stat", dataset: { health: key } }, h("dt", {}, t(`adm.health.${key}`)), h("dd", {}, value));
  return [
    fact("handshake", ago(item.last_handshake_at, fmt.relative)),
    fact("event", ago(item.last_event_at, fmt.relative)),
    fact("signature_failures", fmt.number(item.signature_failures ?? 0)),
    fact("send", ago(item.last_send_at, fmt.relative)),
    fact("send_failures", fmt.number(item.send_failures_last_hour ?? 0)),
  ];
}

function listedTable(channels) {
  const rows = channels.map((c) =>
    h(
      "tr",
      { dataset: { hub: c.external_id } },
      h("td", {}, h("span", { class: "agent-cell" }, c.kind ? channelIcon(c.kind, 16) : null, c.name)),
      h("td", {}, c.network),
      h("td", { class: "adm-code" }, c.external_id),
      h("td", {}, !c.supported ? t("adm.hub.not_served") : c.channels.length ? t("adm.hub.here", { ids: c.channels.map((x) => `#${x.id}`).join(", ") }) : t("adm.hub.new")),
    ),
  );
  return h(
    "table",
    { class: "table", id: "hub-channels" },
    h("thead", {}, h("tr", {}, ...["adm.hub.name", "adm.hub.network", "adm.hub.id", "adm.hub.state"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "4", class: "muted" }, t("adm.hub.empty")))),
  );
}

function importedList(done) {
  const items = done.items.map((i) => {
    if (i.skipped) return h("li", { class: "muted" }, `${i.name}: ${t("adm.hub.skipped")}`);
    const subs = i.subscriptions ? Object.entries(i.subscriptions).map(([k, v]) => `${k} ${t(`adm.hub.sub.${v}`)}`).join(", ") : t("adm.hub.not_subscribed");
    return h(
      "li",
      { dataset: { channel: String(i.channel.id) } },
      h("strong", {}, i.channel.name),
      ` · ${i.created ? t("adm.hub.created") : t("adm.hub.existing")} · `,
      h("span", { class: "adm-code" }, i.webhook_url || i.channel.webhook_path),
      " · ",
      i.error ? h("span", { class: "text-danger" }, i.error) : subs,
    );
  });
  return h("div", {}, done.note ? h("p", { class: "notice notice-warn", id: "hub-note" }, t("adm.hub.no_public_url")) : null, h("ul", { class: "adm-list", id: "hub-imported" }, items));
}
