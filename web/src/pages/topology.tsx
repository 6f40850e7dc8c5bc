// The topology map: a view (hosts, containers, processes, pods) drawn with
// cytoscape on a canvas, or the same nodes as a sortable, filterable table.
// Internet pseudo-nodes are drawn distinctly; when the console answers with
// an aggregated graph (too many nodes) the groups are drawn instead, sized by
// how many nodes they stand for. Selecting a node (click, or Enter on the
// table row) opens its detail panel, with a "Scan" button for hosts,
// containers and images. This module is lazy-loaded: cytoscape stays out of
// the shell's bundle.
import cytoscape, { type Core, type ElementDefinition } from "cytoscape";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { api, type ApiError, type Graph, type GraphNode, type GraphView, type NodeDetail } from "../api";
import { ErrorAlert, Field, Notice, Page, SelectField, Time, toApiError } from "../components";
import { useUser } from "../session";

const graphViews: readonly GraphView[] = ["hosts", "containers", "processes", "pods"];
const singular: Record<GraphView, string> = { hosts: "host", containers: "container", processes: "process", pods: "pod" };
const scannableKinds = new Set(["host", "container", "image"]);
const mapModes = ["map", "table"] as const;
const pseudo = new Set(["internet", "private"]);

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
      "background-color": "#2563a6",
      width: 22,
      height: 22,
      "text-max-width": "140px",
      "text-wrap": "ellipsis",
    },
  },
  { selector: "node[kind = 'container']", style: { "background-color": "#0f766e", shape: "round-rectangle" } },
  { selector: "node[kind = 'process']", style: { "background-color": "#6d28d9", width: 14, height: 14 } },
  { selector: "node[kind = 'pod']", style: { "background-color": "#b45309", shape: "hexagon" } },
  {
    selector: "node[kind = 'internet'], node[kind = 'private']",
    style: { "background-color": "#fff", "border-width": 3, "border-color": "#b91c1c", shape: "diamond", width: 34, height: 34, "font-weight": "bold" },
  },
  { selector: "node[kind = 'private']", style: { "border-color": "#64748b" } },
  {
    selector: "node[kind = 'group']",
    style: { shape: "round-rectangle", "background-color": "#94a3b8", width: "mapData(count, 1, 1000, 26, 90)", height: "mapData(count, 1, 1000, 26, 90)" },
  },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#f59e0b" } },
  {
    selector: "edge",
    style: { width: "mapData(count, 1, 100, 1, 6)", "line-color": "#9aa7b6", "target-arrow-color": "#9aa7b6", "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 },
  },
];

function elements(g: Graph): ElementDefinition[] {
  const ids = new Set(g.nodes.map((n) => n.id));
  const nodes: ElementDefinition[] = g.nodes.map((n) => ({
    data: { id: n.id, kind: n.kind, count: n.count, label: n.count > 1 ? `${n.label} (${n.count})` : n.label },
  }));
  const edges: ElementDefinition[] = g.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target, count: e.count, kind: e.kind } }));
  return [...nodes, ...edges];
}

function GraphCanvas({ graph, selected, onSelect }: { graph: Graph; selected: string | null; onSelect: (id: string) => void }) {
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const select = useRef(onSelect);
  select.current = onSelect;

  useEffect(() => {
    if (box.current === null) return;
    markCytoscapeStylesheet();
    const big = graph.nodes.length > 300;
    const c = cytoscape({
      container: box.current,
      elements: elements(graph),
      style,
      layout: big ? { name: "grid", avoidOverlap: true } : { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 8000 },
      minZoom: 0.05,
      maxZoom: 4,
      textureOnViewport: big,
      hideEdgesOnViewport: big,
      wheelSensitivity: 0.3,
    });
    // A small graph is not blown up to fill the canvas.
    if (c.zoom() > 1.5) {
      c.zoom(1.5);
      c.center();
    }
    c.on("tap", "node", (e) => select.current(e.target.id()));
    cy.current = c;
    return () => {
      c.destroy();
      cy.current = null;
    };
  }, [graph]);

  useEffect(() => {
    const c = cy.current;
    if (c === null) return;
    c.nodes().unselect();
    if (selected !== null) c.getElementById(selected).select();
  }, [selected, graph]);

  return (
    <div
      ref={box}
      className="canvas"
      role="img"
      aria-label={`Topology map: ${graph.nodes.length} nodes and ${graph.edges.length} connections. The table view lists the same nodes.`}
      data-nodes={graph.nodes.length}
    />
  );
}

