// The supervisor view: live queues (waiting, oldest wait), agents (status, load), today's figures,
// SLA breaches, and a chart of today's volume per hour with first response time. Figures come from
// GET /api/queues and `queue.updated` events (same shape), refreshed after conversation events
// (throttled) and every few seconds; the chart from GET /api/reports.

import * as api from "../api.js";
import { h, replace, throttle } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { avatar, icon } from "../icons.js";
import { store } from "../store.js";
import { hourChart } from "./chart.js";
import { CsatCard } from "./csat.js";
import { healthCard } from "./health.js";
import { ReportsPanel } from "./reports.js";

const REFRESH_EVERY = 5_000;
const REPORT_EVERY = 60_000;

export class SupervisorView {
  constructor(session) {
    this.session = session;
    this.figures = null;
    this.report = null;
    this.refreshSoon = throttle(() => this.loadFigures(), 1000);
    this.reportSoon = throttle(() => this.loadReport(), 5000);
    this.csat = new CsatCard(); // issue 20: kept across redraws, refreshed with the report
    this.reports = new ReportsPanel(); // reports over a date range (issue 17): kept across renders
  }

  mount(container) {
    this.el = h("div", { class: "supervisor", id: "supervisor" });
    replace(container, this.el);
    this.render();
    this.loadFigures().then(() => this.loadReport()); // the report's "today" is the tenant's
    this.timer = setInterval(() => this.loadFigures(), REFRESH_EVERY);
    this.reportTimer = setInterval(() => this.loadReport(), REPORT_EVERY);
    this.ticker = setInterval(() => this.tick(), 1000);
    this.onConversations = () => this.renderBreaches();
    store.addEventListener("conversations", this.onConversations);
  }

  unmount() {
    clearInterval(this.timer);
    clearInterval(this.reportTimer);
    clearInterval(this.ticker);
    store.removeEventListener("conversations", this.onConversations);
    this.el.remove();
  }

  reload() {
    this.loadFigures();
    this.loadReport();
  }

  retryFailed() {
    this.reload(); // two small reads: cheaper than tracking which one failed
  }

  onEvent(frame) {
    if (frame.type === "queue.updated" && frame.data && frame.data.queues) {
      this.setFigures(frame.data);
    } else if (frame.type.startsWith("conversation.") || frame.type === "sla.breached" || frame.type === "agent.updated") {
      this.refreshSoon();
      this.reportSoon();
    } else if (frame.type === "message.created") {
      this.refreshSoon();
      this.reportSoon();
    }
  }

  async loadFigures() {
    this.loadHealth();
    try {
      this.setFigures(await api.get("/api/queues"));
    } catch (err) {
      if (err.status === 403) this.forbidden = true;
      this.render();
    }
  }

  async loadReport() {
    try {
      // "Today" in the tenant's time zone, as the figures count it (en-CA formats as YYYY-MM-DD).
      const zone = this.figures?.timezone;
      let day;
      try {
        day = new Intl.DateTimeFormat("en-CA", { timeZone: zone || undefined }).format(new Date());
      } catch {
        day = new Intl.DateTimeFormat("en-CA").format(new Date());
      }
      this.csat.load();
      this.report = await api.get(`/api/reports${api.qs({ from: day, to: day })}`);
      this.renderChart();
    } catch {
      /* the chart keeps its last picture */
    }
  }

  /** Channel health (issue 14 item 6): refreshed with the figures, drawn into its own card. */
  async loadHealth() {
    try {
      this.health = (await api.get("/api/channels/health")).items;
    } catch {
      return; /* the card keeps its last picture */
    }
    if (this.healthBox) replace(this.healthBox, ...healthCard(this.health));
  }

  setFigures(data) {
    this.figures = data;
    this.receivedAt = Date.now();
    for (const a of data.agents || []) {
      const known = store.agents.get(a.id);
      if (!known || known.status !== a.status) store.upsertAgent({ id: a.id, name: a.name, status: a.status });
    }
    this.render();
  }

  /** Waits keep growing between refreshes: age them locally each second. */
  tick() {
    if (!this.figures || !this.receivedAt) return;
    const extra = (Date.now() - this.receivedAt) / 1000;
    for (const el of this.el.querySelectorAll("[data-wait]")) {
      el.textContent = fmt.duration(Number(el.dataset.wait) + extra);
    }
  }

