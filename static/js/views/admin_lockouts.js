// Login lockouts (issue 19 item 5) on the admins' agents page: the emails and addresses refused now
// after too many failed logins that involve this team (GET /api/admin/lockouts), how many failures,
// until when, and a button to lift one (POST /api/admin/lockouts/clear, audited by the server).
// No secret is involved: a lockout is an email or an address and a count.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { busy, card, errorLine } from "./admin_ui.js";

export function lockoutsCard() {
  const errors = errorLine();
  const box = h("div", { id: "lockouts", "aria-live": "polite" });
  const refresh = h("button", { type: "button", class: "btn btn-sm", id: "lockouts-refresh" }, t("lock.refresh"));
  const load = async () => {
    const { items } = await api.get("/api/admin/lockouts");
    replace(box, items.length ? lockoutsTable(items, errors, load) : h("p", { class: "muted", id: "lockouts-none" }, t("lock.none")));
  };
  refresh.addEventListener("click", () => busy(refresh, errors, load));
  busy(refresh, errors, load);
  return card(t("lock.title"), h("p", { class: "muted" }, t("lock.lead")), errors, box, h("div", { class: "adm-actions" }, refresh));
}

function lockoutsTable(items, errors, reload) {
  const rows = items.map((lo) => {
    const lift = h("button", { type: "button", class: "btn btn-sm", dataset: { action: "clear" } }, t("lock.clear"));
    lift.addEventListener("click", () => {
      if (!confirm(t("lock.clear_confirm", { key: lo.key }))) return;
      busy(lift, errors, async () => {
        await api.post("/api/admin/lockouts/clear", { scope: lo.scope, key: lo.key });
        await reload();
      });
    });
    return h(
      "tr",
      { dataset: { scope: lo.scope, key: lo.key } },
      h("td", {}, t(`lock.scope.${lo.scope}`)),
      h("td", { class: "adm-code" }, lo.key),
      h("td", {}, fmt.number(lo.failures)),
      h("td", {}, h("time", { datetime: lo.last_failure_at, title: fmt.dateTime(lo.last_failure_at) }, fmt.relative(lo.last_failure_at))),
      h("td", {}, h("time", { datetime: lo.locked_until }, fmt.dateTime(lo.locked_until))),
      h("td", {}, lift),
    );
  });
  return h(
    "table",
    { class: "table", id: "lockouts-table" },
    h("thead", {}, h("tr", {}, ...["lock.scope", "lock.key", "lock.failures", "lock.last", "lock.until", "adm.ch.actions"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows),
  );
}
