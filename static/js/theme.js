// Light and dark themes: "system" (the default) follows prefers-color-scheme through CSS; "light"
// and "dark" pin it with data-theme on <html>. The choice is saved (boot.js applies it pre-paint).

const KEY = "inbox.theme";
export const THEMES = ["system", "light", "dark"];

export function theme() {
  const value = document.documentElement.dataset.theme;
  return value === "light" || value === "dark" ? value : "system";
}

export function setTheme(value) {
  if (value === "light" || value === "dark") document.documentElement.dataset.theme = value;
  else delete document.documentElement.dataset.theme;
  try {
    if (value === "light" || value === "dark") localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    /* not persisted */
  }
}
