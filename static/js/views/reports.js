// Reports over a date range (issue 17): summary tiles, per-agent performance (first responses and
// resolutions credited from the assignment history, handling time, reassignments), per channel, per
// queue, and the busiest hours per weekday as a heat map in the tenant's zone. Every table downloads
// as CSV (GET /api/reports?format=csv&section=...). Lives in the supervisor view; it keeps its own
// element, so the supervisor's refreshes re-attach it instead of rebuilding it.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { locale, t } from "../i18n.js";

const DAY_MS = 86_400_000;

/**
 * Summary tiles, in order: [key, label key, value from the report]. Other features add theirs here
 * (the CSAT figure, for one) without touching the panel.
 */
export const TILES = [
  ["conversations", "rep.conversations", (r) => fmt.number(r.totals.conversations)],
  ["frt", "rep.frt", (r) => fmt.duration(r.first_response.median_seconds)],
  ["resolution", "rep.resolution", (r) => fmt.duration(r.resolution.median_seconds)],
  ["reassignment_rate", "rep.reassignment_rate", (r) => percent(r.totals.reassignment_rate)],
  ["handling", "rep.handling", (r) => fmt.duration(r.totals.handling_seconds)],
];

function percent(rate) {
  return rate === null || rate === undefined ? "—" : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

/** YYYY-MM-DD of a moment in a zone (en-CA formats dates that way). */
function isoDay(date, zone) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone || undefined }).format(date);
  } catch {
    return new Intl.DateTimeFormat("en-CA").format(date);
  }
}

export class ReportsPanel {
  constructor() {
    this.el = h("section", { class: "card reports", id: "reports", "aria-labelledby": "reports-title" });
    this.zone = null;
    this.data = null;
    this.error = null;
  }

  /** First load once the tenant's zone is known (the default range is its last 7 days). */
  start(zone) {
    if (this.zone !== null) return;
    this.zone = zone || "";
    const now = new Date();
    this.to = isoDay(now, this.zone);
    this.from = isoDay(new Date(now.getTime() - 6 * DAY_MS), this.zone);
    this.load();
  }

  async load() {
    this.loading = true;
    this.render();
    try {
      this.data = await api.get(`/api/reports${api.qs({ from: this.from, to: this.to })}`);
      this.error = null;
    } catch (err) {
      this.error = err.status === 0 ? t("error.network") : err.message;
    }
    this.loading = false;
    this.render();
  }

