// Ask: the question goes to POST /v1/ask (in the chosen workspace) with `stream: true`; the sources event fills the cards and
// the evidence graph, token events grow the answer (its `[n]` markers become links to the cards),
// and the final event brings the mode and the timings. Failures are shown in words; a 503 (the
// database is unavailable) is retried after the Retry-After the service gives, a few times; a 503
// that will not pass by itself is shown once.

import { ApiError, describe, request, scoped } from "./api.js";
import { $, clear, documentHref, h, marked, showError } from "./dom.js";
import { events } from "./sse.js";

const MAX_RETRIES = 3;
// 503s that pass by themselves (the database restarting, the service starting): retried. Any other
// 503 (a part this service lacks) stays until someone changes the service: shown once, not retried.
const TRANSIENT = new Set(["database_unavailable", "not_ready"]);
const TIMING_NAMES = { retrieve: "retrieval", first_token: "first token", answer: "answer", total: "total" };

export class AskView {
  constructor({ graph }) {
    this.graph = graph;
    this.form = $("#ask-form");
    this.input = $("#question");
    this.topK = $("#top-k");
    this.button = $("#ask-button");
    this.error = $("#ask-error");
    this.answer = $("#answer");
    this.state = $("#ask-state");
    this.badge = $("#mode-badge");
    this.timings = $("#timings");
    this.sources = $("#sources");
    this.sourcesTitle = $("#sources-title");
    this.sourceNumbers = new Set();
    this.run = 0;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask(this.input.value);
    });
    this.answer.addEventListener("click", (event) => {
      const link = event.target.closest("a.cite");
      if (!link) return;
      event.preventDefault();
      this.showSource(Number(link.dataset.n));
    });
  }

  showSource(n) {
    const card = document.getElementById(`source-${n}`);
    if (!card) return;
    for (const other of this.sources.querySelectorAll(".card.flash")) other.classList.remove("flash");
    card.classList.add("flash");
    card.scrollIntoView({ block: "nearest" });
    card.focus({ preventScroll: true });
    this.graph.focusPassage(n);
  }

  reset() {
    showError(this.error, "");
    clear(this.answer).classList.remove("incomplete");
    this.answer.dataset.tokens = "0";
    this.answer.dataset.state = "waiting";
    this.badge.hidden = true;
    this.showFit(true);
    clear(this.timings);
    this.sourceNumbers = new Set();
  }

  /** The page as it first was (another workspace was chosen): an answer still arriving is dropped. */
  clear() {
    this.run += 1;
    if (this.controller) this.controller.abort();
    this.reset();
    delete this.answer.dataset.state;
    this.state.textContent = "";
    this.button.disabled = false;
    clear(this.sources).append(h("p", { class: "muted", text: "Ask a question to see the passages it is answered from." }));
    this.graph.reset();
  }

  async ask(question, attempt = 0) {
    const text = question.trim();
    if (!text) {
      showError(this.error, "Type a question first.");
      this.input.focus();
      return;
    }
    const topK = Number(this.topK.value || 5);
    const run = ++this.run;
    const controller = (this.controller = new AbortController());
    this.reset();
    this.button.disabled = true;
    this.state.textContent = "Retrieving…";
    try {
      const response = await request(scoped("/ask"), { method: "POST", accept: "text/event-stream",
        json: { question: text, top_k: topK, stream: true }, signal: controller.signal });
      await this.consume(response, run);
    } catch (err) {
      if (run !== this.run) return;
      this.answer.dataset.state = "failed";
      this.state.textContent = "";
      if (err instanceof ApiError && err.status === 503 && TRANSIENT.has(err.code) && err.retryAfter !== null &&
          attempt < MAX_RETRIES) {
        await this.waitAndRetry(err, text, attempt, run);
        return;
      }
      const transient = err instanceof ApiError && err.status === 503 && TRANSIENT.has(err.code);
      showError(this.error, transient ? describe(err) + " Ask again later."
        : err instanceof ApiError && err.status === 503 ? `This service cannot answer: ${err.message}.` : describe(err));
    } finally {
      if (run === this.run) this.button.disabled = false;
    }
  }

  async waitAndRetry(err, text, attempt, run) {
    for (let left = err.retryAfter; left > 0; left--) {
      if (run !== this.run) return;
      showError(this.error, describe(new ApiError(err.status, err.code, err.message, { retryAfter: left })) +
        ` (attempt ${attempt + 1} of ${MAX_RETRIES})`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    if (run === this.run) await this.ask(text, attempt + 1);
  }

  async consume(response, run) {
    let buffer = "";
    let tokens = 0;
    this.answer.dataset.state = "streaming";
    for await (const { event, data } of events(response)) {
      if (run !== this.run) return;
      if (event === "sources") {
        this.renderSources(data.sources || [], data.graph);
        this.showFit(data.answerable !== false);
        this.graph.show(data.graph || null);
        this.state.textContent = "Answering…";
      } else if (event === "token") {
        buffer += data.text || "";
        tokens += 1;
        this.answer.dataset.tokens = String(tokens);
        this.renderAnswer(buffer);
      } else if (event === "final") {
        this.renderAnswer(data.answer || buffer);
        this.badge.hidden = false;
        const answerable = data.answerable !== false;
        this.showFit(answerable);
        if (answerable) {
          this.badge.className = `badge ${data.mode}`;
          this.badge.textContent = data.mode === "llm" ? "LLM" : "extractive";
          this.badge.title = data.mode === "llm" ? "written by the language model" : "sentences taken from the passages (no language model)";
        } else {
          this.badge.className = "badge abstained";
          this.badge.textContent = "not in the documents";
          this.badge.title = "nothing in the documents answers this question; the sources are only the closest passages";
        }
        this.renderTimings(data.timings_ms || {});
        this.state.textContent = "";
        this.answer.dataset.state = "done";
        return;
      } else if (event === "error") {
        const failure = data && data.error ? data.error : { message: "the stream failed" };
        this.answer.classList.add("incomplete");
        this.answer.dataset.state = "failed";
        this.state.textContent = "";
        showError(this.error, `The answer broke off: ${failure.message}` + (data.request_id ? ` (request ${data.request_id})` : ""));
        return;
      }
    }
    if (run === this.run && this.answer.dataset.state === "streaming") {
      this.answer.classList.add("incomplete");
      this.answer.dataset.state = "failed";
      this.state.textContent = "";
      showError(this.error, "The connection closed before the answer was complete.");
    }
  }

  /** Whether the documents answer the question (`answerable` of the sources and final events): when they
   * do not, the answer is marked and the sources are titled as the closest passages, not evidence. */
  showFit(answerable) {
    this.answer.classList.toggle("abstained", !answerable);
    this.answer.dataset.answerable = String(answerable);
    this.sourcesTitle.textContent = answerable ? "Sources" : "Closest passages (none answers the question)";
  }

  /** The answer text with each `[n]` that names a source turned into a link to its card. */
  renderAnswer(text) {
    clear(this.answer);
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      const n = Number(match[1]);
      if (match.index > last) this.answer.append(text.slice(last, match.index));
      if (this.sourceNumbers.has(n)) {
        this.answer.append(h("a", { class: "cite", href: `#source-${n}`, dataset: { n: String(n) },
          "aria-label": `source ${n}` }, match[0]));
      } else {
        this.answer.append(match[0]);
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) this.answer.append(text.slice(last));
  }

  renderTimings(timings) {
    clear(this.timings);
    for (const [key, name] of Object.entries(TIMING_NAMES)) {
      if (timings[key] === undefined || timings[key] === null) continue;
      const ms = Number(timings[key]);
      this.timings.append(h("div", {}, h("dt", { text: name }), h("dd", { dataset: { timing: key } },
        ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`)));
    }
  }

  renderSources(sources, graph) {
    clear(this.sources);
    this.sourceNumbers = new Set(sources.map((s) => s.n));
    if (!sources.length) {
      this.sources.append(h("p", { class: "muted", text: "Nothing in the documents matched this question." }));
      return;
    }
    const names = entityNamesByPassage(graph);
    for (const source of sources) {
      const linked = names.get(`p:${source.chunk_id}`) || [];
      this.sources.append(h("article", { class: "card", id: `source-${source.n}`, tabindex: "-1",
        dataset: { n: String(source.n), chunk: source.chunk_id, document: source.document_id } },
        h("header", {},
          h("h4", {}, h("span", { class: "n", text: `[${source.n}]` }), " ", source.title || source.chunk_id),
          h("span", { class: "muted small", text: `score ${Number(source.score).toFixed(3)}` }),
          h("ul", { class: "chips", "aria-label": "found by" },
            (source.channels || []).map((c) => h("li", { class: "chip", text: c })))),
        h("p", { class: "snippet" }, ...marked(source.snippet, linked)),
        h("a", { href: documentHref(source.document_id), class: "small", title: source.document_id },
          `Open the document “${source.title || source.document_id}”`)));
    }
  }
}

/** passage node id -> names of the entities the graph links it with (seeds and path entities). */
function entityNamesByPassage(graph) {
  const result = new Map();
  if (!graph) return result;
  const labels = new Map(graph.nodes.map((n) => [n.id, n]));
  const add = (passage, entity) => {
    const node = labels.get(entity);
    if (!node || node.kind === "passage") return;
    if (!result.has(passage)) result.set(passage, []);
    result.get(passage).push(node.label);
  };
  for (const edge of graph.edges) {
    if (edge.source.startsWith("p:")) add(edge.source, edge.target);
    if (edge.target.startsWith("p:")) add(edge.target, edge.source);
  }
  return result;
}