type SortKey = "label" | "kind" | "count";

function NodeTable({ nodes, selected, onSelect }: { nodes: GraphNode[]; selected: string | null; onSelect: (id: string) => void }) {
  const [sort, setSort] = useState<SortKey>("label");
  const [desc, setDesc] = useState(false);
  const [filter, setFilter] = useState("");
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const out = nodes.filter((n) => f === "" || n.label.toLowerCase().includes(f) || n.kind.includes(f));
    out.sort((a, b) => {
      const c = sort === "count" ? a.count - b.count : a[sort].localeCompare(b[sort]);
      return desc ? -c : c;
    });
    return out;
  }, [nodes, sort, desc, filter]);
  const header = (k: SortKey, label: string) => (
    <th scope="col" aria-sort={sort === k ? (desc ? "descending" : "ascending") : "none"}>
      <button
        type="button"
        className="sort"
        onClick={() => {
          if (sort === k) setDesc(!desc);
          else {
            setSort(k);
            setDesc(false);
          }
        }}
      >
        {label}
        {sort === k ? (desc ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );
  return (
    <>
      <Field label="Filter the table" type="search" value={filter} onChange={setFilter} />
      <table className="data nodes">
        <caption className="sr-only">Nodes of the map</caption>
        <thead>
          <tr>
            {header("label", "Name")}
            {header("kind", "Kind")}
            {header("count", "Nodes")}
            <th scope="col">
              <span className="sr-only">Select</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((n) => (
            <tr key={n.id} data-node={n.label} aria-selected={selected === n.id}>
              <th scope="row">{n.label}</th>
              <td>{n.kind}</td>
              <td>{n.count}</td>
              <td className="actions">
                <button type="button" onClick={() => onSelect(n.id)} aria-label={`Details of ${n.label}`}>
                  Details
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function DetailPanel({ id, onSelect }: { id: string; onSelect: (id: string) => void }) {
  const user = useUser();
  const [node, setNode] = useState<NodeDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [started, setStarted] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    setNode(null);
    setStarted(null);
    setError(null);
    api
      .node(id)
      .then((d) => live && setNode(d))
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [id]);

  const scan = async () => {
    setBusy(true);
    try {
      const r = await api.startScans([id]);
      setStarted(r.items?.[0]?.id ?? "");
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const heading = node?.label ?? "Node";
  return (
    <aside aria-labelledby="detail-h" data-detail={node?.label ?? ""}>
      <h2 id="detail-h">{heading}</h2>
      <ErrorAlert error={error} />
      {node === null ? (
        error === null && <p aria-busy="true">Loading…</p>
      ) : (
        <>
          {scannableKinds.has(node.kind) && (
            <p>
              <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(node.id)}`}>Findings of {node.label}</Link>
            </p>
          )}
          {scannableKinds.has(node.kind) && user.role !== "read-only" && (
            <p>
              <button type="button" className="primary" onClick={() => void scan()} disabled={busy} aria-label={`Scan ${node.label}`}>
                {busy ? "Starting…" : "Scan"}
              </button>
            </p>
          )}
          {started !== null && (
            <Notice>
              <span data-scan-started={started}>
                Scan started. <Link to="/scans">Follow it on the scans page</Link>.
              </span>
            </Notice>
          )}
          <dl className="facts">
            <dt>Kind</dt>
            <dd>{node.kind}</dd>
            {node.host !== undefined && node.host !== "" && (
              <>
                <dt>Host</dt>
                <dd>{node.host}</dd>
              </>
            )}
            {node.exe !== undefined && (
              <>
                <dt>Executable</dt>
                <dd>{node.exe}</dd>
              </>
            )}
            {(node.ips?.length ?? 0) > 0 && (
              <>
                <dt>Addresses</dt>
                <dd>{node.ips?.join(", ")}</dd>
              </>
            )}
            <dt>Children</dt>
            <dd>{node.childCount}</dd>
            <dt>Connections</dt>
            <dd>{node.connections?.length ?? 0}</dd>
            <dt>Last seen</dt>
            <dd>
              <Time iso={node.lastSeen} />
              {node.gone && " (gone)"}
            </dd>
            {Object.entries(node.meta ?? {})
              .slice(0, 12)
              .map(([k, v]) => (
                <div key={k} className="contents">
                  <dt>{k}</dt>
                  <dd>{v}</dd>
                </div>
              ))}
          </dl>
          {(node.children?.length ?? 0) > 0 && (
            <>
              <h3>Inside</h3>
              <ul className="refs">
                {node.children?.slice(0, 30).map((c) => (
                  <li key={c.id}>
                    <button type="button" className="link" onClick={() => onSelect(c.id)}>
                      {c.kind} {c.label}
                    </button>
                  </li>
                ))}
              </ul>
            </>
          )}
          {(node.ancestors?.length ?? 0) > 0 && (
            <>
              <h3>Part of</h3>
              <ul className="refs">
                {node.ancestors?.map((c) => (
                  <li key={c.id}>
                    <button type="button" className="link" onClick={() => onSelect(c.id)}>
                      {c.kind} {c.label}
                    </button>
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </aside>
  );
}

export default function TopologyPage() {
  const [view, setView] = useState<GraphView>("hosts");
  const [mode, setMode] = useState<(typeof mapModes)[number]>("map");
  const [q, setQ] = useState("");
  const [graph, setGraph] = useState<Graph | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [selected, setSelected] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const g = await api.graph({ view, q: q.trim() });
      // Redraw only when the answer changed, so the map does not jump while the user looks at it.
      setGraph((cur) => (cur !== null && JSON.stringify(cur) === JSON.stringify(g) ? cur : g));
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    }
  }, [view, q]);

  useEffect(() => {
    const t0 = window.setTimeout(() => void load(), 250);
    const t = window.setInterval(() => void load(), 10_000);
    return () => {
      window.clearTimeout(t0);
      window.clearInterval(t);
    };
  }, [load]);

  const onSelect = useCallback((id: string) => {
    // Aggregates are not nodes: selecting one drills into it by searching its members.
    setSelected(id);
  }, []);
  const selectedNode = graph?.nodes.find((n) => n.id === selected);
  const isGroup = selectedNode !== undefined && (selectedNode.kind === "group" || selectedNode.count > 1);
  const hosts = graph?.nodes.filter((n) => !pseudo.has(n.kind)).length ?? 0;

  return (
    <Page title="Topology">
      <div className="filters">
        <SelectField label="View" value={view} options={graphViews} onChange={(v) => (setView(v), setSelected(null))} />
        <SelectField label="Show as" value={mode} options={mapModes} onChange={setMode} />
        <Field label="Search nodes" type="search" value={q} onChange={setQ} />
      </div>
      <ErrorAlert error={error} />
      {graph === null ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <p role="status" className="graph-status">
            {graph.aggregated
              ? `Aggregated view: ${graph.total} nodes drawn as ${graph.nodes.length} groups. Search or pick a group to see its members.`
              : `${hosts} ${hosts === 1 ? singular[view] : view}, ${graph.nodes.length - hosts} internet pseudo-nodes, ${graph.edges.length} connections.`}
          </p>
          {graph.nodes.length === 0 ? (
            <p>Nothing reported yet for this view. The local sensor reports this machine within about 30 seconds of start.</p>
          ) : (
            <div className="topo">
              {mode === "map" ? (
                <GraphCanvas graph={graph} selected={selected} onSelect={onSelect} />
              ) : (
                <div>
                  <NodeTable nodes={graph.nodes} selected={selected} onSelect={onSelect} />
                </div>
              )}
              {selected === null ? (
                <aside aria-label="Node details">
                  <p>Select a node on the map or in the table to see its details.</p>
                </aside>
              ) : isGroup ? (
                <aside aria-labelledby="group-h">
                  <h2 id="group-h">{selectedNode.label}</h2>
                  <p>
                    A group of {selectedNode.count} {selectedNode.kind === "group" ? "nodes" : selectedNode.kind}.
                  </p>
                  <button type="button" onClick={() => (setQ(selectedNode.label), setSelected(null))}>
                    Show its members
                  </button>
                </aside>
              ) : (
                <DetailPanel id={selected} onSelect={onSelect} />
              )}
            </div>
          )}
        </>
      )}
    </Page>
  );
}