  async download(section) {
    const path = `/api/reports${api.qs({ from: this.from, to: this.to, format: "csv", section })}`;
    try {
      const response = await fetch(path, { headers: { Authorization: `Bearer ${api.token()}` } });
      if (!response.ok) throw new Error(String(response.status));
      const url = URL.createObjectURL(await response.blob());
      const a = h("a", { href: url, download: `report-${section}-${this.from}-${this.to}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch {
      this.error = t("rep.csv_failed");
      this.render();
    }
  }

  render() {
    const form = h(
      "form",
      {
        class: "rep-range",
        id: "report-range",
        onsubmit: (e) => {
          e.preventDefault();
          const fd = new FormData(e.target);
          this.from = String(fd.get("from"));
          this.to = String(fd.get("to"));
          this.load();
        },
      },
      h("label", {}, t("rep.from"), h("input", { type: "date", name: "from", value: this.from || "", required: true })),
      h("label", {}, t("rep.to"), h("input", { type: "date", name: "to", value: this.to || "", required: true })),
      h("button", { class: "btn btn-primary", type: "submit", disabled: this.loading }, t("rep.apply")),
    );
    const head = h("div", { class: "rep-head" }, h("h2", { id: "reports-title" }, t("rep.title")), form);
    const r = this.data;
    if (this.error) return replace(this.el, head, h("p", { class: "text-danger", role: "alert" }, this.error));
    if (!r) return replace(this.el, head, h("p", { class: "muted" }, t("conv.loading")));
    const tiles = h(
      "dl",
      { class: "rep-tiles" },
      TILES.map(([key, label, value]) => h("div", { class: "rep-tile", dataset: { tile: key } }, h("dt", {}, t(label)), h("dd", {}, value(r)))),
    );
    const agents = table(
      "agent",
      t("rep.agents"),
      [t("sup.agent"), t("rep.assigned"), t("rep.first_responses"), t("rep.frt"), t("rep.resolved"), t("rep.resolution"), t("rep.handling"), t("rep.reassigned_away")],
      r.agents.map((a) => [a.name, fmt.number(a.assigned), fmt.number(a.first_responses), fmt.duration(a.first_response_median_seconds), fmt.number(a.resolved), fmt.duration(a.resolution_median_seconds), fmt.duration(a.handling_seconds), fmt.number(a.reassigned_away)]),
      (section) => this.download(section),
    );
    const timed = (x) => [fmt.number(x.conversations), fmt.number(x.resolved), fmt.duration(x.first_response_median_seconds), fmt.duration(x.resolution_median_seconds), fmt.number(x.reassignments)];
    const cols = [t("rep.conversations"), t("rep.resolved"), t("rep.frt"), t("rep.resolution"), t("rep.reassignments")];
    const channels = table("channel", t("rep.channels"), [t("rep.channel"), ...cols], r.by_channel.map((c) => [c.name, ...timed(c)]), (s) => this.download(s));
    const queues = table("queue", t("rep.queues"), [t("sup.queue"), ...cols], r.by_queue.map((q) => [q.name ?? t("sup.no_queue"), ...timed(q)]), (s) => this.download(s));
    replace(this.el, head, tiles, agents, h("div", { class: "rep-pair" }, channels, queues), heatmap(r, (s) => this.download(s)));
  }
}

function csvButton(section, onDownload) {
  return h("button", { class: "btn btn-ghost btn-sm", type: "button", dataset: { csv: section }, onclick: () => onDownload(section) }, t("rep.csv"));
}

function table(section, title, headers, rows, onDownload) {
  return h(
    "div",
    { class: "rep-table", dataset: { section } },
    h("div", { class: "rep-table-head" }, h("h3", {}, title), csvButton(section, onDownload)),
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", { scope: "col", class: i ? "num" : null }, x)))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((cells) => h("tr", {}, cells.map((x, i) => (i ? h("td", { class: "num" }, x) : h("th", { scope: "row" }, x)))))
          : h("tr", {}, h("td", { colspan: String(headers.length), class: "muted" }, t("sup.no_data"))),
      ),
    ),
  );
}

/** Weekdays (0 = Sunday, as the API) by hours 0-23; a cell's shade is its share of the busiest. */
function heatmap(r, onDownload) {
  const cells = new Map(r.heatmap.map((c) => [`${c.weekday}-${c.hour}`, c]));
  const top = Math.max(1, ...r.heatmap.map((c) => c.messages_in + c.conversations));
  // Day names in the chosen language: 2023-01-01 was a Sunday.
  const dayName = (wd) => new Date(Date.UTC(2023, 0, 1 + wd)).toLocaleDateString(locale(), { weekday: "short", timeZone: "UTC" });
  const hours = [...Array(24).keys()];
  return h(
    "div",
    { class: "rep-table rep-heat", dataset: { section: "heatmap" } },
    h("div", { class: "rep-table-head" }, h("h3", {}, t("rep.heatmap", { zone: r.timezone })), csvButton("heatmap", onDownload)),
    h(
      "table",
      { class: "heat", id: "heatmap" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), hours.map((hr) => h("th", { scope: "col" }, hr % 3 === 0 ? String(hr) : "")))),
      h(
        "tbody",
        {},
        [0, 1, 2, 3, 4, 5, 6].map((wd) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, dayName(wd)),
            hours.map((hr) => {
              const c = cells.get(`${wd}-${hr}`);
              const n = c ? c.messages_in + c.conversations : 0;
              const label = t("rep.heat_cell", { day: dayName(wd), hour: hr, conversations: c ? c.conversations : 0, messages: c ? c.messages_in : 0 });
              return h("td", { class: "heat-cell", title: label, "aria-label": label, dataset: { cell: `${wd}-${hr}`, n: String(n) }, style: `--heat: ${(n / top).toFixed(3)}` });
            }),
          ),
        ),
      ),
    ),
  );
}
