// The supervisor view's channel health card: per channel, the last accepted webhook, signature
// failures, the last send and send failures in the last hour (GET /api/channels/health).

import { h } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { channelIcon } from "../icons.js";

/** The card's children (title and table) for `items`; a loading line until they arrive. */
export function healthCard(items) {
  const title = h("h2", {}, t("health.title"));
  if (!items) return [title, h("p", { class: "muted" }, t("conv.loading"))];
  const when = (iso) => (iso ? h("time", { datetime: iso, title: fmt.dateTime(iso) }, fmt.relative(iso)) : t("adm.never"));
  const rows = items.map((i) => {
    const failing = i.send_failures_last_hour > 0 || i.signature_failures > 0;
    return h(
      "tr",
      { dataset: { channel: String(i.channel.id) }, class: [failing && "row-breached", i.disabled && "adm-disabled"] },
      h("th", { scope: "row" }, h("span", { class: "agent-cell" }, channelIcon(i.channel.kind, 16), i.channel.name)),
      h("td", { dataset: { field: "event" } }, when(i.last_event_at)),
      h("td", { dataset: { field: "send" } }, when(i.last_send_at)),
      h("td", { class: ["num", i.send_failures_last_hour > 0 && "text-danger"], dataset: { field: "send_failures" } }, fmt.number(i.send_failures_last_hour)),
      h("td", { class: ["num", i.signature_failures > 0 && "text-danger"], dataset: { field: "signature_failures" } }, fmt.number(i.signature_failures)),
    );
  });
  const head = ["health.channel", "health.event", "health.send", "health.send_failures", "health.signature_failures"];
  return [
    title,
    h(
      "table",
      { class: "table", id: "health-table" },
      h("thead", {}, h("tr", {}, ...head.map((k, n) => h("th", { scope: "col", class: n > 2 ? "num" : null }, t(k))))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("sup.no_data")))),
    ),
  ];
}
