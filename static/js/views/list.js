// The conversation list: tabs Mine / Unassigned / All (All for supervisors and admins), a status
// filter, one row per conversation (channel, contact, last message, unread, wait). Rows come from the
// store, so realtime events re-sort and update them with no reload.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { avatar, channelIcon, icon } from "../icons.js";
import { FILTERS, store } from "../store.js";
import { previewText } from "./message.js";
import { labelChip, labelSet } from "./labels.js";

const PREFS_KEY = "inbox.list";

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY)) || {};
  } catch {
    return {};
  }
}

export class ConversationList {
  constructor(el, { session }) {
    this.el = el;
    this.session = session;
    const prefs = loadPrefs();
    this.tabs = store.sees_all ? ["mine", "unassigned", "all"] : ["mine", "unassigned"];
    this.tab = this.tabs.includes(prefs.tab) ? prefs.tab : "mine";
    this.filter = FILTERS[prefs.filter] ? prefs.filter : "open";
    this.label = typeof prefs.label === "string" ? prefs.label : ""; // "" = any label
    this.cursors = new Map(); // "tab|filter" -> next cursor (null: all loaded)
    this.openId = null;
    this.render();
    this.onChange = () => this.renderRows();
    store.addEventListener("conversations", this.onChange);
    store.addEventListener("agents", this.onChange);
    this.onLabels = () => this.renderLabelFilter();
    labelSet.addEventListener("change", this.onLabels);
    labelSet.load();
    this.ticker = setInterval(() => this.renderRows(), 15_000); // wait times keep counting
    this.load();
    this.loadCounts();
  }

  /** The tab badges (unread in Mine, waiting in Unassigned) count what is loaded: load both. */
  async loadCounts() {
    for (const assignee of ["me", "unassigned"]) {
      if (this.filter === "open" && assignee === { mine: "me", unassigned: "unassigned" }[this.tab]) continue;
      const mark = store.tick;
      try {
        const page = await api.get(`/api/conversations${api.qs({ assignee, status: FILTERS.open.join(","), limit: 50 })}`);
        for (const c of page.items) store.upsertConversation(c, { fromApi: true, mark });
      } catch {
        /* the badge waits for the next load */
      }
    }
  }

  destroy() {
    store.removeEventListener("conversations", this.onChange);
    store.removeEventListener("agents", this.onChange);
    labelSet.removeEventListener("change", this.onLabels);
    clearInterval(this.ticker);
  }

  key() {
    return `${this.tab}|${this.filter}|${this.label}`;
  }

