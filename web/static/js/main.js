// The console's entry point: hash routes (#/ask, #/documents, #/documents/<id>, #/jobs), the API key
// dialog (asked for on the first 401, kept in sessionStorage), and the header's service status.

import { describe, getJSON, setKeyPrompt, storedKey, storeKey } from "./api.js";
import { AskView } from "./ask.js";
import { $, showError } from "./dom.js";
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
  document.title = `graphrag console · ${view || "ask"}`;
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
  if (key) refreshStatus();
});

function refreshKeyButton() {
  $("#key-button").textContent = storedKey() ? "API key: set (change)" : "API key";
}

setKeyPrompt(promptForKey);

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
    const page = await getJSON("/v1/documents?limit=1");
    parts.unshift(`${page.total} document${page.total === 1 ? "" : "s"}`);
  } catch (err) {
    parts.unshift(describe(err));
  }
  status.textContent = parts.join(" · ");
}

window.addEventListener("hashchange", route);
refreshKeyButton();
route();
refreshStatus();
