// One message: sender, attachments (image preview, audio/video players, files and locations as
// links; files uploaded here are fetched with the agent's token), text with web links, time, delivery ticks, failure reason with Retry; private notes and
// system messages styled apart; deleted ones say so. Text only ever becomes text nodes.

import * as api from "../api.js";
import { h, linkify, safeUrl } from "../dom.js";
import * as fmt from "../format.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { store } from "../store.js";

const TICKS = {
  queued: "clock",
  sent: "check",
  delivered: "checks",
  read: "checks",
  failed: "alert",
};

export function senderName(msg, conv) {
  const type = msg.sender?.type;
  if (type === "contact") return conv?.contact?.name || t("msg.customer");
  if (type === "bot") return t("msg.bot");
  if (type === "system") return t("msg.system");
  if (store.me && msg.sender?.id === store.me.id) return t("msg.you");
  return store.agentName(msg.sender?.id) || t("msg.agent");
}

/** The message's text; a system line in the agent's language when it came with a code (else as the
 * server wrote it, in English). */
export function messageText(msg) {
  return msg.text_code ? fmt.serverText(msg.text_code, msg.text || "") : msg.text;
}

/** A one-line summary for the conversation list. */
export function previewText(msg, { short = false } = {}) {
  const parts = [];
  if (msg.private || msg.status === "note") parts.push(h("span", { class: "preview-note" }, icon("lock", { size: 12 })));
  else if (msg.direction === "out" && msg.sender?.type !== "system") parts.push(`${senderName(msg)}: `);
  if (msg.deleted) {
    parts.push(h("em", {}, t("msg.deleted")));
    return parts;
  }
  let text = (messageText(msg) || "").replace(/\s+/g, " ").trim();
  if (!text && msg.attachments?.length) {
    const a = msg.attachments[0];
    text = a.name || (a.kind === "image" ? t("msg.image") : t("msg.file"));
  }
  if (!text) text = msg.kind === "unsupported" ? t("msg.unsupported") : `[${msg.kind}]`;
  if (short && text.length > 120) text = `${text.slice(0, 117)}…`;
  parts.push(text);
  return parts;
}

/** A file uploaded here: its elements get their address once the file is fetched with the token
 * (the app serves it to signed-in agents only). */
function uploaded(a) {
  const name = a.name || (a.kind === "image" ? t("msg.image") : t("msg.file"));
  let el;
  let media = null;
  if (a.kind === "image") {
    media = h("img", { alt: name, loading: "lazy" });
    el = h("a", { class: "att att-image", target: "_blank", rel: "noopener noreferrer" }, media);
  } else if (a.kind === "audio") {
    el = media = h("audio", { class: "att att-audio", controls: true, preload: "none" });
  } else if (a.kind === "video") {
    el = media = h("video", { class: "att att-video", controls: true, preload: "metadata" });
  } else {
    el = h("a", { class: "att att-file", download: name }, icon("file"), h("span", {}, name));
  }
  el.dataset.upload = String(a.upload_id);
  api.blobUrl(a.url).then(
    (url) => {
      if (media) media.src = url;
      if (el.tagName === "A") el.href = url;
    },
    () => el.classList.add("att-missing"),
  );
  return el;
}

function attachment(a) {
  if (a.upload_id != null && typeof a.url === "string" && a.url.startsWith("/api/uploads/")) return uploaded(a);
  const url = safeUrl(a.url);
  const name = a.name || (a.kind === "image" ? t("msg.image") : t("msg.file"));
  if (!url) return h("div", { class: "att att-file" }, icon("file"), h("span", {}, name));
  const kind = a.kind || (a.mime_type || "").split("/")[0];
  if (kind === "image" || kind === "sticker") {
    return h(
      "a",
      { class: "att att-image", href: url, target: "_blank", rel: "noopener noreferrer" },
      h("img", { src: url, alt: a.name || t("msg.image"), loading: "lazy", referrerpolicy: "no-referrer" }),
    );
  }
  if (kind === "audio") return h("audio", { class: "att att-audio", controls: true, preload: "none", src: url });
  if (kind === "video") return h("video", { class: "att att-video", controls: true, preload: "metadata", src: url });
  return h(
    "a",
    { class: "att att-file", href: url, target: "_blank", rel: "noopener noreferrer", download: a.name || "" },
    icon("file"),
    h("span", {}, name),
  );
}

