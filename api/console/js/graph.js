// The evidence graph: Cytoscape.js (vendored in api/console/vendor, served at /ui/vendor/cytoscape.js) draws the
// question's seed entities, the ranked passages and the paths that explain them (the `graph` field
// of /v1/ask). Clicking an entity merges its neighbourhood (/v1/graph/entities/{key}); clicking a
// passage opens its document. A list of the same nodes as buttons makes all of it keyboard-usable.

import { ApiError, describe, getJSON, scoped } from "./api.js";
import { clear, h } from "./dom.js";

const STYLE = [
  { selector: "node", style: {
    label: "data(label)", "font-size": 11, "text-wrap": "ellipsis", "text-max-width": 130, "text-valign": "bottom",
    "text-margin-y": 4, color: "#1c2430", "background-color": "#1f5fbf", width: 22, height: 22,
    "text-background-color": "#fbfcfd", "text-background-opacity": 0.8, "text-background-padding": 1 } },
  { selector: "node[kind = 'seed']", style: { "background-color": "#d9480f", width: 30, height: 30, "font-weight": "bold" } },
  { selector: "node[kind = 'passage']", style: {
    shape: "round-rectangle", "background-color": "#2b8a3e", width: 26, height: 20, label: "data(caption)" } },
  { selector: "node[kind = 'neighbour']", style: { "background-color": "#868e96", width: 16, height: 16, "font-size": 10 } },
  { selector: "node.expanded", style: { "border-width": 3, "border-color": "#f59f00" } },
  { selector: "node:selected, node.focus", style: { "border-width": 4, "border-color": "#f59f00" } },
  { selector: "edge", style: {
    width: 1.5, "line-color": "#adb5bd", "curve-style": "bezier", "target-arrow-shape": "triangle",
    "target-arrow-color": "#adb5bd", "arrow-scale": 0.8, label: "data(relation)", "font-size": 8, color: "#6c757d",
    "text-rotation": "autorotate", "text-background-color": "#fbfcfd", "text-background-opacity": 0.8 } },
  // passage <-> entity links are told apart by colour and line, not by a label on every edge
  { selector: "edge[relation = 'NAMES']", style: { "line-style": "dashed", label: "", "line-color": "#ced4da", "target-arrow-color": "#ced4da" } },
  { selector: "edge[relation = 'ABOUT']", style: { "line-style": "dotted", label: "", "line-color": "#9aa5b1", "target-arrow-color": "#9aa5b1" } },
  { selector: "edge[relation = 'MENTIONED_IN'], edge[relation = 'MENTIONS']", style: { label: "", "line-color": "#69a274", "target-arrow-color": "#69a274", width: 2.5 } },
];

const KIND_TEXT = { seed: "question entity", entity: "entity", passage: "passage", neighbour: "neighbour" };

export class EvidenceGraph {
  constructor({ container, list, summary, onOpenDocument, onError }) {
    this.container = container;
    this.list = list;
    this.summary = summary;
    this.onOpenDocument = onOpenDocument;
    this.onError = onError;
    this.cy = null;
    this.generation = 0;  // bumped by reset(): a neighbourhood that arrives after it is not merged
    this.loading = this.load();
  }

  async load() {
    try {
      const module = await import("/ui/vendor/cytoscape.js");
      const cytoscape = module.default;
      this.cy = cytoscape({ container: this.container, style: STYLE, elements: [],
        minZoom: 0.2, maxZoom: 3, boxSelectionEnabled: false });
      this.cy.on("tap", "node", (event) => this.activate(event.target.data()));
      new ResizeObserver(() => this.cy.resize()).observe(this.container);
      window.graphragConsole = Object.assign(window.graphragConsole || {}, { cy: this.cy }); // for tests and debugging
    } catch (err) {
      this.container.classList.add("unavailable");
      this.container.textContent = "The graph library could not be loaded; the node list below still works.";
    }
  }

  /** Replace the drawing with one answer's evidence graph (`{nodes, edges}` of the API). */
  async show(graph) {
    await this.loading;
    this.nodes = new Map();
    this.edges = new Map();
    this.expanded = new Set();
    for (const node of graph ? graph.nodes : []) this.addNode({ ...node });
    for (const edge of graph ? graph.edges : []) this.addEdge(edge);
    if (this.cy) {
      this.cy.elements().remove();
      this.cy.add([...this.nodes.values()].map((data) => ({ group: "nodes", data })));
      this.cy.add([...this.edges.values()].map((data) => ({ group: "edges", data })));
      this.layout();
    }
    this.render();
  }

  /** An empty drawing (another workspace was chosen). */
  async reset() {
    this.generation += 1;
    await this.show(null);
  }

