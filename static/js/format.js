// Dates, durations and small labels, in the chosen language. Server times are ISO 8601 UTC;
// they are shown in the browser's time zone.

import { has, locale, t } from "./i18n.js";

export function parse(iso) {
  return iso ? new Date(iso) : null;
}

const units = new Map(); // "locale unit" -> Intl.NumberFormat

/** `n` with a short unit in the chosen locale: "3h" / "3 h", "59m" / "59 min", "1.5 MB" / "1,5 MB". */
function unit(n, name, display = "narrow") {
  const key = `${locale()} ${name} ${display}`;
  if (!units.has(key)) {
    units.set(key, new Intl.NumberFormat(locale(), { style: "unit", unit: name, unitDisplay: display, maximumFractionDigits: 1 }));
  }
  return units.get(key).format(n);
}

/** "4s", "12m", "3h 5m", "2d 4h" in English; "4 s", "12 min", "3 h 5 min" in Portuguese (Intl units). */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return unit(s, "second");
  const m = Math.floor(s / 60);
  if (m < 60) return unit(m, "minute");
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${unit(h, "hour")} ${unit(m % 60, "minute")}` : unit(h, "hour");
  const d = Math.floor(h / 24);
  return h % 24 ? `${unit(d, "day")} ${unit(h % 24, "hour")}` : unit(d, "day");
}

/** A file size: "300 B", "12 kB", "1.5 MB" ("1,5 MB" in Portuguese). */
export function bytes(n) {
  if (n < 1024) return `${number(n)} B`;
  if (n < 1024 * 1024) return unit(Math.round(n / 1024), "kilobyte", "short");
  return unit(n / (1024 * 1024), "megabyte", "short");
}

export function since(iso, now = Date.now()) {
  const d = parse(iso);
  return d ? (now - d.getTime()) / 1000 : null;
}

export function time(iso) {
  const d = parse(iso);
  return d ? d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" }) : "";
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

export function day(iso) {
  const d = parse(iso);
  if (!d) return "";
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (sameDay(d, today)) return t("day.today");
  if (sameDay(d, yesterday)) return t("day.yesterday");
  return d.toLocaleDateString(locale(), { day: "numeric", month: "short", year: "numeric" });
}

export function dayKey(iso) {
  const d = parse(iso);
  return d ? `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}` : "";
}

/** A compact "when" for lists: time today, else a short date. */
export function when(iso) {
  const d = parse(iso);
  if (!d) return "";
  if (sameDay(d, new Date())) return time(iso);
  return d.toLocaleDateString(locale(), { day: "numeric", month: "short" });
}

export function dateTime(iso) {
  const d = parse(iso);
  return d ? d.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "";
}

/** "in 5 minutes" / "5 minutes ago" */
export function relative(iso) {
  const d = parse(iso);
  if (!d) return "";
  const secs = (d.getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  const abs = Math.abs(secs);
  if (abs < 60) return rtf.format(Math.round(secs), "second");
  if (abs < 3600) return rtf.format(Math.round(secs / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), "hour");
  return rtf.format(Math.round(secs / 86400), "day");
}

export function number(n) {
  return n === null || n === undefined ? "—" : new Intl.NumberFormat(locale()).format(n);
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

/** A stable hue for a name, for avatars. */
export function hue(text) {
  let x = 0;
  for (const ch of String(text || "")) x = (x * 31 + ch.codePointAt(0)) % 360;
  return x;
}

// ---- Server texts and errors by code, in the chosen language (issue 17 item 3)

// Parameters of server texts that hold a time (ISO 8601, UTC) or a size in bytes: shown in the locale.
const TIME_PARAMS = new Set(["until", "since"]);
const BYTES_PARAMS = new Set(["max_bytes"]);

function param(name, value) {
  if (TIME_PARAMS.has(name) && !Number.isNaN(new Date(value).getTime())) return dateTime(value);
  if (BYTES_PARAMS.has(name) && typeof value === "number") return bytes(value);
  return value;
}

// The text of {code, params} in the chosen language, or null when a code (or a nested one) is unknown.
function rendered(coded) {
  if (!coded || typeof coded.code !== "string" || !has(`sys.${coded.code}`)) return null;
  const vars = {};
  for (const [name, value] of Object.entries(coded.params || {})) {
    if (value && typeof value === "object") {
      const inner = rendered(value);
      if (inner === null) return null;
      vars[name] = inner;
    } else {
      vars[name] = param(name, value);
    }
  }
  return t(`sys.${coded.code}`, vars);
}

/** A server text `{code, params}` (a system message's `text_code`) in the chosen language;
 * `fallback` (the server's English text) when this page does not know the code. */
export function serverText(coded, fallback = "") {
  return rendered(coded) ?? fallback;
}

/** An API error in the chosen language: the translation of its `code` (with its `params`, and
 * {error} for the server's English reason), else `fallback` (that reason). */
export function errorText(code, params, fallback) {
  if (!code || !has(`err.${code}`)) return fallback;
  const vars = { error: fallback };
  for (const [name, value] of Object.entries(params || {})) vars[name] = param(name, value);
  return t(`err.${code}`, vars);
}
