// The CSAT card of the supervisor view: the average of the feedback answers (1-5) over the last 30
// days, how many were asked and answered, the spread of scores and each agent's average
// (GET /api/reports/csat). One element kept across the view's redraws; `load()` refreshes it.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { locale, t } from "../i18n.js";

const average = (n) => (n === null || n === undefined ? "—" : new Intl.NumberFormat(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 2 }).format(n));

export class CsatCard {
  constructor() {
    this.el = h("section", { class: "card", id: "csat" });
    this.data = null;
    this.draw();
  }

  async load() {
    try {
      this.data = await api.get("/api/reports/csat");
    } catch {
      return; /* the card keeps its last picture */
    }
    this.draw();
  }

  draw() {
    const d = this.data;
    const title = h("h2", {}, t("csat.title", { days: d?.days ?? 30 }));
    if (!d || !d.responses) return replace(this.el, title, h("p", { class: "muted" }, d ? t("csat.none") : t("conv.loading")));
    const stat = (key, label, value) => h("div", { class: "stat", dataset: { csat: key } }, h("dt", {}, label), h("dd", {}, value));
    const most = Math.max(1, ...Object.values(d.scores));
    const bars = ["5", "4", "3", "2", "1"].map((s) =>
      h("div", { class: "csat-bar", dataset: { score: s } }, h("span", { class: "csat-score" }, s), h("span", { class: "load-bar" }, h("span", { class: "load-fill", style: { width: `${Math.round((d.scores[s] / most) * 100)}%` } })), h("span", { class: "num" }, fmt.number(d.scores[s]))),
    );
    const agents = d.agents.map((a) => h("tr", { dataset: { agent: String(a.agent_id) } }, h("th", { scope: "row" }, a.name), h("td", { class: "num" }, average(a.average)), h("td", { class: "num" }, fmt.number(a.responses))));
    const rate = d.requests ? `${Math.round((d.responses / d.requests) * 100)}%` : "—";
    replace(
      this.el,
      title,
      h("dl", { class: "stats" }, stat("average", t("csat.average"), average(d.average)), stat("responses", t("csat.responses"), fmt.number(d.responses)), stat("rate", t("csat.rate"), rate)),
      h("div", { class: "csat-bars" }, bars),
      agents.length
        ? h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("csat.agent")), h("th", { scope: "col", class: "num" }, t("csat.average")), h("th", { scope: "col", class: "num" }, t("csat.responses")))), h("tbody", {}, agents))
        : null,
    );
  }
}
