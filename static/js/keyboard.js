// Keyboard shortcuts for the inbox (issue 15 item 7): j / k next and previous conversation, e
// resolve, a assign to me, r reply, / search (the top bar's own), ? this help. None fires while
// typing in a field, except Escape, which leaves the field (and closes the help).

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";

export const SHORTCUTS = [
  ["j", "kbd.next"],
  ["k", "kbd.prev"],
  ["e", "kbd.resolve"],
  ["a", "kbd.assign_me"],
  ["r", "kbd.reply"],
  ["/", "kbd.search"],
  ["?", "kbd.help"],
  ["Esc", "kbd.escape"],
];

function typingIn(el) {
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

/** Move to the next (`step` 1) or previous (-1) conversation of the list as shown. */
function step(delta) {
  const items = [...document.querySelectorAll("#conversation-rows .conv-item")];
  if (!items.length) return;
  const at = items.findIndex((a) => a.classList.contains("active"));
  const next = at === -1 ? (delta > 0 ? 0 : items.length - 1) : at + delta;
  const target = items[Math.max(0, Math.min(items.length - 1, next))];
  if (!target || target.classList.contains("active")) return;
  location.hash = target.getAttribute("href");
  target.scrollIntoView({ block: "nearest" });
}

/** Press the open conversation's button for an action, if it is there and enabled. */
function press(action) {
  const button = document.querySelector(`.conv-header [data-action="${action}"]`);
  if (button && !button.disabled) button.click();
}

export class Keyboard {
  constructor() {
    this.overlay = null;
    this.onKey = (e) => this.keydown(e);
    document.addEventListener("keydown", this.onKey);
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey);
    this.closeHelp();
  }

  keydown(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    const el = document.activeElement;
    if (e.key === "Escape") {
      if (this.overlay) {
        e.preventDefault();
        this.closeHelp();
      } else if (typingIn(el) && el.closest(".composer")) {
        el.blur(); // out of the reply box: j / k work again
      }
      return;
    }
    if (typingIn(el)) return;
    switch (e.key) {
      case "?":
        this.overlay ? this.closeHelp() : this.openHelp();
        break;
      case "j":
        step(1);
        break;
      case "k":
        step(-1);
        break;
      case "e":
        press("resolve");
        break;
      case "a":
        press("assign-me");
        break;
      case "r": {
        const box = document.querySelector(".composer .reply-input");
        if (!box || box.disabled) return;
        box.focus();
        break;
      }
      default:
        return;
    }
    e.preventDefault();
  }

  openHelp() {
    const rows = SHORTCUTS.map(([key, label]) => h("li", { class: "kbd-row" }, h("kbd", {}, key), h("span", {}, t(label))));
    const close = h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": t("kbd.close"), onclick: () => this.closeHelp() }, icon("close"));
    const dialog = h(
      "div",
      { class: "kbd-help", role: "dialog", "aria-modal": "true", "aria-labelledby": "kbd-help-title", tabindex: "-1" },
      h("div", { class: "kbd-help-head" }, h("h2", { id: "kbd-help-title" }, icon("keyboard"), t("kbd.title")), close),
      h("ul", { class: "kbd-list" }, rows),
      h("p", { class: "kbd-hint" }, t("kbd.hint")),
    );
    this.returnFocus = document.activeElement;
    this.overlay = h("div", { class: "kbd-backdrop", onclick: (e) => e.target === this.overlay && this.closeHelp() }, dialog);
    document.body.append(this.overlay);
    dialog.focus();
  }

  closeHelp() {
    if (!this.overlay) return;
    this.overlay.remove();
    this.overlay = null;
    if (this.returnFocus && this.returnFocus.focus) this.returnFocus.focus();
  }

  /** Re-render in the new language while open. */
  relabel() {
    if (!this.overlay) return;
    this.closeHelp();
    this.openHelp();
  }
}


