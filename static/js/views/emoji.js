// A small emoji picker for the reply box: a button that opens a grid of the emoji agents use most
// with customers; a click inserts one at the caret. No image assets: the system's emoji font.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";

const EMOJI = [
  "😀", "😊", "😉", "😍", "🥰", "😘", "😂", "🤣", "🙂", "😅", "😎", "🤩",
  "🤔", "😢", "😭", "😡", "😴", "🙏", "👍", "👎", "👏", "🙌", "👋", "🤝",
  "💪", "✌️", "👌", "❤️", "💙", "💚", "🔥", "✨", "🎉", "🎂", "🎁", "⭐",
  "✅", "❌", "⚠️", "📅", "⏰", "📍", "📞", "💬", "📷", "💰", "🚚", "🦷",
];

export class EmojiPicker {
  constructor(onPick) {
    this.onPick = onPick;
    this.grid = h(
      "div",
      { class: "emoji-grid", role: "listbox", "aria-label": t("emoji.title") },
      EMOJI.map((e) =>
        h("button", { type: "button", class: "emoji", role: "option", "aria-label": e, onclick: () => this.pick(e) }, e),
      ),
    );
    this.el = h(
      "details",
      { class: "popover emoji-picker" },
      h("summary", { class: "btn btn-sm btn-ghost btn-icon", dataset: { action: "emoji" }, "aria-label": t("emoji.title"), title: t("emoji.title") }, icon("smile", { size: 16 })),
      h("div", { class: "popover-body emoji-body" }, this.grid),
    );
    this.onOutside = (e) => {
      if (this.el.open && !this.el.contains(e.target)) this.el.open = false;
    };
    this.onKey = (e) => {
      if (e.key === "Escape" && this.el.open) {
        this.el.open = false;
        this.el.querySelector("summary").focus();
      }
    };
    document.addEventListener("pointerdown", this.onOutside);
    this.el.addEventListener("keydown", this.onKey);
  }

  pick(e) {
    this.el.open = false;
    this.onPick(e);
  }

  destroy() {
    document.removeEventListener("pointerdown", this.onOutside);
  }
}