  render() {
    if (!this.el) return;
    if (this.forbidden) {
      replace(this.el, h("p", { class: "empty-state" }, t("sup.forbidden")));
      return;
    }
    const f = this.figures;
    if (!f) {
      replace(this.el, h("p", { class: "empty-state" }, t("conv.loading")));
      return;
    }
    const totals = f.totals || {};
    const sla = f.sla || {};
    const target = sla.first_response_target_seconds;
    const oldest = Math.max(-1, ...(f.queues || []).map((q) => q.oldest_wait_seconds ?? -1));
    const openCount = (totals.assigned || 0) + (totals.snoozed || 0);
    const online = (f.agents || []).filter((a) => a.status === "online").length;

    // Refreshes rebuild the view: keep keyboard focus where it was (on the same link).
    const focused = this.el.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    this.chartBox = h("div", { class: "card chart-card" });
    this.breachBox = h("section", { class: "card" });
    this.healthBox = h("section", { class: "card", id: "channel-health" }, ...healthCard(this.health));
    replace(
      this.el,
      h(
        "div",
        { class: "sup-head" },
        h("h1", {}, t("sup.title")),
        h("span", { class: "live-dot", "aria-hidden": "true" }),
        h("span", { class: "sup-live" }, t("sup.live")),
        h("span", { class: "sup-updated" }, t("sup.updated", { t: fmt.time(f.generated_at) })),
      ),
      h(
        "section",
        { class: "kpis", "aria-label": t("sup.today") },
        kpi("waiting", t("sup.waiting"), fmt.number(totals.waiting ?? 0), totals.waiting > 0 ? "warn" : ""),
        kpi("oldest", t("sup.oldest"), oldest >= 0 ? fmt.duration(oldest) : "—", target && oldest > target ? "danger" : "", oldest >= 0 ? oldest : null),
        kpi("online", t("sup.online"), `${online} / ${(f.agents || []).length}`),
        kpi("open", t("sup.open"), fmt.number(openCount)),
        kpi("conversations", `${t("sup.conversations")} · ${t("sup.today")}`, fmt.number(totals.conversations ?? 0)),
        kpi(
          "frt",
          t("sup.frt_median"),
          fmt.duration(totals.first_response_median_seconds),
          target && totals.first_response_median_seconds > target ? "danger" : "",
          null,
          target ? t("sup.target", { d: fmt.duration(target) }) : null,
        ),
        kpi("breaches", t("sup.breaches"), fmt.number(sla.breached_today ?? 0), sla.breached_today > 0 ? "danger" : "ok"),
      ),
      h(
        "div",
        { class: "sup-grid" },
        h("div", { class: "sup-col" }, this.queuesCard(f), this.breachBox, this.agentsCard(f)),
        h("div", { class: "sup-col" }, this.chartBox, this.todayCard(totals), this.csat.el, this.healthBox),
      ),
      this.reports.el,
    );
    this.reports.start(f.timezone);
    this.renderChart();
    this.renderBreaches();
    if (focused) this.el.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  }

