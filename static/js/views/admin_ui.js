// Small building blocks of the admin pages: labelled inputs, a card with a title, an inline error,
// and a button that runs an async action while showing it is busy. Every input has a label (screen
// readers, keyboard users); errors are announced (role=alert).

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";

let serial = 0;

/** A labelled input: field(t("..."), {name, type, value, ...attrs}) -> the wrapper; input at .input */
export function field(label, attrs = {}) {
  const id = attrs.id || `adm-${++serial}`;
  const tag = attrs.type === "textarea" ? "textarea" : attrs.type === "select" ? "select" : "input";
  const props = { ...attrs, id, class: [tag === "select" ? "select" : "input", "adm-input", attrs.class] };
  if (tag !== "input") delete props.type;
  const options = props.options;
  delete props.options;
  const input = h(tag, props);
  for (const [value, text] of options || []) input.append(h("option", { value }, text));
  if (attrs.value !== undefined && tag !== "input") input.value = attrs.value;
  const wrap = h("div", { class: "adm-field" }, h("label", { for: id }, label), input);
  wrap.input = input;
  return wrap;
}

/** A checkbox with its label after it. */
export function check(label, attrs = {}) {
  const id = attrs.id || `adm-${++serial}`;
  const input = h("input", { ...attrs, id, type: "checkbox" });
  const wrap = h("label", { class: "adm-check", for: id }, input, h("span", {}, label));
  wrap.input = input;
  return wrap;
}

export function card(title, ...children) {
  return h("section", { class: "card adm-card" }, h("h2", {}, title), ...children);
}

/** A paragraph that shows an error (or nothing). */
export function errorLine() {
  const el = h("p", { class: "form-error", role: "alert", hidden: true });
  el.show = (err) => {
    const text = !err ? "" : err.status === 0 ? t("adm.network") : err.message || String(err);
    el.hidden = !text;
    replace(el, text);
  };
  return el;
}

/** Run `fn` with `button` disabled (and labelled busy), reporting a thrown error to `errors`. */
export async function busy(button, errors, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  errors?.show(null);
  try {
    return await fn();
  } catch (err) {
    errors?.show(err);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** "2 minutes ago", or a dash when never. */
export function ago(iso, relative) {
  return iso ? relative(iso) : t("adm.never");
}
