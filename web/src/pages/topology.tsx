// The topology map: a view (hosts, containers, processes, pods) drawn with
// cytoscape on a canvas, or the same nodes as a sortable, filterable table.
// Internet pseudo-nodes are drawn distinctly; when the console answers with
// an aggregated graph (too many nodes) the groups are drawn instead, sized by
// how many nodes they stand for. Selecting a node (click, or Enter on the
// table row) opens its detail panel, with a "Scan" button for hosts,
// containers and images. This module is lazy-loaded: cytoscape stays out of
// the shell's bundle.
//
// Size: the page asks the console to aggregate above mapBudget nodes, so
// cytoscape never draws more than about that many (1,000 hosts are drawn
// one by one; 25,000 processes arrive as per-host groups). Big graphs use a
// grid layout, straight "haystack" edges without arrows, and labels only
// when zoomed in. When the map is drawn the page sets data-ready on the
// canvas and marks "riskmap:map-drawn" (Performance API); data-probe-* give
// the position of one node for the browser tests and bench/web.sh.
//
// Attack paths: /topology?path=ID,ID,... (from a finding's explanation,
// the node panel or the threat graph) shows the processes of the path's
// host with the path's nodes and hops highlighted, the view fitted to
// them. The selected node is kept in the URL (?node=ID).
import cytoscape, { type Core, type ElementDefinition } from "cytoscape";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, type ApiError, type Graph, type GraphNode, type GraphView, type NodeDetail, type NodeFinding, type ScanType } from "../api";
import { attackPaths, pathLink } from "../findings";
import { BigMap, type MapHop } from "./bigmap";
import { ErrorAlert, Field, Notice, Page, ScanTypeField, SelectField, Skeleton, Time, toApiError } from "../components";
import { NodeCompliance, ProfilePicker } from "../compliance";
import { NodeLastScan } from "../coverage";
import { useUser } from "../session";
import { formatNumber } from "../format";

const graphViews: readonly GraphView[] = ["hosts", "containers", "images", "processes", "pods"];
const singular: Record<GraphView, string> = { hosts: "host", containers: "container", images: "image", processes: "process", pods: "pod" };
const scannableKinds = new Set(["host", "container", "image"]);
const mapModes = ["map", "table"] as const;
const pseudo = new Set(["internet", "private"]);
/** The most nodes the map draws; the console aggregates above it. */
export const mapBudget = 1500;
/** Above this many nodes the map is drawn by BigMap (plain canvas) instead of cytoscape. */
const bigGraph = 300;

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
      // Labels too small to read are not drawn (large graphs, zoomed out).
      "min-zoomed-font-size": 8,
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
  // Attack path.
  { selector: "node.onpath", style: { "border-width": 4, "border-color": "#dc2626", "z-index": 10 } },
  { selector: "edge.path", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626", width: 4, "z-index": 10, "line-style": "solid", opacity: 1 } },
];

/** The hops of an attack path as the map draws them. */
type PathHop = MapHop;

function elements(g: Graph, path: PathHop[]): ElementDefinition[] {
  const ids = new Set(g.nodes.map((n) => n.id));
  const onPath = new Set(path.map((h) => h.id));
  const nodes: ElementDefinition[] = g.nodes.map((n) => ({
    data: { id: n.id, kind: n.kind, count: n.count, label: n.count > 1 ? `${n.label} (${n.count})` : n.label },
    ...(onPath.has(n.id) ? { classes: "onpath" } : {}),
  }));
  // Hops the view does not show as nodes (the host and container above a
  // process) are added so the whole path is drawn.
  for (const h of path) {
    if (ids.has(h.id)) continue;
    ids.add(h.id);
    nodes.push({ data: { id: h.id, kind: h.kind, count: 1, label: h.label }, classes: "onpath" });
  }
  const edges: ElementDefinition[] = g.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target) && e.source !== e.target)
    .map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target, count: e.count, kind: e.kind } }));
  for (let i = 1; i < path.length; i++) {
    const a = path[i - 1];
    const b = path[i];
    if (a === undefined || b === undefined) continue;
    edges.push({ data: { id: `path${i}`, source: a.id, target: b.id, count: 1, kind: "path" }, classes: "path" });
  }
  return [...nodes, ...edges];
}

