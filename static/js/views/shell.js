// The frame around every view: top bar (navigation, my status, language, theme, sign out), the
// offline banner driven by the realtime link's state, and the main area the views mount into.

import * as api from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { avatar, icon } from "../icons.js";
import { store } from "../store.js";
import { prefsControls } from "./prefs.js";

const STATUSES = ["online", "away", "offline"];

export class Shell {
  constructor(root, { rt, logout, notifier }) {
    this.root = root;
    this.rt = rt;
    this.logout = logout;
    this.notifier = notifier;
    this.active = "inbox";
    this.wasOnline = false;
    this.topbar = h("header", { class: "topbar" });
    this.banner = h("div", { class: "banner", role: "status", "aria-live": "polite", hidden: true });
    this.main = h("main", { class: "main", id: "main" });
    replace(root, this.topbar, this.banner, this.main);
    this.onState = () => this.renderBanner();
    this.onMe = () => this.renderStatus();
    rt.addEventListener("state", this.onState);
    store.addEventListener("me", this.onMe);
    this.render();
  }

  destroy() {
    if (this.onSlash) document.removeEventListener("keydown", this.onSlash);
    this.rt.removeEventListener("state", this.onState);
    store.removeEventListener("me", this.onMe);
  }

  render() {
    const me = store.me || {};
    const nav = h("nav", { class: "nav", "aria-label": t("app.name") });
    const link = (name, href, label, ic) =>
      h(
        "a",
        { href, class: ["nav-link", this.active === name && "active"], "aria-current": this.active === name ? "page" : null, dataset: { view: name } },
        icon(ic),
        h("span", {}, label),
      );
    nav.append(link("inbox", "#/", t("nav.inbox"), "inbox"));
    if (store.sees_all) nav.append(link("supervisor", "#/supervisor", t("nav.supervisor"), "chart"));
    if (store.sees_all) nav.append(link("manage", "#/manage", t("nav.manage"), "settings"));
    if (me.role === "admin") nav.append(link("admin", "#/admin", t("nav.admin"), "lock"));
    if (me.role === "supervisor") nav.append(link("automations", "#/admin/automations", t("nav.automations"), "clock"));
    this.statusBox = h("div", { class: "status-switch" });
    replace(
      this.topbar,
      h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", {}, t("app.name"))),
      nav,
      this.searchForm(),
      h("div", { class: "topbar-spacer" }),
      this.statusBox,
      this.notifier ? this.notifier.bell() : null,
      prefsControls(),
      h("div", { class: "me" }, avatar(me.name || me.email, "sm"), h("span", { class: "me-name" }, me.name || me.email || "")),
      h(
        "button",
        { type: "button", class: "btn btn-ghost btn-icon", "aria-label": t("nav.logout"), title: t("nav.logout"), onclick: () => this.logout() },
        icon("logout"),
      ),
    );
    this.renderStatus();
    this.renderBanner();
  }

  /** Search across messages and contacts: Enter opens the results (#/search?q=...). "/" focuses it
   * from anywhere but a text field. */
  searchForm() {
    const input = h("input", { id: "search-input", type: "search", class: "input input-sm search-input", placeholder: t("search.placeholder"), autocomplete: "off", maxlength: 200 });
    if (!this.onSlash) {
      this.onSlash = (e) => {
        const el = document.activeElement;
        const typing = el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
        if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
          e.preventDefault();
          document.getElementById("search-input")?.focus();
        }
      };
      document.addEventListener("keydown", this.onSlash);
    }
    return h(
      "form",
      {
        class: "search-form",
        role: "search",
        onsubmit: (e) => {
          e.preventDefault();
          const q = input.value.trim();
          if (q) location.hash = `#/search?q=${encodeURIComponent(q)}`;
        },
      },
      h("label", { for: "search-input", class: "sr-only" }, t("search.label")),
      icon("search", { size: 14, cls: "search-icon" }),
      input,
    );
  }

  setActive(name) {
    this.active = name;
    for (const a of this.topbar.querySelectorAll(".nav-link")) {
      const on = a.dataset.view === name;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  renderStatus() {
    if (!this.statusBox) return;
    const current = (store.me && store.me.status) || "offline";
    const sel = h("select", {
      id: "my-status",
      class: "select select-sm",
      onchange: async (e) => {
        const value = e.target.value;
        sel.disabled = true;
        try {
          const agent = await api.put("/api/agents/me/status", { status: value });
          store.setMe({ status: (agent && agent.status) || value });
          if (agent && agent.id) store.upsertAgent(agent);
        } catch {
          sel.value = (store.me && store.me.status) || "offline";
        } finally {
          sel.disabled = false;
        }
      },
    });
    for (const s of STATUSES) sel.append(h("option", { value: s }, t(`agent.${s}`)));
    sel.value = current;
    replace(
      this.statusBox,
      h("span", { class: `dot dot-${current}`, "aria-hidden": "true" }),
      h("label", { for: "my-status", class: "sr-only" }, t("status.label")),
      sel,
    );
  }

  renderBanner() {
    const state = this.rt.state;
    if (state === "online") this.wasOnline = true;
    // The very first connect is not news; losing an established link is.
    const show = state === "offline" || (state === "connecting" && this.wasOnline);
    this.banner.hidden = !show;
    document.body.classList.toggle("is-offline", show);
    if (!show) return;
    replace(
      this.banner,
      h("span", { class: "banner-dot", "aria-hidden": "true" }),
      h("span", { class: "banner-text" }, t("banner.offline")),
      h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => this.rt.reconnectNow() }, t("banner.retry")),
    );
  }
}
