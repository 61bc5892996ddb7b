// The header's Transfer popover: to an agent and/or a queue, with an optional note for whoever
// receives it. The targets are loaded when it opens; the answer updates the store at once and the
// receiving agent hears of it by its own websocket (conversation.updated).

import * as api from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";

export function transferPopover(conv, act) {
  const agentSel = h("select", { id: `transfer-agent-${conv.id}`, class: "select select-sm", name: "agent_id" });
  const queueSel = h("select", { id: `transfer-queue-${conv.id}`, class: "select select-sm", name: "queue_id" });
  const note = h("textarea", { id: `transfer-note-${conv.id}`, class: "input transfer-note", rows: 2, maxlength: 1000, name: "note" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const details = h("details", { class: "popover" });
  const fill = (data) => {
    agentSel.replaceChildren(h("option", { value: "" }, t("transfer.no_agent")));
    for (const a of data.agents) {
      if (a.id === conv.assignee_id) continue;
      agentSel.append(h("option", { value: String(a.id) }, `${a.name} · ${t(`agent.${a.status}`)}`));
    }
    queueSel.replaceChildren(h("option", { value: "" }, t("transfer.no_queue")));
    for (const q of data.queues) queueSel.append(h("option", { value: String(q.id) }, q.name));
  };
  const form = h(
    "form",
    {
      class: "transfer-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = {};
        if (agentSel.value) body.agent_id = Number(agentSel.value);
        if (queueSel.value) body.queue_id = Number(queueSel.value);
        if (!body.agent_id && !body.queue_id) {
          error.textContent = t("transfer.pick");
          error.hidden = false;
          return;
        }
        if (note.value.trim()) body.note = note.value.trim();
        error.hidden = true;
        details.open = false;
        await act("transfer", body, e.submitter);
      },
    },
    h("label", { for: agentSel.id }, t("transfer.to_agent")),
    agentSel,
    h("label", { for: queueSel.id }, t("transfer.to_queue")),
    queueSel,
    h("label", { for: note.id }, t("transfer.note")),
    note,
    error,
    h("button", { type: "submit", class: "btn btn-sm btn-primary", dataset: { action: "transfer-go" } }, t("transfer.go")),
  );
  details.append(
    h("summary", { class: "btn btn-sm", dataset: { action: "transfer" } }, icon("transfer", { size: 14 }), t("transfer.title")),
    h("div", { class: "popover-body transfer-body" }, form),
  );
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    try {
      fill(await api.get("/api/transfer-targets"));
      agentSel.focus();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  details.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && details.open) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  });
  return details;
}