  queuesCard(f) {
    const target = f.sla?.first_response_target_seconds;
    const rows = (f.queues || [])
      .filter((q) => q.id !== null || q.waiting || q.assigned || q.snoozed)
      .map((q) => {
        const late = target && q.oldest_wait_seconds > target;
        return h(
          "tr",
          { class: late ? "row-breached" : null, dataset: { queue: String(q.id ?? "none") } },
          h("th", { scope: "row" }, q.name || t("sup.no_queue")),
          h("td", { class: "num", dataset: { field: "waiting" } }, fmt.number(q.waiting)),
          h("td", { class: ["num", late && "text-danger"] }, q.oldest_wait_seconds != null ? h("span", { dataset: { wait: String(q.oldest_wait_seconds) } }, fmt.duration(q.oldest_wait_seconds)) : "—"),
          h("td", { class: "num" }, fmt.number(q.assigned)),
          h("td", { class: "num" }, `${q.agents_available}/${q.agents_online}`),
        );
      });
    return h(
      "section",
      { class: "card" },
      h("h2", {}, t("sup.queues")),
      h(
        "table",
        { class: "table", id: "queues-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("sup.queue")), h("th", { scope: "col", class: "num" }, t("sup.waiting")), h("th", { scope: "col", class: "num" }, t("sup.oldest")), h("th", { scope: "col", class: "num" }, t("sup.assigned")), h("th", { scope: "col", class: "num" }, t("sup.online")))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("sup.no_data")))),
      ),
    );
  }

  agentsCard(f) {
    const rows = (f.agents || []).map((a) => {
      const pct = a.capacity ? Math.min(100, Math.round((a.open_conversations / a.capacity) * 100)) : 0;
      const bar = h("span", { class: ["load-bar", pct >= 100 && "load-full"] }, h("span", { class: "load-fill", style: { width: `${pct}%` } }));
      return h(
        "tr",
        { dataset: { agent: String(a.id) } },
        h("th", { scope: "row" }, h("span", { class: "agent-cell" }, avatar(a.name, "sm"), a.name)),
        h("td", {}, h("span", { class: "status-cell" }, h("span", { class: `dot dot-${a.status}`, "aria-hidden": "true" }), t(`agent.${a.status}`))),
        h("td", {}, h("div", { class: "load-cell" }, bar, h("span", { class: "num load-text" }, `${a.open_conversations}/${a.capacity}`))),
      );
    });
    return h(
      "section",
      { class: "card" },
      h("h2", {}, t("sup.agents")),
      h(
        "table",
        { class: "table", id: "agents-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("sup.agent")), h("th", { scope: "col" }, t("sup.status")), h("th", { scope: "col" }, t("sup.load")))),
        h("tbody", {}, rows),
      ),
    );
  }

  todayCard(totals) {
    const item = (label, value, key) => h("div", { class: "stat", dataset: { stat: key } }, h("dt", {}, label), h("dd", {}, value));
    return h(
      "section",
      { class: "card" },
      h("h2", {}, t("sup.today")),
      h(
        "dl",
        { class: "stats" },
        item(t("sup.messages_in"), fmt.number(totals.messages_in), "messages_in"),
        item(t("sup.messages_out"), fmt.number(totals.messages_out), "messages_out"),
        item(t("sup.frt_p90"), fmt.duration(totals.first_response_p90_seconds), "frt_p90"),
        item(t("sup.resolution"), fmt.duration(totals.resolution_median_seconds), "resolution"),
        item(t("sup.bot_only"), fmt.number(totals.bot_only), "bot_only"),
        item(t("sup.handed_off"), fmt.number(totals.handed_off), "handed_off"),
      ),
    );
  }

  renderBreaches() {
    if (!this.breachBox || !this.figures) return;
    const list = this.figures.sla?.breached_open || [];
    const items = list.slice(0, 8).map((b) => {
      const conv = store.conversations.get(b.conversation_id);
      if (!conv) this.session.ensureConversation(b.conversation_id); // for the contact's name
      const name = conv?.contact?.name || `#${b.conversation_id}`;
      const who = b.assignee_id ? store.agentName(b.assignee_id) || `#${b.assignee_id}` : t("conv.unassigned");
      return h(
        "li",
        { class: "breach", dataset: { conversation: String(b.conversation_id) } },
        h("a", { href: `#/c/${b.conversation_id}` }, icon("alert", { size: 14 }), name),
        h("span", { class: "muted" }, `${t(`conv.status.${b.status}`)} · ${who} · ${fmt.relative(b.breached_at)}`),
      );
    });
    this.breachBox.classList.toggle("card-danger", list.length > 0);
    replace(
      this.breachBox,
      h("h2", {}, t("sup.breached_list")),
      items.length ? h("ul", { class: "breaches", id: "breaches" }, items) : h("p", { class: "muted" }, t("sup.none_breached")),
    );
  }

  renderChart() {
    if (!this.chartBox) return;
    const series = this.report?.volume_by_hour || [];
    const target = this.figures?.sla?.first_response_target_seconds || null;
    const frt = new Map((this.report?.first_response_by_hour || []).map((p) => [Date.parse(p.hour), p.median_seconds]));
    const points = series.map((p) => ({
      at: p.hour,
      bar: p.conversations ?? 0,
      line: frt.get(Date.parse(p.hour)) ?? null,
    }));
    replace(
      this.chartBox,
      h("h2", {}, t("sup.chart")),
      points.length
        ? hourChart(points, { bar: t("sup.chart_volume"), line: t("sup.chart_frt"), lineTarget: target, targetLabel: target ? t("sup.target", { d: fmt.duration(target) }) : "" })
        : h("p", { class: "muted" }, t("sup.no_data")),
    );
  }
}

function kpi(key, label, value, tone = "", wait = null, hint = null) {
  const valueEl = h("div", { class: "kpi-value" }, value);
  if (wait !== null) valueEl.dataset.wait = String(wait);
  return h("div", { class: ["kpi", tone && `kpi-${tone}`], dataset: { kpi: key } }, h("div", { class: "kpi-label" }, label), valueEl, hint ? h("div", { class: "kpi-hint" }, hint) : null);
}
