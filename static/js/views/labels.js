// Labels in the inbox: the tenant's set (loaded once, refreshed by the manage page), coloured chips,
// the header's picker that replaces a conversation's labels, and the list's label filter options.
// The server answers and a conversation.updated event carries `labels`, so every list follows live.

import * as api from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { store } from "../store.js";

export const labelSet = new (class extends EventTarget {
  constructor() {
    super();
    this.items = [];
    this.loading = null;
  }

  load(force = false) {
    if (this.loading && !force) return this.loading;
    this.loading = api.get("/api/labels").then(
      (data) => {
        this.items = data.items;
        this.dispatchEvent(new Event("change"));
        return this.items;
      },
      () => {
        this.loading = null;
        return this.items;
      },
    );
    return this.loading;
  }
})();

/** A label as a chip tinted with its colour (readable in light and dark: the text keeps the theme's
 * colour, the colour is a dot and a soft border). */
export function labelChip(label) {
  const chip = h("span", { class: "label-chip", dataset: { label: label.name } }, h("span", { class: "label-dot", "aria-hidden": "true" }), label.name);
  chip.style.setProperty("--label", label.color);
  return chip;
}

/** The header's label picker: a checkbox per tenant label; each change posts the new set. */
export function labelPicker(conv, onError) {
  const current = new Set((conv.labels || []).map((l) => l.name));
  const body = h("div", { class: "popover-body label-picker", role: "group", "aria-label": t("labels.title") });
  const details = h("details", { class: "popover" }, h("summary", { class: "btn btn-sm", dataset: { action: "labels" } }, icon("tag", { size: 14 }), t("labels.title")), body);
  const fill = () => {
    body.replaceChildren();
    if (!labelSet.items.length) body.append(h("p", { class: "muted-note" }, t("labels.none_defined")));
    for (const label of labelSet.items) {
      const id = `label-${conv.id}-${label.id}`;
      const box = h("input", {
        type: "checkbox",
        id,
        checked: current.has(label.name),
        onchange: async (e) => {
          if (e.target.checked) current.add(label.name);
          else current.delete(label.name);
          e.target.disabled = true;
          const mark = store.tick;
          try {
            const updated = await api.post(`/api/conversations/${conv.id}/labels`, { labels: [...current] });
            store.upsertConversation(updated, { fromApi: true, mark });
          } catch (err) {
            onError(err);
          } finally {
            e.target.disabled = false;
          }
        },
      });
      body.append(h("label", { for: id, class: "label-option" }, box, labelChip(label)));
    }
  };
  details.addEventListener("toggle", () => {
    if (details.open) labelSet.load().then(fill);
  });
  details.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && details.open) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  });
  fill();
  return details;
}
