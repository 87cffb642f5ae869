// Jobs: the newest ingest jobs (GET /v1/ingest/jobs) with a progress bar each, polled once a second
// while any of them is queued or running; their summaries (documents, chunks, failures) or errors.

import { describe, getJSON, scoped } from "./api.js";
import { $, clear, formatDate, h, showError } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 1000;

export class JobsView {
  constructor({ onFinished }) {
    this.onFinished = onFinished;
    this.list = $("#jobs");
    this.error = $("#jobs-error");
    this.jobs = new Map();
    this.timer = null;
    this.generation = 0;  // bumped by reset(): answers about the other workspace's jobs are dropped
  }

  /** No jobs shown, none polled (another workspace was chosen); `load()` lists the new one's. */
  reset() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    this.jobs = new Map();
    showError(this.error, "");
    this.render();
  }

  /** A job this page just submitted: shown at once, followed until it ends. */
  track(job) {
    this.jobs.set(job.id, job);
    this.render();
    this.schedule();
  }

  async load() {
    const generation = this.generation;
    try {
      const page = await getJSON(scoped("/ingest/jobs?limit=20"));
      if (generation !== this.generation) return;
      for (const job of page.items) this.merge(job);
      showError(this.error, "");
      this.render();
      this.schedule();
    } catch (err) {
      if (generation === this.generation) showError(this.error, describe(err));
    }
  }

  merge(job) {
    const before = this.jobs.get(job.id);
    this.jobs.set(job.id, job);
    if (before && ACTIVE.has(before.state) && !ACTIVE.has(job.state)) this.onFinished(job);
  }

  schedule() {
    if (this.timer || ![...this.jobs.values()].some((j) => ACTIVE.has(j.state))) return;
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    this.timer = null;
    const generation = this.generation;
    const active = [...this.jobs.values()].filter((j) => ACTIVE.has(j.state));
    try {
      for (const job of active) {
        const fresh = await getJSON(scoped(`/ingest/jobs/${encodeURIComponent(job.id)}`));
        if (generation !== this.generation) return;
        this.merge(fresh);
      }
      showError(this.error, "");
    } catch (err) {
      if (generation !== this.generation) return;
      showError(this.error, describe(err));
    }
    this.render();
    this.schedule();
  }

  render() {
    clear(this.list);
    const jobs = [...this.jobs.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    if (!jobs.length) this.list.append(h("li", { class: "muted", text: "No ingest jobs yet: drop files in Documents." }));
    for (const job of jobs) {
      const { done, total } = job.progress;
      const summary = job.summary;
      this.list.append(h("li", { class: "job", dataset: { id: job.id, state: job.state } },
        h("header", {},
          h("strong", { text: job.id }),
          h("span", { class: `badge state-${job.state}`, text: job.state }),
          h("span", { class: "muted small", text: `started ${formatDate(job.created_at)}` })),
        h("progress", { max: String(Math.max(total, 1)), value: String(total ? done : 1),
          "aria-label": `${job.id}: ${done} of ${total} files` }),
        h("p", { class: "small", text: `${done} / ${total} files` }),
        summary ? h("p", { class: "summary", text: `${summary.documents} new or replaced, ${summary.skipped} unchanged; ` +
          `${summary.chunks} chunks, ${summary.entities} entities, ${summary.relations} relations in ${summary.seconds} s` }) : null,
        summary && summary.failed.length ? h("ul", { class: "failed" }, summary.failed.map((f) => h("li", { text: f }))) : null,
        job.error ? h("p", { class: "error", text: job.error }) : null));
    }
  }
}