  addNode(data) {
    if (this.nodes.has(data.id)) return false;
    data.caption = data.n ? `[${data.n}] ${data.label}` : data.label;
    this.nodes.set(data.id, data);
    return true;
  }

  addEdge(edge) {
    const id = `${edge.source}|${edge.relation}|${edge.target}`;
    if (this.edges.has(id) || !this.nodes.has(edge.source) || !this.nodes.has(edge.target)) return false;
    this.edges.set(id, { id, source: edge.source, target: edge.target, relation: edge.relation });
    return true;
  }

  /** Rings by kind (seeds in the middle, neighbours outside), spaced by each node's box with its
   * label, so that no label lies over another node or label. */
  layout() {
    const rank = { seed: 3, entity: 2, passage: 1, neighbour: 0 };
    this.cy.layout({ name: "concentric", concentric: (node) => rank[node.data("kind")] ?? 0,
      levelWidth: () => 1, minNodeSpacing: 12, avoidOverlap: true, nodeDimensionsIncludeLabels: true,
      animate: false, padding: 24 }).run();
  }

  /** What a click on a node (or its button) does: expand an entity, open a passage's document. */
  activate(data) {
    if (data.kind === "passage") {
      if (data.document_id) this.onOpenDocument(data.document_id);
    } else if (data.key) {
      this.expand(data.key);
    }
  }

  /** Merge an entity's 1-hop neighbourhood into the drawing, around the entity. */
  async expand(key, label = "") {
    await this.loading;
    if (!this.nodes) await this.show(null);
    const id = `e:${key}`;
    const generation = this.generation;
    let found;
    try {
      found = await getJSON(scoped(`/graph/entities/${encodeURIComponent(key)}?hops=1&limit=25`));
    } catch (err) {
      const text = err instanceof ApiError && err.status === 404 ? `The entity “${label || key}” is no longer in the graph.` : describe(err);
      if (generation === this.generation) this.onError(text);
      return;
    }
    if (generation !== this.generation) return;
    if (!this.nodes.has(id)) {
      const root = found.nodes.find((n) => n.key === key) || { key, name: label || key };
      this.addNode({ id, key, label: root.name, kind: "entity" });
      if (this.cy) this.cy.add({ group: "nodes", data: this.nodes.get(id) });
    }
    const added = [];
    for (const node of found.nodes) {
      const nodeId = `e:${node.key}`;
      if (this.addNode({ id: nodeId, key: node.key, label: node.name, kind: "neighbour", type: node.type })) added.push(nodeId);
    }
    const newEdges = [];
    for (const edge of found.edges) {
      const data = { source: `e:${edge.source}`, target: `e:${edge.target}`, relation: edge.type };
      if (this.addEdge(data)) newEdges.push(this.edges.get(`${data.source}|${data.relation}|${data.target}`));
    }
    this.expanded.add(key);
    if (this.cy) {
      const centre = this.cy.getElementById(id);
      this.cy.add(added.map((nodeId) => ({ group: "nodes", data: this.nodes.get(nodeId) })));
      this.cy.add(newEdges.map((data) => ({ group: "edges", data })));
      centre.addClass("expanded");
      // all of it again: placing the neighbours on a circle around the entity laid their labels over
      // the nodes already drawn there
      this.layout();
      this.cy.fit(this.cy.elements(), 24);
    }
    this.render();
  }

  focusPassage(n) {
    if (!this.cy) return;
    this.cy.nodes().removeClass("focus");
    this.cy.nodes(`[n = ${Number(n)}]`).addClass("focus");
  }

  /** The node list (keyboard access) and the counts; the counts are also on the container for tests. */
  render() {
    const nodes = [...(this.nodes || new Map()).values()];
    const edges = (this.edges || new Map()).size;
    this.container.dataset.nodes = String(nodes.length);
    this.container.dataset.edges = String(edges);
    this.summary.textContent = nodes.length ? `${nodes.length} nodes, ${edges} edges` : "";
    clear(this.list);
    const order = { seed: 0, passage: 1, entity: 2, neighbour: 3 };
    nodes.sort((a, b) => (order[a.kind] - order[b.kind]) || (a.n || 0) - (b.n || 0) || a.label.localeCompare(b.label));
    for (const node of nodes) {
      const action = node.kind === "passage"
        ? (node.document_id ? "open its document" : "not a source")
        : (this.expanded.has(node.key) ? "expanded" : "expand");
      const button = h("button", { type: "button", class: node.kind, dataset: { node: node.id, kind: node.kind },
        title: `${KIND_TEXT[node.kind]}: ${action}`, "aria-label": `${node.caption} (${KIND_TEXT[node.kind]}): ${action}`,
        disabled: node.kind === "passage" && !node.document_id, onClick: () => this.activate(node) }, node.caption);
      this.list.append(h("li", {}, button));
    }
  }
}
