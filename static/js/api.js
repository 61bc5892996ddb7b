// The HTTP API client: bearer token kept in localStorage, JSON in and out, errors as ApiError.
// A 401 on any call but login means the session ended: listeners of "unauthorized" go to the login.

import { errorText } from "./format.js";

const TOKEN_KEY = "inbox.token";

/** An error answer. `message` is what to show: the translation of the server's `code` in the chosen
 * language when this page knows it, else the server's own (English) `error`, kept as `reason`. */
export class ApiError extends Error {
  constructor(status, reason, code = null, params = null) {
    super(errorText(code, params, reason || `HTTP ${status}`));
    this.status = status;
    this.reason = reason;
    this.code = code;
    this.params = params;
  }
}

function failure(status, data) {
  return new ApiError(status, data && data.error, data && data.code, data && data.params);
}

export const events = new EventTarget();

export function token() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the session lasts as long as the page */
  }
}

async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const tok = token();
  if (auth && tok) headers.Authorization = `Bearer ${tok}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "network"); // offline, server down: status 0 means "try again"
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && auth) events.dispatchEvent(new Event("unauthorized"));
    throw failure(response.status, data);
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);
export const put = (path, body = {}) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);
export const patch = (path, body = {}) => request("PATCH", path, body);

export async function login(email, password) {
  const data = await request("POST", "/api/auth/login", { email, password }, { auth: false });
  setToken(data.token);
  return data.agent;
}

export async function logout() {
  try {
    await request("POST", "/api/auth/logout", {});
  } catch {
    /* the token is dropped either way */
  }
  setToken(null);
}

/** Build a query string from the defined values of `params`. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// ---- Composer attachments (issue 15 item 5)

/** Upload one file (the raw bytes; its type and name travel in the header and the query). Resolves
 * to the upload ({id, url, name, mime_type, size, kind}); a refusal (413 too large, 415 type) throws
 * an ApiError carrying the server's readable reason. */
export async function upload(file) {
  const headers = { Accept: "application/json", "Content-Type": file.type || "application/octet-stream" };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let response;
  try {
    response = await fetch(`/api/uploads${qs({ name: file.name || "" })}`, { method: "POST", headers, body: file });
  } catch {
    throw new ApiError(0, "network");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) events.dispatchEvent(new Event("unauthorized"));
    throw failure(response.status, data);
  }
  return data;
}

const blobUrls = new Map(); // app path -> Promise<object URL>

/** An object URL for a file served by the app to signed-in agents only (an <img src> cannot send
 * the bearer token): fetched once per page with the token, then reused. */
export function blobUrl(path) {
  if (!blobUrls.has(path)) {
    const tok = token();
    const loaded = fetch(path, { headers: tok ? { Authorization: `Bearer ${tok}` } : {} }).then((r) => {
      if (!r.ok) throw new ApiError(r.status, `HTTP ${r.status}`);
      return r.blob().then((b) => URL.createObjectURL(b));
    });
    loaded.catch(() => blobUrls.delete(path)); // tried again next time
    blobUrls.set(path, loaded);
  }
  return blobUrls.get(path);
}
