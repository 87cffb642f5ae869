// The API client: same-origin fetch with the `X-API-Key` header, the error envelope turned into
// readable messages, and the key asked for when the service answers 401 (kept in sessionStorage,
// so it lives as long as this tab and no longer). `scoped()` builds every data path, in the
// workspace chosen in the header (kept in localStorage, so a reload or a new tab keeps it).

const KEY_STORAGE = "graphrag.apiKey";
const WORKSPACE_STORAGE = "graphrag.workspace";
export const DEFAULT_WORKSPACE = "default";

export class ApiError extends Error {
  constructor(status, code, message, { requestId = "", retryAfter = null, fields = [] } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
    this.fields = fields;
  }
}

let askForKey = async () => null;
let pendingPrompt = null;
// The person cancelled the prompt: later 401s fail with a message pointing at the "API key" button
// instead of opening the prompt again (a request sent right after the cancel, e.g. the status line's,
// reopened it at once). Storing a key ends it.
let declined = false;

/** `prompt(reason)` resolves to a key, or null when the person cancels; set once by main.js. */
export function setKeyPrompt(prompt) {
  askForKey = prompt;
}

export const storedKey = () => sessionStorage.getItem(KEY_STORAGE) || "";

export function storeKey(key) {
  if (key) {
    sessionStorage.setItem(KEY_STORAGE, key);
    declined = false;
  } else {
    sessionStorage.removeItem(KEY_STORAGE);
  }
}

let workspace = localStorage.getItem(WORKSPACE_STORAGE) || DEFAULT_WORKSPACE;

/** The workspace every data request goes to (the stored choice until main.js checks it against the list). */
export const currentWorkspace = () => workspace;

export function setWorkspace(name) {
  workspace = name || DEFAULT_WORKSPACE;
  localStorage.setItem(WORKSPACE_STORAGE, workspace);
}

/**
 * The API path of a data route in the current workspace: `scoped("/documents")` is `/v1/documents`
 * in `default` (the paths the API kept for it) and `/v1/workspaces/acme/documents` in `acme`.
 */
export function scoped(path) {
  return workspace === DEFAULT_WORKSPACE ? `/v1${path}` : `/v1/workspaces/${encodeURIComponent(workspace)}${path}`;
}

/** The names of the workspaces this key reaches (`default` first when it is one of them), and the
 * key's scope (read, admin or global; keyless on loopback: global). */
export async function listWorkspaces() {
  const list = await getJSON("/v1/workspaces");
  return { names: list.items.map((w) => w.name), scope: list.scope || "" };
}

/** One prompt at a time: requests that fail together with 401 all wait for the same answer. */
function promptOnce(reason) {
  if (declined) return Promise.resolve(null);
  if (!pendingPrompt) {
    pendingPrompt = askForKey(reason)
      .then((key) => { declined = !key; return key; })
      .finally(() => { pendingPrompt = null; });
  }
  return pendingPrompt;
}

export async function errorOf(response) {
  const retry = response.headers.get("Retry-After");
  const retryAfter = retry && /^\d+$/.test(retry) ? Number(retry) : null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : {};
  const message = error.message || `${response.status} ${response.statusText || "error"}`;
  return new ApiError(response.status, error.code || "http_error", message,
    { requestId: (body && body.request_id) || response.headers.get("X-Request-ID") || "", retryAfter,
      fields: error.fields || [] });
}

/**
 * fetch() against the API. On 401 the key prompt opens (once, however many requests failed) and the
 * request is sent again with the new key; cancelling it fails the request with a clear message.
 * Any other non-2xx answer throws an ApiError carrying the service's own message.
 */
export async function request(path, { method = "GET", json, form, accept = "application/json", signal } = {}) {
  for (;;) {
    const headers = { Accept: accept };
    const key = storedKey();
    if (key) headers["X-API-Key"] = key;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, signal, credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "The service cannot be reached: is it running? (" + (err.message || err) + ")");
    }
    if (response.status === 401) {
      const failure = await errorOf(response);
      if (key && storedKey() === key) storeKey("");  // rejected: not "set" any more, whatever happens next
      const reason = key ? `The API key was not accepted: ${failure.message}.` : "This service requires an API key.";
      const next = await promptOnce(reason);
      if (!next) throw new ApiError(401, "unauthorized", "An API key is needed: use the “API key” button to enter one.");
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }
}

export async function getJSON(path, options = {}) {
  return (await request(path, options)).json();
}

/** A sentence for a person: what failed, and what to do about it. */
export function describe(err) {
  if (!(err instanceof ApiError)) return `Something went wrong in the page: ${err && err.message ? err.message : err}`;
  const ref = err.requestId ? ` (request ${err.requestId})` : "";
  switch (err.status) {
    case 0:
      return err.message;
    case 503:
      if (err.code === "database_unavailable") {
        return `The database is unavailable: ${err.message}.` + (err.retryAfter !== null ? ` Retrying in ${err.retryAfter} s.` : "");
      }
      return `The service is not available: ${err.message}.` + (err.retryAfter !== null ? ` Retry in ${err.retryAfter} s.` : "");
    case 403:
      return `Not allowed with this API key: ${err.message}.`;
    case 413:
      return `Too large: ${err.message}.`;
    case 415:
      return `Not a supported file: ${err.message}.`;
    case 422:
      if (err.fields && err.fields.length) {
        return "Please check the input: " + err.fields.map((f) => `${f.field.replace(/^(body|query|path)\./, "")}: ${f.message}`).join("; ") + ".";
      }
      return `Please check the input: ${err.message}.`;
    default:
      return `${err.message}${ref}`;
  }
}
