// Outgoing webhooks (#/admin/webhooks, admins only): subscribe a CRM's URL to event types (the
// signing secret is shown once, right after creation), see each subscription's last status and
// failures, send it a signed test ping, enable or disable it, look at its recent deliveries, delete it. A subscription disabled
// automatically after a day of failures is announced at the top with its reason.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { ago, busy, card, check, errorLine, field } from "./admin_ui.js";

const DEFAULT_EVENTS = ["conversation.created", "message.created"];

export async function webhooksSection(view) {
  const errors = errorLine();
  const notice = h("div", { id: "hooks-notice" });
  const list = h("div", { id: "hooks-list" });
  const secretBox = h("div", { id: "hook-secret-box", "aria-live": "polite" });
  let types = DEFAULT_EVENTS;
  const load = async () => {
    try {
      const data = await api.get("/api/admin/webhooks");
      types = data.event_types;
      const stopped = data.items.filter((i) => !i.enabled && i.disabled_reason && i.disabled_reason !== "disabled by an admin");
      replace(notice, stopped.length ? h("p", { class: "notice notice-danger", role: "alert" }, t("hooks.auto_disabled", { n: stopped.length })) : "");
      replace(list, hooksTable(data.items, errors, load));
    } catch (err) {
      errors.show(err);
    }
  };
  await load();
  replace(view.body, notice, card(t("hooks.title"), h("p", { class: "muted" }, t("hooks.lead")), createForm(types, errors, secretBox, load), secretBox), card(t("hooks.list"), errors, list));
}

function createForm(types, errors, secretBox, reload) {
  const url = field(t("hooks.url"), { type: "url", name: "hook-url", required: true, placeholder: "https://crm.example.com/webhooks/inbox" });
  const boxes = types.map((type) => check(type, { name: "hook-event", value: type, checked: DEFAULT_EVENTS.includes(type) }));
  const create = h("button", { type: "submit", class: "btn btn-primary", id: "hook-create" }, t("hooks.create"));
  return h(
    "form",
    {
      class: "adm-form",
      id: "hook-form",
      onsubmit: (e) => {
        e.preventDefault();
        busy(create, errors, async () => {
          const events = boxes.filter((b) => b.input.checked).map((b) => b.input.value);
          const made = await api.post("/api/admin/webhooks", { url: url.input.value, events });
          url.input.value = "";
          // The only time the secret is shown: the server keeps it sealed and never answers it again.
          replace(
            secretBox,
            h("div", { class: "adm-results" }, h("p", { class: "notice notice-warn" }, t("hooks.secret_once")), h("p", { class: "adm-code", id: "hook-secret" }, made.secret)),
          );
          await reload();
        });
      },
    },
    url,
    h("fieldset", { class: "adm-fieldset" }, h("legend", {}, t("hooks.events")), h("div", { class: "adm-checks" }, ...boxes)),
    h("div", { class: "adm-actions" }, create),
  );
}

function hooksTable(items, errors, reload) {
  const rows = [];
  for (const s of items) {
    const toggle = h("button", { type: "button", class: ["btn", "btn-sm", s.enabled && "btn-danger-ghost"], dataset: { action: "toggle" } }, s.enabled ? t("hooks.disable") : t("hooks.enable"));
    toggle.addEventListener("click", () => busy(toggle, errors, async () => { await api.put(`/api/admin/webhooks/${s.id}`, { enabled: !s.enabled }); await reload(); }));
    const remove = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost", dataset: { action: "delete" } }, t("hooks.delete"));
    remove.addEventListener("click", () => {
      if (!confirm(t("hooks.delete_confirm"))) return;
      busy(remove, errors, async () => { await api.del(`/api/admin/webhooks/${s.id}`); await reload(); });
    });
    // The test ping: sent at once, not retried; its outcome is shown under the buttons.
    const pinged = h("p", { class: "hook-test-result muted", role: "status" });
    const ping = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "test" } }, t("hooks.test"));
    ping.addEventListener("click", () =>
      busy(ping, errors, async () => {
        const r = await api.post(`/api/admin/webhooks/${s.id}/test`);
        pinged.className = `hook-test-result ${r.ok ? "adm-ok" : "text-danger"}`;
        pinged.dataset.ok = String(r.ok);
        replace(pinged, r.ok ? t("hooks.test_ok", { status: r.status_code, ms: r.duration_ms }) : t("hooks.test_failed", { error: r.error }));
      }),
    );
    const detail = h("tr", { class: "hook-deliveries", hidden: true }, h("td", { colspan: "5" }));
    const show = h("button", { type: "button", class: "btn btn-sm", "aria-expanded": "false", dataset: { action: "deliveries" } }, t("hooks.deliveries"));
    show.addEventListener("click", () =>
      busy(show, errors, async () => {
        const open = detail.hidden;
        if (open) replace(detail.firstChild, deliveriesTable((await api.get(`/api/admin/webhooks/${s.id}/deliveries`)).items));
        detail.hidden = !open;
        show.setAttribute("aria-expanded", String(open));
      }),
    );
    const state = s.enabled
      ? h("span", { class: s.consecutive_failures ? "text-danger" : "adm-ok" }, s.consecutive_failures ? t("hooks.failing", { n: s.consecutive_failures }) : t("hooks.active"))
      : h("span", { class: "text-danger" }, s.disabled_reason || t("hooks.disabled"));
    rows.push(
      h(
        "tr",
        { dataset: { hook: String(s.id) }, class: s.enabled ? null : "adm-disabled" },
        h("td", { class: "adm-code" }, s.url),
        h("td", { class: "adm-details" }, s.events.join(", ")),
        h("td", {}, state),
        h(
          "td",
          {},
          h(
            "dl",
            { class: "adm-health" },
            fact(t("hooks.last_status"), s.last_status ?? "—"),
            fact(t("hooks.last_success"), ago(s.last_success_at, fmt.relative)),
            fact(t("hooks.delivered"), fmt.number(s.delivered)),
            s.last_error ? fact(t("hooks.last_error"), s.last_error) : null,
          ),
        ),
        h("td", {}, h("div", { class: "adm-actions" }, ping, show, toggle, remove), pinged),
      ),
      detail,
    );
  }
  return h(
    "table",
    { class: "table", id: "hooks-table" },
    h("thead", {}, h("tr", {}, ...["hooks.url", "hooks.events", "hooks.state", "hooks.health", "adm.ch.actions"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("adm.none")))),
  );
}

function fact(label, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, String(value)));
}

function deliveriesTable(items) {
  if (!items.length) return h("p", { class: "muted" }, t("hooks.no_deliveries"));
  return h(
    "table",
    { class: "table hook-attempts" },
    h("thead", {}, h("tr", {}, ...["hooks.when", "hooks.delivery", "hooks.events", "hooks.attempt", "hooks.outcome"].map((k) => h("th", { scope: "col" }, t(k))))),
    h(
      "tbody",
      {},
      items.map((d) =>
        h(
          "tr",
          { dataset: { delivery: d.delivery_id, outcome: d.outcome } },
          h("td", {}, h("time", { datetime: d.created_at, title: fmt.dateTime(d.created_at) }, fmt.relative(d.created_at))),
          h("td", { class: "adm-code" }, d.delivery_id),
          h("td", {}, d.type),
          h("td", {}, String(d.attempt)),
          h("td", { class: d.outcome === "delivered" ? "adm-ok" : "text-danger" }, d.outcome === "delivered" ? `${t("hooks.ok")} (${d.status_code})` : d.error || t("hooks.failed")),
        ),
      ),
    ),
  );
}
