// Documents: a paged, filterable list (GET /v1/documents?q=), upload by drag and drop or a file
// picker (an ingest job: POST /v1/ingest/jobs, progress in the Jobs view), delete after a
// confirmation, and one document's chunks and entities (GET /v1/documents/{id}?include=chunks);
// all of them in the workspace chosen in the header (api.scoped).

import { ApiError, currentWorkspace, describe, getJSON, request, scoped } from "./api.js";
import { $, clear, documentHref, formatDate, h, marked, showError } from "./dom.js";

const PAGE = 10;
export const SUPPORTED = [".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm", ".xhtml", ".pdf", ".json", ".jsonl"];

const suffix = (name) => (name.lastIndexOf(".") >= 0 ? name.slice(name.lastIndexOf(".")).toLowerCase() : "");

/** A document as a person recognises it: an uploaded file's id is a hash of its bytes (`upload-…`),
 * so the title and the source (the file's name) come first, and the id, which tells apart two files
 * of the same name, after them: `“Warsaw” (warsaw.md, upload-59229d…)`. */
export function named(doc) {
  const also = [doc.source, doc.id].filter((part, i, all) => part && part !== doc.title && all.indexOf(part) === i);
  return `“${doc.title || doc.id}”` + (also.length ? ` (${also.join(", ")})` : "");
}

