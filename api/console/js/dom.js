// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing from the API or
// a document can inject markup; no element ever gets a `style` attribute (the page's CSP forbids it).

/** An element: `attrs.class`, `attrs.text`, `attrs.dataset`, `attrs.on{Event}` handlers, other attributes as is. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2).toLowerCase(), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Show `message` in a `role=alert` box (or hide it when empty). */
export function showError(box, message) {
  box.textContent = message || "";
  box.hidden = !message;
}

/**
 * `text` with every case-insensitive, whole-word occurrence of `names` wrapped in <mark>: the entity
 * names a passage was linked through, so a reader sees why it was chosen.
 */
export function marked(text, names) {
  const wanted = [...new Set(names.filter((n) => n && n.trim().length > 1))].sort((a, b) => b.length - a.length);
  if (!wanted.length) return [document.createTextNode(text)];
  const escaped = wanted.map((n) => n.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join("|")})(?![\\p{L}\\p{N}])`, "giu");
  const out = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    out.push(h("mark", { text: match[0] }));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** The hash route of one document (ids may hold slashes: `batch/a.md`). */
export const documentHref = (id) => `#/documents/${encodeURIComponent(id)}`;
