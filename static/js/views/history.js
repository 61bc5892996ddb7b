// A conversation's assignment history (issue 17): who held it, from when, and why it moved (auto,
// manual, transfer, bot handoff, requeue, ...). A folded panel above the messages, loaded when
// opened and again when the conversation changes hands; the timeline's system lines stay as they
// are, so nothing is shown twice in the message list.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { store } from "../store.js";

export class HistoryPanel {
  constructor(id) {
    this.id = id;
    this.list = h("ol", { class: "assign-history-list" });
    this.el = h(
      "details",
      { class: "assign-history", id: "assign-history", ontoggle: () => this.el.open && this.load() },
      h("summary", {}, t("hist.title")),
      this.list,
    );
    this.seen = null; // the assignee and status last loaded for, to reload only on a change of hands
  }

  /** The conversation row changed: reload if its hands did and the panel is open. */
  update(conv) {
    const sig = conv ? `${conv.assignee_id}:${conv.status}` : null;
    if (sig === this.seen) return;
    this.seen = sig;
    if (this.el.open) this.load();
  }

  async load() {
    try {
      const { items } = await api.get(`/api/conversations/${this.id}/assignments`);
      replace(this.list, items.length ? items.map(entry) : h("li", { class: "muted" }, t("hist.none")));
    } catch (err) {
      replace(this.list, h("li", { class: "text-danger" }, err.status === 0 ? t("error.network") : err.message));
    }
  }
}

function who(id) {
  return id === null || id === undefined ? null : store.agentName(id) || `#${id}`;
}

function entry(row) {
  // Nobody held it before: the bot (a handoff) or a queue; a resolution hands it to nobody.
  const from = who(row.from_agent_id) || (row.reason === "handoff" ? t("hist.bot") : t("hist.nobody"));
  const to = who(row.to_agent_id) || t("hist.nobody");
  const move = row.reason === "resolve" ? from : `${from} → ${to}`;
  const by = who(row.actor_id);
  return h(
    "li",
    { class: "assign-entry", dataset: { reason: row.reason } },
    h("time", { datetime: row.at, title: fmt.dateTime(row.at) }, fmt.when(row.at)),
    h("span", { class: "assign-reason" }, t(`hist.reason.${row.reason}`)),
    h("span", { class: "assign-move" }, move),
    by ? h("span", { class: "muted" }, t("hist.by", { name: by })) : null,
  );
}
