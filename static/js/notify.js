// Notifications (issue 15 item 9): the tab title counts my conversations with unread messages
// ("(3) Inbox"), in every view; a conversation newly assigned to me while the tab is hidden plays a
// short sound (WebAudio, no asset) and shows a browser notification when permission was granted
// (asked from the bell in the top bar: browsers only ask after a click).

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";
import { FILTERS } from "./store.js";

export class Notifier {
  constructor(store) {
    this.store = store;
    this.audio = null;
    this.onChange = () => this.renderTitle();
    store.addEventListener("conversations", this.onChange);
    store.addEventListener("me", this.onChange);
    // Browsers let a page make sound only after the user interacted with it: the audio context is
    // made (and resumed) on the first interaction, so that a later beep from a hidden tab plays.
    this.onGesture = () => this.unlockAudio();
    for (const name of ["pointerdown", "keydown"]) document.addEventListener(name, this.onGesture, { capture: true });
    this.renderTitle();
  }

  destroy() {
    this.store.removeEventListener("conversations", this.onChange);
    this.store.removeEventListener("me", this.onChange);
    for (const name of ["pointerdown", "keydown"]) document.removeEventListener(name, this.onGesture, { capture: true });
    if (this.audio) this.audio.close().catch(() => {});
    document.title = t("app.name");
  }

  unreadMine() {
    const me = this.store.me && this.store.me.id;
    return this.store.list((c) => FILTERS.open.includes(c.status) && c.assignee_id === me && c.unread_count > 0).length;
  }

  renderTitle() {
    const n = this.unreadMine();
    const title = n ? `(${n}) ${t("app.name")}` : t("app.name");
    if (document.title !== title) document.title = title;
  }

  /** A realtime frame, before the store applies it (so "newly assigned to me" can be told). */
  observe(frame) {
    if (frame.type !== "conversation.created" && frame.type !== "conversation.updated") return;
    const conv = frame.data;
    const me = this.store.me && this.store.me.id;
    if (!conv || me == null || conv.assignee_id !== me || !FILTERS.open.includes(conv.status)) return;
    const before = this.store.conversations.get(conv.id);
    if (before && before.assignee_id === me) return;
    if (document.visibilityState !== "hidden") return; // the list shows it
    this.beep();
    this.show(conv);
  }

  show(conv) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    try {
      const n = new Notification(t("notify.assigned", { name: conv.contact?.name || "?" }), {
        body: t("notify.body", { channel: conv.channel?.name || conv.channel?.kind || "" }),
        tag: `conversation-${conv.id}`,
      });
      n.onclick = () => {
        window.focus();
        location.hash = `#/c/${conv.id}`;
        n.close();
      };
    } catch {
      /* some browsers only notify from a service worker: the sound and the title still tell */
    }
  }

  unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      if (!this.audio) this.audio = new Ctx();
      if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    } catch {
      /* no audio here */
    }
  }

  /** Two short soft tones. */
  beep() {
    const ctx = this.audio;
    if (!ctx || ctx.state !== "running") return;
    const now = ctx.currentTime;
    for (const [freq, at] of [[880, 0], [1320, 0.16]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.2, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.14);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.15);
    }
  }

  /** The top bar's bell: asks the browser for permission (only a click may), shows the state. */
  bell() {
    const supported = typeof Notification !== "undefined";
    const state = supported ? Notification.permission : "denied";
    const label = state === "granted" ? t("notify.on") : state === "denied" ? t("notify.blocked") : t("notify.enable");
    const button = h(
      "button",
      {
        type: "button",
        class: ["btn", "btn-ghost", "btn-icon", "notify-bell", `is-${state}`],
        "aria-label": label,
        title: label,
        dataset: { notify: state },
        disabled: !supported || state === "denied",
        onclick: async () => {
          this.unlockAudio();
          if (Notification.permission === "default") await Notification.requestPermission();
          button.replaceWith(this.bell());
        },
      },
      icon("bell"),
    );
    return button;
  }
}
