// Inline SVG icons (drawn here, no icon font or CDN). Decorative by default (aria-hidden); callers
// that use an icon alone give the surrounding button an aria-label.

import { h, s } from "./dom.js";
import { hue, initials } from "./format.js";

const PATHS = {
  check: ["M4 12.5l5 5L20 6.5"],
  checks: ["M2 12.5l5 5L18 6.5", "M10.5 16.5l1 1L22 6.5"],
  clock: ["M12 7v5l3 2", "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z"],
  alert: ["M12 8v5", "M12 16.5v.5", "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z"],
  send: ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"],
  lock: ["M6 11h12v9H6z", "M8.5 11V8a3.5 3.5 0 0 1 7 0v3"],
  bot: ["M5 9h14v10H5z", "M12 5v4", "M9 14h.01", "M15 14h.01", "M2 13v3", "M22 13v3"],
  user: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4 21a8 8 0 0 1 16 0"],
  snooze: ["M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z"],
  resolve: ["M8 12.5l3 3 5-6", "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z"],
  reopen: ["M4 12a8 8 0 1 0 2.5-5.8", "M4 4v5h5"],
  inbox: ["M3 13l3-8h12l3 8v6H3z", "M3 13h5l1 3h6l1-3h5"],
  chart: ["M4 20V4", "M4 20h16", "M8 16v-5", "M12 16V8", "M16 16v-3"],
  logout: ["M15 4h4v16h-4", "M10 8l-4 4 4 4", "M6 12h10"],
  sun: ["M12 17a5 5 0 1 0 0-10 5 5 0 0 0 0 10z", "M12 1v2", "M12 21v2", "M4.2 4.2l1.4 1.4", "M18.4 18.4l1.4 1.4", "M1 12h2", "M21 12h2", "M4.2 19.8l1.4-1.4", "M18.4 5.6l1.4-1.4"],
  file: ["M14 3H6v18h12V7z", "M14 3v4h4"],
  pin: ["M12 21s-7-6.2-7-11a7 7 0 0 1 14 0c0 4.8-7 11-7 11z", "M12 12.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z"],
  handoff: ["M16 11V7a4 4 0 0 0-8 0v4", "M5 11h14v9H5z", "M12 15v2"],
  back: ["M15 5l-7 7 7 7"],
  retry: ["M20 12a8 8 0 1 1-2.4-5.7", "M20 4v5h-5"],
  // agent productivity (issue 15)
  tag: ["M3 12V4h8l10 10-8 8z", "M7.5 8.5h.01"],
  transfer: ["M4 8h14", "M14 4l4 4-4 4", "M20 16H6", "M10 12l-4 4 4 4"],
  search: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M21 21l-5-5"],
  settings: ["M4 6h10", "M18 6h2", "M4 12h4", "M12 12h8", "M4 18h12", "M20 18h0", "M16 4v4", "M10 10v4", "M18 16v4"],
  // composer, keyboard, notifications (issue 15 items 5, 7, 9)
  paperclip: ["M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.6-8.6a3.4 3.4 0 0 1 4.8 4.8l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"],
  smile: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8.5 14.5a4.5 4.5 0 0 0 7 0", "M9 9.5h.01", "M15 9.5h.01"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  bell: ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4z", "M10 20a2 2 0 0 0 4 0"],
  keyboard: ["M3 6h18v12H3z", "M7 10h.01", "M11 10h.01", "M15 10h.01", "M8 14h8"],
};

export function icon(name, { size = 16, label = null, cls = "" } = {}) {
  const attrs = {
    viewBox: "0 0 24 24",
    width: size,
    height: size,
    fill: "none",
    stroke: "currentColor",
    "stroke-width": 2,
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
    class: `icon ${cls}`.trim(),
    focusable: "false",
  };
  if (label) {
    attrs.role = "img";
    attrs["aria-label"] = label;
  } else attrs["aria-hidden"] = "true";
  return s("svg", attrs, ...(PATHS[name] || []).map((d) => s("path", { d })));
}

// Channel marks: a coloured tile with a simple white glyph (recognisable at 16-20 px, not logos).
const CHANNELS = {
  whatsapp: {
    label: "WhatsApp",
    glyph: () => [
      s("path", { d: "M7.5 18.5l.9-3a6 6 0 1 1 2.3 2.2z", fill: "none", stroke: "#fff", "stroke-width": 1.6, "stroke-linejoin": "round" }),
      s("path", { d: "M10 10.2c.3 1.5 1.5 2.8 3 3.3l.8-.8 1.2.6-.3 1.1c-2.6.2-5-2.2-4.8-4.8l1.1-.3.6 1.2z", fill: "#fff" }),
    ],
  },
  instagram: {
    label: "Instagram",
    glyph: () => [
      s("rect", { x: 7, y: 7, width: 10, height: 10, rx: 3, fill: "none", stroke: "#fff", "stroke-width": 1.6 }),
      s("circle", { cx: 12, cy: 12, r: 2.4, fill: "none", stroke: "#fff", "stroke-width": 1.6 }),
      s("circle", { cx: 15, cy: 9, r: 0.8, fill: "#fff" }),
    ],
  },
  messenger: {
    label: "Messenger",
    glyph: () => [
      s("path", { d: "M12 6.5c-3.2 0-5.7 2.3-5.7 5.3 0 1.6.8 3.1 2 4.1v2l1.9-1c.6.2 1.2.2 1.8.2 3.2 0 5.7-2.3 5.7-5.3S15.2 6.5 12 6.5z", fill: "#fff" }),
      s("path", { d: "M8.8 13.4l2.2-2.3 1.3 1.3 2.3-1.3-2.2 2.3-1.3-1.3z", fill: "#0a7cff", stroke: "#0a7cff", "stroke-width": 0.6, "stroke-linejoin": "round" }),
    ],
  },
  telegram: {
    label: "Telegram",
    glyph: () => [s("path", { d: "M6.5 11.8l10.5-4.3-1.8 9.2-3.3-2.4-1.6 1.6-.3-2.6 4.4-4-5.5 3.3z", fill: "#fff" })],
  },
};

export function channelLabel(kind) {
  return (CHANNELS[kind] || { label: kind || "?" }).label;
}

/** A channel tile; `title` gives sighted users the name, the text alternative gives it to others. */
export function channelIcon(kind, size = 18) {
  const c = CHANNELS[kind];
  const label = channelLabel(kind);
  const svg = s(
    "svg",
    { viewBox: "0 0 24 24", width: size, height: size, class: `channel-icon ch-${kind}`, role: "img", "aria-label": label },
    s("title", { text: label }),
    s("rect", { width: 24, height: 24, rx: 6, class: "channel-bg" }),
    ...(c ? c.glyph() : [s("text", { x: 12, y: 16, "text-anchor": "middle", fill: "#fff", "font-size": 10, text: "?" })]),
  );
  return svg;
}

/** Initials on a colour derived from the name. */
export function avatar(name, size = "md") {
  const el = h("span", { class: `avatar avatar-${size}`, "aria-hidden": "true" }, initials(name));
  el.style.setProperty("--hue", String(hue(name)));
  return el;
}
