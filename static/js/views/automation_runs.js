// One automation's runs, newest first (GET /api/automations/{id}/runs, "load more" through the
// cursor): who, when it was due (in the browser's locale and zone), what happened and why, and the
// conversation it wrote in. The reason is shown in the chosen language by its code (`reason_code`),
// else as the server's sentence (a provider's reason, runs decided before codes).

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { busy, card, errorLine } from "./admin_ui.js";

export const RUN_STATUSES = ["pending", "sent", "skipped", "cancelled", "failed"];

export function runChip(status) {
  return h("span", { class: `pill run-${status}`, dataset: { status } }, t(`run.status.${status}`));
}

function runRow(run) {
  return h(
    "tr",
    { dataset: { run: String(run.id), status: run.status } },
    h("th", { scope: "row" }, run.contact_name || `#${run.contact_id}`),
    h("td", {}, h("time", { datetime: run.due_at, title: fmt.relative(run.due_at) }, fmt.dateTime(run.due_at))),
    h("td", {}, runChip(run.status)),
    h("td", { class: "adm-details", dataset: { field: "reason" } }, fmt.serverText(run.reason_code, run.reason || "—")),
    h("td", {}, run.conversation_id ? h("a", { href: `#/c/${run.conversation_id}` }, `${t("run.open")} #${run.conversation_id}`) : "—"),
  );
}

/** A card listing the runs of automation `a`; `close` removes it. */
export function runsCard(a, close) {
  const errors = errorLine();
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "btn btn-sm", id: "runs-more", hidden: true }, t("list.more"));
  const shut = h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: close }, t("run.close"));
  let cursor = null;
  const load = async () => {
    try {
      const page = await api.get(`/api/automations/${a.id}/runs${api.qs({ cursor })}`);
      if (!cursor && !page.items.length) replace(body, h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("run.none"))));
      for (const run of page.items) body.append(runRow(run));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      errors.show(err);
    }
  };
  more.addEventListener("click", () => busy(more, errors, load));
  const heads = ["run.contact", "run.due", "run.status", "run.reason", "run.conversation"];
  const table = h("table", { class: "table", id: "runs-table", dataset: { automation: String(a.id) } }, h("thead", {}, h("tr", {}, ...heads.map((k) => h("th", { scope: "col" }, t(k))))), body);
  load();
  return card(t("run.title", { name: a.name }), h("div", { class: "adm-actions" }, shut), errors, table, h("div", { class: "list-footer" }, more));
}
