// The map of a graph of up to a few hundred nodes, drawn with cytoscape
// (a force-directed layout, labels, arrows). Its own chunk: a large graph
// is drawn by BigMap and never loads cytoscape (bench/web.sh: parsing and
// compiling it was the hosts view's longest main-thread task).
import cytoscape, { type Core, type ElementDefinition } from "cytoscape";
import { useEffect, useRef } from "react";
import type { Graph, GraphNode } from "../api";
import { kindShape, mapName, riskBadge, riskColour, riskLevel, riskRank } from "../maprisk";
import type { MapHop } from "./bigmap";

const pseudo = new Set(["internet", "private"]);
type PathHop = MapHop;

// cytoscape adds a <style> element for its container class unless an element
// with this id exists; the console's Content-Security-Policy forbids inline
// styles, so the rule is in style.css and this marker stops the injection.
const cytoscapeStylesheet = "__________cytoscape_stylesheet";
function markCytoscapeStylesheet() {
  if (document.getElementById(cytoscapeStylesheet) !== null) return;
  const m = document.createElement("meta");
  m.id = cytoscapeStylesheet;
  m.name = "cytoscape-stylesheet";
  m.content = "style.css";
  document.head.appendChild(m);
}

const style: cytoscape.StylesheetJson = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      "font-size": 11,
      color: "#1f2937",
      "text-valign": "bottom",
      "text-margin-y": 4,
      // Colour: the worst current finding; shape: the kind (maprisk.tsx).
      "background-color": "data(colour)",
      shape: "data(shape)" as unknown as "ellipse",
      "border-width": 1,
      "border-color": "#334155",
      width: 22,
      height: 22,
      "text-max-width": "160px",
      "text-wrap": "wrap",
      // Labels too small to read are not drawn (large graphs, zoomed out).
      "min-zoomed-font-size": 8,
    },
  },
  { selector: "node[kind = 'process']", style: { width: 14, height: 14 } },
  {
    selector: "node[kind = 'internet'], node[kind = 'private']",
    style: { "background-color": "#fff", "border-width": 3, "border-color": "#b91c1c", shape: "diamond", width: 34, height: 34, "font-weight": "bold" },
  },
  { selector: "node[kind = 'private']", style: { "border-color": "#64748b" } },
  {
    selector: "node[kind = 'group']",
    style: { "border-width": 3, width: "mapData(count, 1, 1000, 26, 90)", height: "mapData(count, 1, 1000, 26, 90)" },
  },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#f59e0b" } },
  { selector: "node.focused", style: { "border-width": 4, "border-color": "#0ea5e9", "border-style": "double" } },
  {
    selector: "edge",
    style: { width: "mapData(count, 1, 100, 1, 6)", "line-color": "#9aa7b6", "target-arrow-color": "#9aa7b6", "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 },
  },
  // Attack path.
  { selector: "node.onpath", style: { "border-width": 4, "border-color": "#dc2626", "z-index": 10 } },
  { selector: "edge.path", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", width: 4, "z-index": 10, "line-style": "solid", opacity: 1 } },
  // What is not on the attack path fades.
  { selector: "node.dim", style: { opacity: 0.25 } },
  { selector: "edge.dim", style: { opacity: 0.12 } },
  // A host expanded in place: its containers and processes hang off it.
  { selector: "edge[kind = 'contains']", style: { "line-style": "dashed", "target-arrow-shape": "none", width: 1 } },
];


/** A node's cytoscape data: its name and risk badge, its colour and shape. */
function nodeData(n: GraphNode) {
  const badge = riskBadge(n.risk);
  const level = riskLevel(n.risk);
  return {
    id: n.id,
    kind: n.kind,
    count: n.count,
    name: n.label,
    label: badge === "" ? mapName(n) : `${mapName(n)}\n${badge}`,
    worst: level,
    colour: pseudo.has(n.kind) ? "#fff" : riskColour[level],
    shape: kindShape[n.kind] ?? "ellipse",
  };
}

function elements(g: Graph, path: PathHop[]): ElementDefinition[] {
  const ids = new Set(g.nodes.map((n) => n.id));
  const onPath = new Set(path.map((h) => h.id));
  const dim = path.length > 0;
  const nodes: ElementDefinition[] = g.nodes.map((n) => ({
    data: nodeData(n),
    ...(onPath.has(n.id) ? { classes: "onpath" } : dim ? { classes: "dim" } : {}),
  }));
  // Hops the view does not show as nodes (the host and container above a
  // process) are added so the whole path is drawn.
  for (const h of path) {
    if (ids.has(h.id)) continue;
    ids.add(h.id);
    nodes.push({ data: nodeData({ id: h.id, kind: h.kind, count: 1, label: h.label }), classes: "onpath" });
  }
  const edges: ElementDefinition[] = g.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target, count: e.count, kind: e.kind }, ...(dim ? { classes: "dim" } : {}) }));
  for (let i = 1; i < path.length; i++) {
    const a = path[i - 1];
    const b = path[i];
    if (a === undefined || b === undefined) continue;
    edges.push({ data: { id: `path${i}`, source: a.id, target: b.id, count: 1, kind: "path" }, classes: "path" });
  }
  return [...nodes, ...edges];
}