function mapLabel(graph: Graph, path: PathHop[]): string {
  return `Topology map: ${graph.nodes.length} nodes and ${graph.edges.length} connections${path.length > 0 ? `, with an attack path of ${path.length} hops highlighted` : ""}. The table view lists the same nodes.`;
}

function GraphCanvas({
  graph,
  path,
  selected,
  onSelect,
}: {
  graph: Graph;
  path: PathHop[];
  selected: string | null;
  onSelect: (id: string) => void;
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
        if (any.length > 0) {
          const pos = any.renderedPosition();
          el.dataset.probeId = any.id();
          el.dataset.probeLabel = String(any.data("label"));
          el.dataset.probeX = String(Math.round(pos.x));
          el.dataset.probeY = String(Math.round(pos.y));
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

  return (
    <div
      ref={box}
      className="canvas"
      role="img"
      aria-label={mapLabel(graph, path)}
      data-nodes={graph.nodes.length}
      data-path={path.map((h) => h.id).join(",")}
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

/**
 * The selected node's details. It opens at once with what the map knows
 * (name, kind); the facts follow from the API (data-loaded is set then).
 */
function DetailPanel({ id, known, onSelect }: { id: string; known?: GraphNode | undefined; onSelect: (id: string) => void }) {
  const user = useUser();
  const [node, setNode] = useState<NodeDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [started, setStarted] = useState<string | null>(null);
  const [scanType, setScanType] = useState<ScanType>("vulnerability");
  const [busy, setBusy] = useState(false);
  // The attack paths of the node's riskiest finding (those of its
  // container or host for a process), when the internet reaches it.
  const [riskiest, setRiskiest] = useState<NodeFinding | null>(null);
  useEffect(() => {
    let live = true;
    setNode(null);
    setStarted(null);
    setError(null);
    setRiskiest(null);
    api
      .node(id)
      .then((d) => {
        if (!live) return;
        setNode(d);
        const holder = scannableKinds.has(d.kind) ? d.id : d.kind === "process" ? (d.ancestors ?? []).filter((a) => scannableKinds.has(a.kind)).at(-1)?.id : undefined;
        if (holder === undefined) return;
        api
          .findings({ nodeId: holder, limit: 1 })
          .then((p) => live && setRiskiest(p.items?.[0] ?? null))
          .catch(() => undefined); // a console without findings: no paths to show
      })
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [id]);
  const riskyPaths = riskiest === null ? [] : attackPaths(riskiest);

  const [profile, setProfile] = useState("");
  /** A vulnerability scan, or (compliance) a compliance scan of the picked profile. */
  const scan = async (compliance?: boolean) => {
    setBusy(true);
    try {
      const r = compliance === true ? await api.startScans([id], ["compliance"], profile) : await api.startScans([id], [scanType]);
      setStarted(r.items?.[0]?.id ?? "");
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const heading = node?.label ?? known?.label ?? "Node";
  return (
    <aside aria-labelledby="detail-h" data-detail={node?.label ?? known?.label ?? ""} data-loaded={node !== null}>
      <h2 id="detail-h">{heading}</h2>
      <ErrorAlert error={error} />
      {node === null ? (
        error === null && <Skeleton label={known !== undefined ? `${known.kind}: loading its details` : "Loading"} rows={3} />
      ) : (
        <>
          {scannableKinds.has(node.kind) && (
            <>
              <p>
                <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(node.id)}`}>Findings of {node.label}</Link>
              </p>
              <NodeLastScan nodeId={node.id} />
              <NodeCompliance nodeId={node.id} />
            </>
          )}
          {scannableKinds.has(node.kind) && user.role !== "read-only" && (
            <div className="scan-start">
              <ScanTypeField value={scanType} onChange={setScanType} />
              <p>
                <button type="button" className="primary" onClick={() => void scan()} disabled={busy} aria-label={`Scan ${node.label}`}>
                  {busy ? "Starting…" : "Scan"}
                </button>
              </p>
            </div>
          )}
          {(node.kind === "host" || node.kind === "container") && user.role !== "read-only" && (
            <div className="node-compliance-scan">
              <ProfilePicker value={profile} onChange={setProfile} kind={node.kind} nodeId={node.kind === "host" ? node.id : undefined} />
              <button type="button" onClick={() => void scan(true)} disabled={busy} aria-label={`Compliance scan of ${node.label}`}>
                Compliance scan
              </button>
            </div>
          )}
          {started !== null && (
            <Notice>
              <span data-scan-started={started}>
                Scan started. <Link to="/scans">Follow it on the scans page</Link>.
              </span>
            </Notice>
          )}
          {riskiest !== null && riskyPaths.length > 0 && riskiest.risk.internet === true && (
            <div className="node-paths" data-node-paths={riskyPaths.length}>
              <h3>Attack paths</h3>
              <p>
                Of its riskiest finding, {riskiest.finding.id} in {riskiest.finding.package.name} (risk {formatNumber(riskiest.risk.score, 1)}):
              </p>
              <ul className="refs">
                {riskyPaths.map((p, i) => (
                  <li key={i}>
                    <Link to={pathLink(p)} aria-label={`Show attack path ${i + 1} on the map`}>
                      {p.map((h) => h.name).join(" → ")}
                    </Link>
                  </li>
                ))}
              </ul>
            </div>
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

/** What must change for the map to be redrawn: nodes and edges, not their counts (those change with every report). */
function shape(g: Graph): string {
  return `${g.aggregated}|${g.nodes.map((n) => `${n.id}:${n.count > 1 ? n.count : ""}`).join(",")}|${g.edges.map((e) => `${e.source}>${e.target}`).join(",")}`;
}

function isView(v: string | null): v is GraphView {
  return v !== null && (graphViews as readonly string[]).includes(v);
}

export default function TopologyPage() {
  const [params, setParams] = useSearchParams();
  const pathIds = useMemo(() => (params.get("path") ?? "").split(",").filter((x) => x !== ""), [params]);
  const viewParam = params.get("view");
  const [view, setViewState] = useState<GraphView>(
    isView(viewParam)
      ? viewParam
      : pathIds.some((id) => id.startsWith("process-"))
        ? "processes"
        : pathIds.some((id) => id.startsWith("container-"))
          ? "containers"
          : "hosts",
  );
  const [mode, setMode] = useState<(typeof mapModes)[number]>("map");
  const [q, setQ] = useState(params.get("q") ?? "");
  const [graph, setGraph] = useState<Graph | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [selected, setSelected] = useState<string | null>(params.get("node"));
  const [path, setPath] = useState<PathHop[]>([]);
  const [pathHost, setPathHost] = useState<string | undefined>(undefined);
  const [pathReady, setPathReady] = useState(pathIds.length === 0);
  // Drill-down into an aggregate: the members of one group (its host, namespace, image or cluster).
  const [members, setMembers] = useState<{ by: string; id: string; label: string } | null>(null);

  const setView = (v: GraphView) => {
    setViewState(v);
    setSelected(null);
    const next = new URLSearchParams(params);
    next.delete("node");
    next.set("view", v);
    setParams(next, { replace: true });
  };
  const clearPath = () => {
    const next = new URLSearchParams(params);
    next.delete("path");
    setParams(next, { replace: true });
  };

  // The path's nodes: their labels, and the host whose processes are shown.
  useEffect(() => {
    let live = true;
    if (pathIds.length === 0) {
      // Unchanged state when there was no path, so the graph is fetched once.
      setPath((cur) => (cur.length === 0 ? cur : []));
      setPathHost(undefined);
      setPathReady(true);
      return;
    }
    setPathReady(false);
    void Promise.all(pathIds.slice(0, 16).map((id) => api.node(id).catch(() => null))).then((ds) => {
      if (!live) return;
      const hops: PathHop[] = [];
      let host: string | undefined;
      for (const [i, d] of ds.entries()) {
        const id = pathIds[i] ?? "";
        if (d === null) {
          // The internet pseudo-node, or a node gone since the scan.
          if (id.startsWith("internet")) hops.push({ id, kind: "internet", label: "internet" });
          continue;
        }
        hops.push({ id: d.id, kind: d.kind, label: d.label });
        if (d.kind === "host") host = d.id;
        else if (host === undefined && d.host !== undefined && d.host !== "") host = d.host;
      }
      setPath(hops);
      setPathHost(host);
      setPathReady(true);
    });
    return () => {
      live = false;
    };
  }, [pathIds]);

  const load = useCallback(async () => {
    if (!pathReady) return;
    try {
      const within = members === null ? {} : { [members.by]: members.id };
      const g = await api.graph({ view, q: q.trim(), maxNodes: mapBudget, ...within, ...(path.length > 0 ? { host: pathHost } : {}) });
      // Redraw only when the answer's shape changed, so the map does not jump while the user looks at it.
      setGraph((cur) => (cur !== null && shape(cur) === shape(g) ? cur : g));
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    }
  }, [view, q, path, pathHost, pathReady, members]);

  useEffect(() => {
    const t0 = window.setTimeout(() => void load(), q === "" ? 0 : 250);
    const t = window.setInterval(() => void load(), 10_000);
    return () => {
      window.clearTimeout(t0);
      window.clearInterval(t);
    };
  }, [load]);

  const onSelect = useCallback(
    (id: string) => {
      // Aggregates are not nodes: selecting one drills into it by searching its members.
      setSelected(id);
      setParams(
        (cur) => {
          const next = new URLSearchParams(cur);
          next.set("node", id);
          return next;
        },
        { replace: true },
      );
    },
    [setParams],
  );
  const selectedNode = graph?.nodes.find((n) => n.id === selected);
  const isGroup = selectedNode !== undefined && (selectedNode.kind === "group" || selectedNode.count > 1);
  const hosts = graph?.nodes.filter((n) => !pseudo.has(n.kind)).length ?? 0;

  return (
    <Page title="Topology">
      <div className="filters">
        <SelectField label="View" value={view} options={graphViews} onChange={setView} />
        <SelectField label="Show as" value={mode} options={mapModes} onChange={setMode} />
        <Field label="Search nodes" type="search" value={q} onChange={setQ} />
      </div>
      <ErrorAlert error={error} />
      {members !== null && (
        <div className="notice path-notice" role="note">
          <p data-members={members.id}>
            Showing the {view} of {members.by} {members.label}.
          </p>
          <button type="button" onClick={() => (setMembers(null), setSelected(null))}>
            Show everything
          </button>
        </div>
      )}
      {path.length > 0 && (
        <div className="notice path-notice" role="note">
          <p>
            {path.length === 1 ? "Highlighted in red: " : "Attack path highlighted in red: "}
            {path.map((h, i) => (
              <span key={h.id}>
                {i > 0 && " → "}
                <span className={`hop hop-${h.kind}`}>{h.label}</span>
              </span>
            ))}
          </p>
          <button type="button" onClick={clearPath}>
            Clear the path
          </button>
        </div>
      )}
      {graph === null ? (
        <Skeleton />
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
                graph.nodes.length + path.length > bigGraph ? (
                  <BigMap graph={graph} path={path} selected={selected} onSelect={onSelect} label={mapLabel(graph, path)} />
                ) : (
                  <GraphCanvas graph={graph} path={path} selected={selected} onSelect={onSelect} />
                )
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
                  <button
                    type="button"
                    onClick={() => {
                      const by = selectedNode.attrs?.groupBy ?? "";
                      const key = selectedNode.group ?? "";
                      // A group of one host (or namespace, image, cluster): drill into it; "other" and "no …" groups by search.
                      if (["host", "namespace", "image", "cluster"].includes(by) && key !== "" && !key.startsWith("none:") && selectedNode.id !== "group-other") {
                        setMembers({ by, id: key, label: selectedNode.label });
                      } else {
                        setQ(selectedNode.label);
                      }
                      setSelected(null);
                    }}
                  >
                    Show its members
                  </button>
                </aside>
              ) : (
                <DetailPanel id={selected} known={selectedNode} onSelect={onSelect} />
              )}
            </div>
          )}
        </>
      )}
    </Page>
  );
}