export class DocumentsView {
  constructor({ jobs, graph, navigate }) {
    this.jobs = jobs;
    this.graph = graph;
    this.navigate = navigate;
    this.offset = 0;
    this.query = "";
    this.total = 0;
    this.body = $("#documents-body");
    this.caption = $("#documents-caption");
    this.error = $("#documents-error");
    this.uploadStatus = $("#upload-status");
    this.prev = $("#prev-page");
    this.next = $("#next-page");
    this.filter = $("#filter");
    this.dropzone = $("#dropzone");
    this.fileInput = $("#file-input");
    this.confirm = $("#confirm-dialog");
    this.prev.addEventListener("click", () => { this.offset = Math.max(0, this.offset - PAGE); this.load(); });
    this.next.addEventListener("click", () => { this.offset += PAGE; this.load(); });
    $("#filter-form").addEventListener("submit", (event) => { event.preventDefault(); this.applyFilter(); });
    let typing;
    this.filter.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => this.applyFilter(), 250); });
    $("#choose-files").addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => { this.upload([...this.fileInput.files]); this.fileInput.value = ""; });
    this.dropzone.addEventListener("dragover", (event) => { event.preventDefault(); this.dropzone.classList.add("over"); });
    this.dropzone.addEventListener("dragleave", () => this.dropzone.classList.remove("over"));
    this.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.dropzone.classList.remove("over");
      this.upload([...(event.dataTransfer ? event.dataTransfer.files : [])]);
    });
  }

  /** Nothing listed, first page, no filter (another workspace was chosen); `load()` fills it again. */
  reset() {
    this.run = (this.run || 0) + 1;  // a page still on its way belongs to the other workspace
    this.opening = (this.opening || 0) + 1;
    this.offset = 0;
    this.query = "";
    this.total = 0;
    this.filter.value = "";
    clear(this.body).removeAttribute("aria-busy");
    this.caption.textContent = "";
    clear(this.uploadStatus);
    this.uploadStatus.hidden = true;
    showError(this.error, "");
  }

  applyFilter() {
    const query = this.filter.value.trim();
    if (query === this.query) return;
    this.query = query;
    this.offset = 0;
    this.load();
  }

  async load() {
    const params = new URLSearchParams({ offset: String(this.offset), limit: String(PAGE) });
    if (this.query) params.set("q", this.query);
    this.body.setAttribute("aria-busy", "true");
    const run = (this.run = (this.run || 0) + 1);
    try {
      const page = await getJSON(scoped(`/documents?${params}`));
      if (run !== this.run) return;  // a newer request (another page, another filter) answers instead
      if (!page.items.length && this.offset > 0 && page.total > 0) {  // the last page emptied by a delete
        this.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
        return this.load();
      }
      showError(this.error, "");
      this.render(page);
    } catch (err) {
      if (run === this.run) showError(this.error, describe(err));
    } finally {
      if (run === this.run) this.body.removeAttribute("aria-busy");
    }
  }

  render(page) {
    this.total = page.total;
    clear(this.body);
    for (const doc of page.items) {
      this.body.append(h("tr", { dataset: { id: doc.id } },
        h("td", {}, h("a", { href: documentHref(doc.id) }, doc.title || doc.id)),
        h("td", { class: "source", text: doc.source || "" }),
        h("td", { class: "id", text: doc.id }),
        h("td", { class: "num", text: doc.chunks ?? "" }),
        h("td", { text: formatDate(doc.ingested_at) }),
        h("td", {}, h("button", { type: "button", class: "secondary writes", "aria-label": `Delete ${named(doc)}`,
          onClick: () => this.remove(doc) }, "Delete"))));
    }
    const from = page.items.length ? page.offset + 1 : 0;
    const to = page.offset + page.items.length;
    const filtered = this.query ? ` matching “${this.query}”` : "";
    this.caption.textContent = page.total
      ? `${from}–${to} of ${page.total} documents${filtered}`
      : (this.query ? `No document matches “${this.query}”.` : "No documents yet: drop some files above.");
    this.prev.disabled = page.offset === 0;
    this.next.disabled = to >= page.total;
  }

  async upload(files) {
    showError(this.error, "");
    if (!files.length) return;
    const unsupported = files.filter((f) => !SUPPORTED.includes(suffix(f.name)));
    const good = files.filter((f) => SUPPORTED.includes(suffix(f.name)));
    const problems = unsupported.length
      ? `Not sent (not a supported type: ${SUPPORTED.join(" ")}): ${unsupported.map((f) => f.name).join(", ")}.` : "";
    if (!good.length) {
      showError(this.error, problems);
      return;
    }
    const form = new FormData();
    for (const file of good) form.append("files", file, file.name);
    this.uploadStatus.hidden = false;
    this.uploadStatus.textContent = `Uploading ${good.length} file(s)…`;
    const workspace = currentWorkspace();
    try {
      const job = await (await request(scoped("/ingest/jobs"), { method: "POST", form })).json();
      if (workspace !== currentWorkspace()) return;  // another workspace was chosen meanwhile: its Jobs view shows it
      clear(this.uploadStatus).append(`Ingesting ${good.map((f) => f.name).join(", ")} as job ${job.id}: `,
        h("a", { href: "#/jobs" }, "follow its progress"), ". The list refreshes when it is done.");
      this.jobs.track(job);
      if (problems) showError(this.error, problems);
    } catch (err) {
      if (workspace !== currentWorkspace()) return;
      this.uploadStatus.hidden = true;
      showError(this.error, "The upload failed. " + describe(err) + (problems ? ` ${problems}` : ""));
    }
  }

  async remove(doc) {
    $("#confirm-text").textContent = `${named(doc)} and its ${doc.chunks ?? ""} chunk(s) will be ` +
      "removed from the graph, with the entities no other document mentions. This cannot be undone.";
    this.confirm.returnValue = "";
    this.confirm.showModal();
    $("#confirm-cancel").focus();
    const choice = await new Promise((resolve) => this.confirm.addEventListener("close", () => resolve(this.confirm.returnValue), { once: true }));
    if (choice !== "delete") return;
    let gone = "";
    try {
      await request(scoped(`/documents/${encodeURIComponent(doc.id)}`), { method: "DELETE" });
      clear(this.uploadStatus).append(`Deleted ${named(doc)}.`);
      this.uploadStatus.hidden = false;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        // nothing changed: no reload, which would clear the message before anyone could read it
        showError(this.error, "The delete failed. " + describe(err));
        return;
      }
      gone = `${named(doc)} was already gone.`;
    }
    await this.load();
    if (gone) showError(this.error, gone);  // after the reload, which clears older errors
  }

  /** One document: its metadata, the entities its chunks mention, and the chunks themselves. */
  async open(id) {
    const title = $("#document-title");
    const meta = clear($("#document-meta"));
    const entities = clear($("#document-entities"));
    const chunks = clear($("#document-chunks"));
    const error = $("#document-error");
    showError(error, "");
    title.textContent = id;
    const opening = (this.opening = (this.opening || 0) + 1);
    try {
      const doc = await getJSON(scoped(`/documents/${encodeURIComponent(id)}?include=chunks`));
      if (opening !== this.opening) return;
      title.textContent = doc.title || doc.id;
      const rows = [["Source", doc.source], ["Id", doc.id], ["Chunks", doc.chunks], ["Ingested", formatDate(doc.ingested_at)]];
      for (const [name, value] of rows) meta.append(h("dt", { text: name }), h("dd", { text: value ?? "" }));
      const names = new Map((doc.entities || []).map((e) => [e.key, e.name]));
      for (const entity of doc.entities || []) {
        entities.append(h("li", {}, h("button", { type: "button", class: "chip", title: `${entity.type}: draw its neighbourhood`,
          onClick: async () => { this.navigate("#/ask"); await this.graph.expand(entity.key, entity.name); } }, entity.name)));
      }
      if (!(doc.entities || []).length) entities.append(h("li", { class: "muted", text: "No entities were found in it." }));
      for (const chunk of doc.chunk_list || []) {
        chunks.append(h("section", { class: "chunk", dataset: { chunk: chunk.id } },
          h("h4", { text: `Chunk ${chunk.ordinal} · ${chunk.id}` }),
          h("p", {}, ...marked(chunk.text, chunk.entities.map((k) => names.get(k) || k)))));
      }
    } catch (err) {
      if (opening !== this.opening) return;
      showError(error, err instanceof ApiError && err.status === 404 ? `There is no document “${id}” (deleted?).` : describe(err));
    }
  }
}