/** One node's name and position on the canvas element, for the tests (a canvas has no DOM nodes to click). */
function probe(el: HTMLElement, n: cytoscape.NodeSingular) {
  if (n.length === 0) return;
  const pos = n.renderedPosition();
  el.dataset.probeId = n.id();
  el.dataset.probeLabel = String(n.data("name"));
  el.dataset.probeX = String(Math.round(pos.x));
  el.dataset.probeY = String(Math.round(pos.y));
}

export default function GraphCanvas({
  graph,
  path,
  selected,
  focused,
  onSelect,
  label,
}: {
  graph: Graph;
  path: PathHop[];
  selected: string | null;
  focused: string | null;
  onSelect: (id: string) => void;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const select = useRef(onSelect);
  select.current = onSelect;

  useEffect(() => {
    if (box.current === null) return;
    markCytoscapeStylesheet();
    const el = box.current;
    el.removeAttribute("data-ready");
    const c = cytoscape({
      container: el,
      elements: elements(graph, path),
      style,
      layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 8000 },
      minZoom: 0.05,
      maxZoom: 4,
    });
    // An attack path: the view is fitted to its hops. A small graph is
    // not blown up to fill the canvas.
    const hops = c.nodes(".onpath");
    if (hops.length > 0) c.fit(hops, 60);
    if (c.zoom() > 1.5) {
      c.zoom(1.5);
      if (hops.length > 0) c.center(hops);
      else c.center();
    }
    // The nodes highlighted, for the tests.
    if (hops.length > 0) el.dataset.onpath = hops.map((n) => n.id()).join(",");
    else delete el.dataset.onpath;
    // The nodes faded off the path, for the tests.
    el.dataset.dimmed = String(c.nodes(".dim").length);
    c.on("tap", "node", (e) => select.current(e.target.id()));
    cy.current = c;
    // Drawn: the frame after the first render. One node's position is kept
    // for the tests (a canvas has no DOM nodes to click).
    let frame = requestAnimationFrame(() => {
      frame = requestAnimationFrame(() => {
        if (cy.current !== c) return;
        const onPath = c.nodes(".onpath").filter((n) => !pseudo.has(n.data("kind") as string));
        const real = c.nodes().filter((n) => !pseudo.has(n.data("kind") as string) && n.data("kind") !== "group");
        const any: cytoscape.NodeSingular = onPath.length > 0 ? (onPath.last() as cytoscape.NodeSingular) : real.length > 0 ? (real.first() as cytoscape.NodeSingular) : c.nodes().first();
        probe(el, any);
        // The riskiest node and the colour it is filled with, for the tests.
        const risky = [...graph.nodes].filter((n) => n.risk !== undefined).sort((a, b) => riskRank(b.risk) - riskRank(a.risk))[0];
        const rn = risky === undefined ? undefined : c.getElementById(risky.id);
        if (rn !== undefined && rn.length > 0) {
          const pos = rn.renderedPosition();
          el.dataset.riskyId = rn.id();
          el.dataset.riskyColour = String(rn.data("colour"));
          el.dataset.riskyX = String(Math.round(pos.x));
          el.dataset.riskyY = String(Math.round(pos.y));
        }
        el.dataset.ready = "true";
        performance.mark("riskmap:map-drawn", { detail: { nodes: graph.nodes.length, edges: graph.edges.length } });
      });
    });
    return () => {
      cancelAnimationFrame(frame);
      c.destroy();
      cy.current = null;
    };
  }, [graph, path]);

  useEffect(() => {
    const c = cy.current;
    if (c === null) return;
    c.nodes().unselect();
    if (selected !== null) c.getElementById(selected).select();
  }, [selected, graph]);

  // The node the keyboard list is on: ringed, and brought into view.
  useEffect(() => {
    const c = cy.current;
    if (c === null) return;
    c.nodes(".focused").removeClass("focused");
    if (focused === null) return;
    const n = c.getElementById(focused);
    if (n.length === 0) return;
    n.addClass("focused");
    const p = n.renderedPosition();
    if (p.x < 0 || p.y < 0 || p.x > c.width() || p.y > c.height()) c.center(n);
  }, [focused, graph]);

  return (
    <div
      ref={box}
      className="canvas"
      role="img"
      aria-label={label}
      data-nodes={graph.nodes.length}
      data-path={path.map((h) => h.id).join(",")}
    />
  );
}

