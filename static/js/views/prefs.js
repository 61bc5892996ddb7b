// The language and theme switches (used in the top bar and under the login form).

import { h } from "../dom.js";
import { LANGUAGES, lang, setLang, t } from "../i18n.js";
import { THEMES, setTheme, theme } from "../theme.js";

let serial = 0;

function select(label, options, value, onChange, cls) {
  const id = `pref-${++serial}`;
  const sel = h("select", { id, class: "select select-sm", onchange: (e) => onChange(e.target.value) });
  for (const [v, text] of options) sel.append(h("option", { value: v }, text));
  sel.value = value;
  return h("div", { class: `pref ${cls}` }, h("label", { for: id, class: "sr-only" }, label), sel);
}

export function prefsControls({ compact = false } = {}) {
  const wrap = h("div", { class: `prefs${compact ? " prefs-compact" : ""}` });
  wrap.append(
    select(t("prefs.language"), LANGUAGES, lang(), (v) => setLang(v), "pref-lang"),
    select(
      t("prefs.theme"),
      THEMES.map((v) => [v, t(`theme.${v}`)]),
      theme(),
      (v) => setTheme(v),
      "pref-theme",
    ),
  );
  return wrap;
}