function body(msg) {
  const out = [];
  if (msg.deleted) {
    out.push(h("p", { class: "msg-text msg-deleted" }, t("msg.deleted")));
    return out;
  }
  for (const a of msg.attachments || []) out.push(attachment(a));
  if (msg.kind === "location" && msg.text) {
    const link = (msg.text.match(/https?:\/\/\S+/) || [])[0];
    const rest = msg.text.replace(/https?:\/\/\S+/g, "").trim();
    out.push(h("p", { class: "msg-text" }, icon("pin", { size: 14 }), " ", rest));
    const href = safeUrl(link);
    if (href) out.push(h("a", { class: "att att-location", href, target: "_blank", rel: "noopener noreferrer" }, icon("pin"), t("msg.open_map")));
  } else if (msg.text) {
    out.push(h("p", { class: "msg-text" }, linkify(msg.text)));
  } else if (!out.length) {
    out.push(h("p", { class: "msg-text msg-muted" }, msg.kind === "unsupported" ? t("msg.unsupported") : `[${msg.kind}]`));
  }
  return out;
}

function ticks(msg) {
  const name = TICKS[msg.status];
  if (!name || msg.direction !== "out") return null;
  return h(
    "span",
    { class: `tick tick-${msg.status}`, title: t(`tick.${msg.status}`), dataset: { status: msg.status } },
    icon(name, { size: 14, label: t(`tick.${msg.status}`) }),
  );
}

/** `onRetry(msg)` is called by the Retry button of a failed message. */
export function renderMessage(msg, conv, { showSender = true, onRetry } = {}) {
  const type = msg.sender?.type;
  if (type === "system") {
    return h(
      "li",
      { class: "msg msg-system", dataset: { id: String(msg.id) } },
      h("span", { class: "msg-system-text" }, messageText(msg) || "", h("time", { datetime: msg.created_at }, ` · ${fmt.time(msg.created_at)}`)),
    );
  }
  const note = msg.private || msg.status === "note";
  const side = msg.direction === "in" ? "in" : "out";
  const cls = ["msg", `msg-${side}`, note && "msg-note", type === "bot" && "msg-bot", msg.status === "failed" && "msg-failed"];
  const head = [];
  if (note) head.push(h("span", { class: "note-label" }, icon("lock", { size: 12 }), t("msg.note")), " · ");
  if (showSender || note) head.push(h("span", { class: "msg-sender" }, type === "bot" ? icon("bot", { size: 12 }) : null, senderName(msg, conv)));
  const bubble = h(
    "div",
    { class: "bubble" },
    head.length ? h("div", { class: "msg-head" }, head) : null,
    body(msg),
    h("div", { class: "msg-foot" }, h("time", { datetime: msg.created_at, title: fmt.dateTime(msg.created_at) }, fmt.time(msg.created_at)), note ? null : ticks(msg)),
  );
  const li = h("li", { class: cls, dataset: { id: String(msg.id), status: msg.status } }, bubble);
  if (msg.status === "failed") {
    li.append(
      h(
        "div",
        { class: "msg-error", role: "alert" },
        icon("alert", { size: 14 }),
        h("span", { class: "msg-error-text" }, msg.error ? t("msg.failed", { e: msg.error }) : t("msg.failed_plain")),
        onRetry
          ? h("button", { type: "button", class: "btn btn-sm btn-danger-ghost", onclick: (e) => onRetry(msg, e.currentTarget) }, icon("retry", { size: 14 }), t("msg.retry"))
          : null,
      ),
    );
  }
  return li;
}
