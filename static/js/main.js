// Entry point: the login form, then the app. Holds no state of its own beyond which of the two shows.

import * as api from "./api.js";
import { startApp, stopApp } from "./app.js";
import * as i18n from "./i18n.js";
import { t, translateStatic } from "./i18n.js";
import { prefsControls } from "./views/prefs.js";
import { replace } from "./dom.js";

const loginView = document.getElementById("login-view");
const appRoot = document.getElementById("app");
const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");

function showLogin() {
  stopApp();
  appRoot.hidden = true;
  replace(appRoot);
  loginView.hidden = false;
  replace(document.getElementById("login-prefs"), prefsControls({ compact: true }));
  document.getElementById("login-email").focus();
}

async function showApp(me) {
  loginView.hidden = true;
  errorBox.hidden = true;
  appRoot.hidden = false;
  await startApp(appRoot, me, { onLogout: showLogin });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const me = await api.login(form.email.value.trim(), form.password.value);
    form.password.value = "";
    await showApp(me);
  } catch (err) {
    // 401: wrong email or password; 429: locked out for a while (the server's code, translated).
    errorBox.textContent = err.status === 401 ? t("login.bad") : err.status === 429 ? err.message : t("login.failed");
    errorBox.hidden = false;
    form.password.select();
  } finally {
    button.disabled = false;
  }
});

i18n.events.addEventListener("change", () => {
  if (!loginView.hidden) replace(document.getElementById("login-prefs"), prefsControls({ compact: true }));
});

api.events.addEventListener("unauthorized", () => {
  api.setToken(null);
  if (loginView.hidden) showLogin();
});

async function boot(retry = false) {
  translateStatic();
  if (!api.token()) return showLogin();
  try {
    const me = await api.get("/api/auth/me");
    if (retry && loginView.hidden) return; // signed in by hand meanwhile
    await showApp(me);
  } catch (err) {
    if (!retry) showLogin();
    if (err.status === 0) {
      // The server is unreachable right now: keep the token and try again shortly.
      errorBox.textContent = t("error.network");
      errorBox.hidden = false;
      setTimeout(() => api.token() && !loginView.hidden && boot(true), 3000);
    }
  }
}

boot();
