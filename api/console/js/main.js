// The console's entry point: hash routes (#/ask, #/documents, #/documents/<id>, #/jobs), the API key
// dialog (asked for on the first 401, kept in sessionStorage), the workspace picker (kept in
// localStorage; switching empties every view and reloads the lists) and the header's service status.

import {
  currentWorkspace, DEFAULT_WORKSPACE, describe, getJSON, listWorkspaces, scoped, setKeyPrompt, setWorkspace,
  storedKey, storeKey,
} from "./api.js";
import { AskView } from "./ask.js";
import { $, clear, h, showError } from "./dom.js";
import { DocumentsView } from "./documents.js";
import { EvidenceGraph } from "./graph.js";
import { JobsView } from "./jobs.js";

const VIEWS = ["ask", "documents", "document", "jobs"];

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const graph = new EvidenceGraph({
  container: $("#graph-canvas"), list: $("#graph-list"), summary: $("#graph-summary"),
  onOpenDocument: (id) => navigate(`#/documents/${encodeURIComponent(id)}`),
  onError: (message) => showError($("#ask-error"), message),
});
const ask = new AskView({ graph });
const jobs = new JobsView({ onFinished: () => { documents.load(); refreshStatus(); } });
const documents = new DocumentsView({ jobs, graph, navigate });

function show(view) {
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  const tab = view === "document" ? "documents" : view;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  const hash = location.hash || "#/ask";
  if (!hash.startsWith("#/")) return;  // in-page anchors (#source-3) are not routes
  const [, view, ...rest] = hash.split("/");
  if (view === "documents" && rest.length) {
    show("document");
    documents.open(decodeURIComponent(rest.join("/")));
  } else if (view === "documents") {
    show("documents");
    documents.load();
  } else if (view === "jobs") {
    show("jobs");
    jobs.load();
  } else {
    show("ask");
  }
  const workspace = currentWorkspace();
  document.title = `graphrag console · ${workspace === DEFAULT_WORKSPACE ? "" : `${workspace} · `}${view || "ask"}`;
}

// --- API key ------------------------------------------------------------------------------------
const dialog = $("#key-dialog");
const keyInput = $("#key-input");
let settle = null;

function promptForKey(reason) {
  $("#key-reason").textContent = reason;
  keyInput.value = "";
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
  return new Promise((resolve) => { settle = resolve; });
}

function closeKeyDialog(key) {
  if (dialog.open) dialog.close();
  if (settle) settle(key);
  settle = null;
  refreshKeyButton();
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    $("#key-reason").textContent = "Enter a key (it starts with grk_), or cancel.";
    keyInput.focus();
    return;
  }
  storeKey(key);
  closeKeyDialog(key);
});
$("#key-cancel").addEventListener("click", () => closeKeyDialog(null));
dialog.addEventListener("cancel", (event) => { event.preventDefault(); closeKeyDialog(null); });
$("#key-button").addEventListener("click", async () => {
  const key = await promptForKey(storedKey() ? "Replace the API key this tab uses." : "Enter an API key for this tab.");
  if (!key) return;
  const before = currentWorkspace();
  await loadWorkspaces();  // another key may reach other workspaces
  if (currentWorkspace() !== before) switched();
  else refreshStatus();
});

function refreshKeyButton() {
  $("#key-button").textContent = storedKey() ? "API key: set (change)" : "API key";
}

setKeyPrompt(promptForKey);

// --- workspaces -----------------------------------------------------------------------------------
const picker = $("#workspace-picker");
const select = $("#workspace");

/**
 * Fill the picker with the workspaces the key reaches and settle on one: the stored choice while it
 * is listed, else the first listed (`default` when the key reaches it). When the list cannot be had
 * (no key given, the service down) the stored choice stays, for the requests to say what is wrong.
 */
async function loadWorkspaces() {
  let names;
  try {
    const reach = await listWorkspaces();
    names = reach.names;
    if (reach.scope) document.body.dataset.scope = reach.scope;  // read: no drop zone, no Delete buttons
    else delete document.body.dataset.scope;
  } catch {
    names = null;
  }
  refreshKeyButton();  // a key rejected on the way is no longer "set"
  if (names && !names.includes(currentWorkspace())) setWorkspace(names[0] || DEFAULT_WORKSPACE);
  const shown = names && names.length ? names : [currentWorkspace()];
  clear(select).append(...shown.map((name) => h("option", { value: name, text: name })));
  select.value = currentWorkspace();
  picker.hidden = shown.length === 1 && shown[0] === DEFAULT_WORKSPACE;
  document.body.dataset.workspace = currentWorkspace();
}

/** After the workspace changed: nothing of the old one stays on screen, the lists load again. */
function switched() {
  select.value = currentWorkspace();
  document.body.dataset.workspace = currentWorkspace();
  ask.clear();
  documents.reset();
  jobs.reset();
  if (location.hash.startsWith("#/documents/")) navigate("#/documents");  // that document is the old one's
  else route();
  refreshStatus();
}

select.addEventListener("change", () => {
  if (select.value === currentWorkspace()) return;
  setWorkspace(select.value);
  switched();
});

// --- header status --------------------------------------------------------------------------------
async function refreshStatus() {
  const status = $("#service-status");
  let ready = null;
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    ready = await response.json();
  } catch {
    ready = null;
  }
  const parts = [];
  if (!ready) parts.push("service unreachable");
  else if (!ready.ready) {
    const failing = Object.entries(ready.checks || {}).filter(([, c]) => !c.ok).map(([name, c]) => `${name}: ${c.detail}`);
    parts.push(`not ready (${failing.join("; ")})`);
  } else if (ready.checks && ready.checks.answerer) parts.push(`answers: ${ready.checks.answerer.detail}`);
  try {
    const page = await getJSON(scoped("/documents?limit=1"));
    parts.unshift(`${page.total} document${page.total === 1 ? "" : "s"}`);
  } catch (err) {
    parts.unshift(describe(err));
  }
  status.textContent = parts.join(" · ");
}

window.addEventListener("hashchange", route);
refreshKeyButton();
loadWorkspaces().then(() => {  // first the workspace, then the requests that depend on it
  route();
  refreshStatus();
});
