// The open conversation's header: who and where, its status, and the actions: assign / transfer
// (agent picker), assign to me, take over from the bot (handoff), snooze until a time, resolve, reopen.
// Results arrive back as conversation.updated events; the answer is applied at once too.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { avatar, channelIcon, channelLabel, icon } from "../icons.js";
import { store } from "../store.js";
import { labelChip, labelPicker } from "./labels.js";
import { transferPopover } from "./transfer.js";

function pad(n) {
  return String(n).padStart(2, "0");
}

/** A Date as the value of <input type=datetime-local> (local time). */
function localInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export class ConversationHeader {
  constructor({ session, id }) {
    this.session = session;
    this.id = id;
    this.el = h("header", { class: "conv-header" });
    this.error = h("p", { class: "form-error conv-error", role: "alert", hidden: true });
    this.sig = null;
  }

  async act(path, body, button) {
    this.error.hidden = true;
    if (button) button.disabled = true;
    const mark = store.tick;
    try {
      const result = await api.post(`/api/conversations/${this.id}/${path}`, body);
      if (result && result.id === this.id) store.upsertConversation(result, { fromApi: true, mark });
    } catch (err) {
      this.fail(err);
    } finally {
      if (button) button.disabled = false;
    }
  }

  fail(err) {
    this.error.textContent = t("conv.action_failed", { e: err.status === 0 ? t("error.network") : err.message });
    this.error.hidden = false;
  }

  render(conv) {
    // Rebuild only when something shown changed (keeps focus in the picker while events flow).
    const agents = [...store.agents.values()].map((a) => [a.id, a.name, a.status, a.disabled]);
    const shown = conv && [conv.status, conv.assignee_id, conv.contact, conv.channel, conv.sla_breached, conv.labels];
    const sig = JSON.stringify([shown, agents, store.me?.id]);
    if (sig === this.sig) return;
    this.sig = sig;
    if (!conv) {
      replace(this.el, h("div", { class: "conv-title" }, t("conv.loading")));
      return;
    }
    const name = conv.contact?.name || "?";
    const title = h(
      "div",
      { class: "conv-title" },
      h("a", { href: "#/", class: "btn btn-ghost btn-icon conv-back", "aria-label": t("conv.back") }, icon("back")),
      avatar(name),
      h(
        "div",
        { class: "conv-title-text" },
        h("h2", { class: "conv-name" }, name),
        h(
          "div",
          { class: "conv-sub" },
          channelIcon(conv.channel?.kind, 14),
          h("span", {}, conv.channel?.name || channelLabel(conv.channel?.kind)),
          h("span", { class: `pill pill-${conv.status}`, dataset: { convStatus: conv.status } }, t(`conv.status.${conv.status}`)),
          conv.sla_breached && conv.status !== "resolved" ? h("span", { class: "pill pill-breached" }, t("conv.sla")) : null,
          h("span", { class: "conv-labels", dataset: { convLabels: "" } }, (conv.labels || []).map(labelChip)),
        ),
      ),
    );
    // A label ticked in the open picker changes the header: keep the picker open and the focus put.
    const openAction = this.el.querySelector("details[open] > summary")?.dataset.action;
    const focusedId = this.el.contains(document.activeElement) ? document.activeElement.id : null;
    replace(this.el, title, this.actions(conv), this.error);
    if (openAction) {
      const summary = this.el.querySelector(`summary[data-action="${openAction}"]`);
      if (summary) summary.parentElement.open = true;
    }
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  actions(conv) {
    const box = h("div", { class: "conv-actions" });
    const me = store.me || {};
    if (conv.status === "bot") {
      box.append(
        h("button", { type: "button", class: "btn btn-primary btn-sm", dataset: { action: "handoff" }, onclick: (e) => this.act("handoff", {}, e.currentTarget) }, icon("handoff"), t("conv.handoff")),
      );
    }
    if (conv.status !== "resolved") {
      box.append(this.assignee(conv));
      if (conv.assignee_id !== me.id) {
        box.append(
          h("button", { type: "button", class: "btn btn-sm", dataset: { action: "assign-me" }, onclick: (e) => this.act("assign", { agent_id: me.id }, e.currentTarget) }, icon("user"), t("conv.assign_me")),
        );
      }
      box.append(labelPicker(conv, (err) => this.fail(err)));
      box.append(transferPopover(conv, (path, body, button) => this.act(path, body, button)));
      box.append(this.snooze(conv));
      box.append(
        h("button", { type: "button", class: "btn btn-sm btn-success", dataset: { action: "resolve" }, onclick: (e) => this.act("resolve", {}, e.currentTarget) }, icon("resolve"), t("conv.resolve")),
      );
    } else {
      box.append(
        h("button", { type: "button", class: "btn btn-sm", dataset: { action: "reopen" }, onclick: (e) => this.act("reopen", {}, e.currentTarget) }, icon("reopen"), t("conv.reopen")),
      );
    }
    return box;
  }

  assignee(conv) {
    const id = `assignee-${conv.id}`;
    const sel = h("select", {
      id,
      class: "select select-sm",
      dataset: { action: "assign" },
      onchange: (e) => {
        const v = e.target.value;
        this.act("assign", { agent_id: v === "" ? null : Number(v) || v }, e.target);
      },
    });
    sel.append(h("option", { value: "" }, t("conv.unassigned")));
    sel.title = t("conv.assignee");
    const agents = [...store.agents.values()].filter((a) => !a.disabled).sort((a, b) => a.name.localeCompare(b.name));
    if (conv.assignee_id && !store.agents.has(conv.assignee_id)) agents.unshift({ id: conv.assignee_id, name: `#${conv.assignee_id}`, status: "" });
    for (const a of agents) {
      const status = a.status ? ` · ${t(`agent.${a.status}`)}` : "";
      sel.append(h("option", { value: String(a.id) }, `${a.name}${status}`));
    }
    sel.value = conv.assignee_id ? String(conv.assignee_id) : "";
    return h("div", { class: "field-inline" }, h("label", { for: id, class: "sr-only" }, t("conv.assignee")), sel);
  }

  snooze(conv) {
    const inputId = `snooze-${conv.id}`;
    const input = h("input", { id: inputId, type: "datetime-local", class: "input input-sm", required: true });
    const tomorrow = new Date();
    tomorrow.setDate(tomorrow.getDate() + 1);
    tomorrow.setHours(9, 0, 0, 0);
    input.value = localInput(new Date(Date.now() + 3600_000));
    input.min = localInput(new Date());
    const details = h("details", { class: "popover" });
    const go = (date, button) => {
      details.open = false;
      this.act("snooze", { until: date.toISOString() }, button);
    };
    const preset = (label, date) => h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: (e) => go(date, e.currentTarget) }, label);
    details.append(
      h("summary", { class: "btn btn-sm", dataset: { action: "snooze" } }, icon("snooze"), t("conv.snooze")),
      h(
        "div",
        { class: "popover-body" },
        preset(t("conv.snooze_1h"), new Date(Date.now() + 3600_000)),
        preset(t("conv.snooze_4h"), new Date(Date.now() + 4 * 3600_000)),
        preset(t("conv.snooze_tomorrow"), tomorrow),
        h(
          "form",
          {
            class: "snooze-form",
            onsubmit: (e) => {
              e.preventDefault();
              if (input.value) go(new Date(input.value), e.submitter);
            },
          },
          h("label", { for: inputId }, t("conv.snooze_until")),
          input,
          h("button", { type: "submit", class: "btn btn-sm btn-primary" }, t("conv.snooze_go")),
        ),
      ),
    );
    details.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && details.open) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    });
    return details;
  }
}
