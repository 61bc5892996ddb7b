// A small inline SVG chart: bars (count per hour) and an optional line (first response time per
// hour, right axis). Colours come from CSS classes, so both themes work. No library needed.

import { h, s } from "../dom.js";
import * as fmt from "../format.js";
import { locale } from "../i18n.js";

const W = 640;
const H = 220;
const PAD = { top: 16, right: 44, bottom: 28, left: 36 };

function niceMax(value) {
  if (value <= 4) return 4;
  const pow = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * pow >= value) return step * pow;
  return 10 * pow;
}

/**
 * points: [{at: ISO hour, bar: number, line: seconds|null}]
 * labels: {bar, line, lineTarget?: seconds}
 */
export function hourChart(points, labels) {
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const n = Math.max(points.length, 1);
  const slot = innerW / n;
  const barMax = niceMax(Math.max(0, ...points.map((p) => p.bar)));
  const lineValues = points.map((p) => p.line).filter((v) => v !== null && v !== undefined);
  const lineTop = Math.max(...lineValues, labels.lineTarget || 0, 60);
  const lineMax = niceMax(lineTop / 60) * 60; // minutes on the axis
  const y = (v) => PAD.top + innerH - (v / barMax) * innerH;
  const y2 = (v) => PAD.top + innerH - (v / lineMax) * innerH;

  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": `${labels.bar}; ${labels.line}`,
    preserveAspectRatio: "none",
  });
  // grid and left axis
  for (let i = 0; i <= 4; i++) {
    const v = (barMax / 4) * i;
    const yy = y(v);
    svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy, class: "chart-grid" }));
    svg.append(s("text", { x: PAD.left - 6, y: yy + 4, "text-anchor": "end", class: "chart-axis", text: fmt.number(Math.round(v * 10) / 10) }));
    const m = (lineMax / 4) * i;
    svg.append(s("text", { x: W - PAD.right + 6, y: yy + 4, "text-anchor": "start", class: "chart-axis chart-axis-line", text: fmt.duration(Math.round(m / 60) * 60) }));
  }
  // bars
  points.forEach((p, i) => {
    const x = PAD.left + i * slot + slot * 0.18;
    const top = y(p.bar);
    const bar = s("rect", { x, y: top, width: Math.max(1, slot * 0.64), height: PAD.top + innerH - top, rx: 2, class: "chart-bar" });
    bar.append(s("title", { text: `${hourLabel(p.at)} · ${labels.bar}: ${p.bar}${p.line != null ? ` · ${labels.line}: ${fmt.duration(p.line)}` : ""}` }));
    svg.append(bar);
    if (i % Math.ceil(n / 8) === 0) {
      svg.append(s("text", { x: PAD.left + i * slot + slot / 2, y: H - 8, "text-anchor": "middle", class: "chart-axis", text: hourLabel(p.at) }));
    }
  });
  // target line for first response
  if (labels.lineTarget) {
    const ty = y2(labels.lineTarget);
    svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: ty, y2: ty, class: "chart-target" }));
  }
  // first-response line (gaps where an hour had no first response)
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    if (p.line === null || p.line === undefined) {
      pen = false;
      return;
    }
    const cx = PAD.left + i * slot + slot / 2;
    const cy = y2(p.line);
    d += `${pen ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)} `;
    pen = true;
    svg.append(s("circle", { cx, cy, r: 3, class: ["chart-dot", labels.lineTarget && p.line > labels.lineTarget ? "chart-dot-breach" : ""].join(" ") }));
  });
  if (d) svg.insertBefore(s("path", { d, class: "chart-line" }), svg.querySelector(".chart-dot"));
  return h(
    "figure",
    { class: "chart-figure" },
    svg,
    h(
      "figcaption",
      { class: "chart-legend" },
      h("span", { class: "legend legend-bar" }, labels.bar),
      h("span", { class: "legend legend-line" }, labels.line),
      labels.lineTarget ? h("span", { class: "legend legend-target" }, labels.targetLabel || "") : null,
    ),
  );
}

function hourLabel(iso) {
  return new Date(iso).toLocaleTimeString(locale(), { hour: "numeric" });
}