  savePrefs() {
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify({ tab: this.tab, filter: this.filter, label: this.label }));
    } catch {
      /* not persisted */
    }
  }

  predicate() {
    const statuses = FILTERS[this.filter];
    const me = store.me && store.me.id;
    const label = this.label;
    return (c) => {
      if (!statuses.includes(c.status)) return false;
      if (label && !(c.labels || []).some((l) => l.name === label)) return false;
      if (this.tab === "mine") return c.assignee_id === me;
      if (this.tab === "unassigned") return c.assignee_id === null || c.assignee_id === undefined;
      return true;
    };
  }

  async load({ more = false } = {}) {
    const key = this.key();
    const cursor = more ? this.cursors.get(key) : null;
    if (more && !cursor) return;
    const assignee = { mine: "me", unassigned: "unassigned", all: "" }[this.tab];
    this.loading = true;
    this.renderRows();
    const mark = store.tick;
    try {
      const page = await api.get(
        `/api/conversations${api.qs({ assignee, status: FILTERS[this.filter].join(","), label: this.label, cursor, limit: 50 })}`,
      );
      for (const c of page.items) store.upsertConversation(c, { fromApi: true, mark });
      this.cursors.set(key, page.next_cursor || null);
      this.failed = false;
    } catch {
      this.failed = true; // offline: the banner says so; loaded again once the link is back
    } finally {
      this.loading = false;
      this.renderRows();
    }
  }

  retryFailed() {
    if (this.failed) this.reload();
  }

  reload() {
    this.cursors.clear();
    this.load();
    this.loadCounts();
  }

  setOpen(id) {
    this.openId = id;
    const conv = store.conversations.get(id);
    if (conv && conv.unread_count) store.upsertConversation({ id, unread_count: 0 });
    this.renderRows();
  }

  render() {
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": t("tabs.label") });
    for (const name of this.tabs) {
      tablist.append(
        h(
          "button",
          {
            type: "button",
            role: "tab",
            class: "tab",
            id: `tab-${name}`,
            "aria-selected": String(this.tab === name),
            "aria-controls": "conversation-rows",
            tabindex: this.tab === name ? "0" : "-1",
            onclick: () => this.selectTab(name),
            onkeydown: (e) => this.tabKeys(e, name),
          },
          t(`tabs.${name}`),
          h("span", { class: "tab-count", dataset: { tabCount: name } }),
        ),
      );
    }
    const filter = h("select", {
      id: "list-filter",
      class: "select select-sm",
      onchange: (e) => {
        this.filter = e.target.value;
        this.savePrefs();
        this.renderRows();
        this.load();
      },
    });
    for (const f of Object.keys(FILTERS)) filter.append(h("option", { value: f }, t(`filter.${f}`)));
    filter.value = this.filter;
    this.labelFilter = h("select", {
      id: "label-filter",
      class: "select select-sm",
      onchange: (e) => {
        this.label = e.target.value;
        this.savePrefs();
        this.renderRows();
        this.load();
      },
    });
    this.renderLabelFilter();
    this.rows = h("ul", { class: "conv-list", id: "conversation-rows", role: "tabpanel", "aria-labelledby": `tab-${this.tab}` });
    this.footer = h("div", { class: "list-footer" });
    replace(
      this.el,
      h("div", { class: "list-head" }, tablist, h("div", { class: "list-filter" }, h("label", { for: "list-filter", class: "sr-only" }, t("filter.label")), filter, h("label", { for: "label-filter", class: "sr-only" }, t("labels.filter")), this.labelFilter)),
      this.rows,
      this.footer,
    );
    this.renderRows();
  }

  renderLabelFilter() {
    if (!this.labelFilter) return;
    const names = labelSet.items.map((l) => l.name);
    if (this.label && !names.includes(this.label)) names.push(this.label); // saved, not loaded yet
    this.labelFilter.replaceChildren(h("option", { value: "" }, t("labels.any")), ...names.map((n) => h("option", { value: n }, n)));
    this.labelFilter.value = this.label;
  }

  selectTab(name) {
    if (this.tab === name) return;
    this.tab = name;
    this.savePrefs();
    for (const b of this.el.querySelectorAll("[role=tab]")) {
      const on = b.id === `tab-${name}`;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    this.rows.setAttribute("aria-labelledby", `tab-${name}`);
    this.renderRows();
    this.load();
  }

  tabKeys(e, name) {
    const i = this.tabs.indexOf(name);
    let next = null;
    if (e.key === "ArrowRight") next = this.tabs[(i + 1) % this.tabs.length];
    else if (e.key === "ArrowLeft") next = this.tabs[(i - 1 + this.tabs.length) % this.tabs.length];
    if (!next) return;
    e.preventDefault();
    this.selectTab(next);
    this.el.querySelector(`#tab-${next}`).focus();
  }

  renderRows() {
    if (!this.rows) return;
    const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest(".conv-item")?.dataset.id;
    const items = store.list(this.predicate());
    const unreadMine = store.list((c) => FILTERS.open.includes(c.status) && c.assignee_id === store.me?.id && c.unread_count > 0).length;
    const unassigned = store.list((c) => FILTERS.open.includes(c.status) && c.assignee_id == null).length;
    // The tab title's count is static/js/notify.js's (every view has it).
    for (const badge of this.el.querySelectorAll("[data-tab-count]")) {
      const n = badge.dataset.tabCount === "mine" ? unreadMine : badge.dataset.tabCount === "unassigned" ? unassigned : 0;
      badge.textContent = n ? String(n) : "";
    }
    const rows = items.map((c) => this.row(c));
    if (!rows.length && !this.loading) rows.push(h("li", { class: "list-empty" }, t("list.empty")));
    replace(this.rows, rows);
    if (focusedId) this.rows.querySelector(`.conv-item[data-id="${CSS.escape(focusedId)}"]`)?.focus();
    const more = this.cursors.get(this.key());
    replace(
      this.footer,
      more ? h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => this.load({ more: true }) }, t("list.more")) : null,
    );
  }

  row(c) {
    const name = c.contact?.name || c.contact?.id || "?";
    const preview = store.previews.get(c.id);
    const waiting = c.status === "queued" ? fmt.since(c.queued_at || c.created_at) : null;
    const meta = [];
    if (c.unread_count > 0) {
      meta.push(h("span", { class: "badge badge-unread", "aria-label": t("list.unread", { n: c.unread_count }) }, String(c.unread_count)));
    }
    const pills = [];
    if (c.status !== "assigned") pills.push(h("span", { class: `pill pill-${c.status}` }, t(`conv.status.${c.status}`)));
    if (waiting !== null) {
      pills.push(h("span", { class: ["wait", c.sla_breached && "wait-breached"] }, icon("clock", { size: 12 }), t("list.waiting", { d: fmt.duration(waiting) })));
    } else if (c.sla_breached && c.status !== "resolved") {
      pills.push(h("span", { class: "wait wait-breached" }, t("conv.sla")));
    }
    if (this.tab === "all" && c.assignee_id) {
      const who = store.agentName(c.assignee_id);
      if (who) pills.push(h("span", { class: "assignee" }, icon("user", { size: 12 }), who));
    }
    const button = h(
      "a",
      {
        href: `#/c/${c.id}`,
        class: ["conv-item", this.openId === c.id && "active", c.unread_count > 0 && "unread"],
        "aria-current": this.openId === c.id ? "true" : null,
        dataset: { id: String(c.id), status: c.status },
      },
      h("span", { class: "conv-avatar" }, avatar(name), h("span", { class: "conv-channel" }, channelIcon(c.channel?.kind, 16))),
      h(
        "span",
        { class: "conv-body" },
        h("span", { class: "conv-line" }, h("span", { class: "conv-name" }, name), h("span", { class: "conv-time" }, fmt.when(c.last_message_at))),
        h("span", { class: "conv-line" }, h("span", { class: "conv-preview" }, preview ? previewText(preview, { short: true }) : c.channel?.name || ""), ...meta),
        pills.length || c.labels?.length ? h("span", { class: "conv-line conv-pills" }, ...pills, ...(c.labels || []).map(labelChip)) : null,
      ),
    );
    return h("li", {}, button);
  }
}
