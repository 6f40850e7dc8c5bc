// The topology map: a view (hosts, containers, images, processes, pods)
// drawn with cytoscape (cytomap.tsx, its own chunk) or, above bigGraph
// nodes, on a plain canvas (bigmap.tsx); or the same nodes as a sortable,
// filterable table. Internet pseudo-nodes are drawn distinctly; when the
// console answers with an aggregated graph (too many nodes, or a "Group
// by" picked: cluster, cloud, region...) the groups are drawn instead,
// sized by how many nodes they stand for.
//
// Risk: every node is filled with the colour of its worst current finding
// and drawn in its kind's shape, with its counts (the graph answer's
// "risk", summed by the console over what a node stands for: a host's
// containers, a group's members); a legend says what they mean
// (maprisk.tsx). Under the map, a keyboard list of its nodes, the riskiest
// first: Tab to it, arrows to a node (ringed on the map), Enter opens its
// panel. A host's panel can expand it in place: its containers and
// processes hang off it on the map.
//
// The panel names nodes (long ids shortened, the id on hover and a copy
// button), formats sizes and numbers in the user's locale (format.ts),
// counts the connections the map draws at the node, and pages through its
// children ("Showing 30 of 46").
//
// A process has no findings of its own: the console gives it those of its
// container, or of its host outside containers, and its panel links there.
//
// The URL holds the page's state, so a link reproduces it: view, group,
// show (map or table), node (the selection), in (a group drilled into:
// host, namespace, image, cluster, cloud or region; a cloud's nodes are
// then grouped by region, mapgroups.ts), expand (hosts expanded in place)
// and path.
//
// Size: the page asks the console to aggregate above mapBudget nodes (1,000
// hosts are drawn one by one; 25,000 processes arrive as per-host groups).
// When the map is drawn the page sets data-ready on the canvas and marks
// "riskmap:map-drawn" (Performance API); data-probe-* give the position of
// one node and data-risky-* of the riskiest (and its colour) for the
// browser tests and bench/web.sh.
//
// Attack paths: /topology?path=ID,ID,... (from a finding's explanation,
// the node panel or the threat graph) shows the processes of the path's
// host with the path's nodes and hops highlighted, everything else faded,
// the view fitted to them.
import { lazy, startTransition, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, type ApiError, type Graph, type GraphNode, type GraphView, type NodeDetail, type NodeFinding, type ScanType } from "../api";
import { attackPaths, pathLink } from "../findings";
import { BigMap, type MapHop } from "./bigmap";
import { ErrorAlert, Field, Notice, Page, ScanTypeField, SelectField, Skeleton, Time, toApiError } from "../components";
import { formatBytes, formatNumber, isLongId, metaLabel, metaValue, shortName } from "../format";
import { MapLegend, NodeList, riskBadge, riskColour, riskLevel, riskWords } from "../maprisk";
import { drillTarget, groupings, innerGrouping, isGrouping, membersParam, parseMembers, type Grouping, type Members } from "../mapgroups";
import { NodeCompliance, ProfilePicker } from "../compliance";
import { NodeLastScan } from "../coverage";
import { useUser } from "../session";

// cytoscape is loaded only for graphs it draws (cytomap.tsx).
const GraphCanvas = lazy(() => import("./cytomap"));

const graphViews: readonly GraphView[] = ["hosts", "containers", "images", "processes", "pods"];
const singular: Record<GraphView, string> = { hosts: "host", containers: "container", images: "image", processes: "process", pods: "pod" };
const scannableKinds = new Set(["host", "container", "image"]);
const mapModes = ["map", "table"] as const;
const pseudo = new Set(["internet", "private"]);
/** The most nodes the map draws; the console aggregates above it. */
export const mapBudget = 1500;
/** Above this many nodes the map is drawn by BigMap (plain canvas) instead of cytoscape. */
const bigGraph = 300;

/** The hops of an attack path as the map draws them. */
type PathHop = MapHop;

function mapLabel(graph: Graph, path: PathHop[]): string {
  return `Topology map: ${graph.nodes.length} nodes and ${graph.edges.length} connections${path.length > 0 ? `, with an attack path of ${path.length} hops highlighted` : ""}. The table view lists the same nodes.`;
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
/** A node's id, shortened when long, with a button that copies it. */
function NodeId({ id }: { id: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <p className="node-id">
      <code title={id}>{isLongId(id.replace(/^[a-z]+-/, "")) ? `${id.slice(0, 24)}…` : id}</code>{" "}
      <button
        type="button"
        className="link"
        onClick={() => {
          void navigator.clipboard
            ?.writeText(id)
            .then(() => setCopied(true))
            .catch(() => undefined);
        }}
      >
        {copied ? "Copied" : "Copy id"}
        <span className="sr-only"> {id}</span>
      </button>
    </p>
  );
}

/** A node named in a list: its name (a long id shortened), its kind, the id on hover. */
function NodeName({ node }: { node: { id: string; kind: string; label: string } }) {
  return (
    <span title={node.id}>
      {shortName(node.label)} <span className="muted">{node.kind}</span>
    </span>
  );
}

/** The page size of the panel's child list. */
const childPage = 30;

/** The connections the map draws at a node: its edges, with the peers' names. */
export interface MapConnections {
  peers: { id: string; kind: string; label: string; direction: "in" | "out"; count: number }[];
}

function DetailPanel({
  id,
  known,
  onSelect,
  mapConnections,
  expanded,
  onExpand,
}: {
  id: string;
  known?: GraphNode | undefined;
  onSelect: (id: string) => void;
  /** The node's edges on the map (null: the node is not drawn). */
  mapConnections: MapConnections | null;
  expanded: boolean;
  onExpand?: ((expand: boolean) => void) | undefined;
}) {
  const [shownChildren, setShownChildren] = useState(childPage);
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
    setShownChildren(childPage);
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

  const heading = shortName(node?.label ?? known?.label ?? "Node");
  const risk = known?.risk;
  const children = node?.children ?? [];
  const conns = node?.connections ?? [];
  return (
    <aside aria-labelledby="detail-h" data-detail={node?.label ?? known?.label ?? ""} data-loaded={node !== null}>
      <h2 id="detail-h" title={id}>
        {heading}
      </h2>
      <NodeId id={id} />
      {known !== undefined && (
        <p className={`node-risk-summary risk-${riskLevel(risk)}`} data-risk-worst={riskLevel(risk)} data-risk-badge={riskBadge(risk)}>
          <svg width={12} height={12} viewBox="0 0 12 12" aria-hidden="true" focusable="false">
            <circle cx={6} cy={6} r={5} fill={riskColour[riskLevel(risk)]} />
          </svg>{" "}
          {risk === undefined ? "No current findings" : `Current findings: ${riskWords(risk)}`}
          {risk?.maxScore !== undefined && ` (highest risk ${risk.maxScore.toFixed(1)})`}
        </p>
      )}
      {onExpand !== undefined && (
        <p>
          <button type="button" onClick={() => onExpand(!expanded)} aria-pressed={expanded}>
            {expanded ? "Collapse its containers and processes" : "Expand its containers and processes on the map"}
          </button>
        </p>
      )}
      <ErrorAlert error={error} />
      {node === null ? (
        error === null && <Skeleton label={known !== undefined ? `${known.kind}: loading its details` : "Loading"} rows={3} />
      ) : (
        <>
          {node.kind === "process" &&
            (() => {
              // A process has no findings of its own: it carries those of what it runs in (the console's rule).
              const on = node.ancestors.find((a) => a.kind === "container") ?? node.ancestors.find((a) => a.kind === "host");
              return (
                on !== undefined && (
                  <p data-risk-from={on.id}>
                    Its findings are those of the {on.kind} it runs in:{" "}
                    <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(on.id)}`}>findings of {shortName(on.label)}</Link>
                  </p>
                )
              );
            })()}
          {scannableKinds.has(node.kind) && (
            <>
              <p>
                <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(node.id)}`}>Findings of {shortName(node.label)}</Link>
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
                    <Link to={pathLink(p)} aria-label={`Show attack path ${i + 1} on the map`} title={p.map((h) => h.nodeId ?? h.name).join(" → ")}>
                      {p.map((h) => shortName(h.name)).join(" → ")}
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
                <dd title={node.host}>{shortName([...(node.ancestors ?? []), ...(node.related ?? [])].find((a) => a.id === node.host)?.label ?? node.host)}</dd>
              </>
            )}
            {node.exe !== undefined && (
              <>
                <dt>Executable</dt>
                <dd>{node.exe}</dd>
              </>
            )}
            {node.rssBytes !== undefined && (
              <>
                <dt>Memory in use</dt>
                <dd>{formatBytes(node.rssBytes)}</dd>
              </>
            )}
            {node.cpuPercent !== undefined && (
              <>
                <dt>CPU</dt>
                <dd>{formatNumber(node.cpuPercent, 1)} %</dd>
              </>
            )}
            {(node.ips?.length ?? 0) > 0 && (
              <>
                <dt>Addresses</dt>
                <dd>{node.ips?.join(", ")}</dd>
              </>
            )}
            <dt>Children</dt>
            <dd>{formatNumber(node.childCount)}</dd>
            <dt>Connections</dt>
            <dd data-connections={mapConnections?.peers.length ?? conns.length}>
              {mapConnections !== null ? `${formatNumber(mapConnections.peers.length)} on the map` : formatNumber(conns.length)}
            </dd>
            <dt>Last seen</dt>
            <dd>
              <Time iso={node.lastSeen} />
              {node.gone && " (gone)"}
            </dd>
            {Object.entries(node.meta ?? {})
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => (
                <div key={k} className="contents">
                  <dt>{metaLabel(k)}</dt>
                  <dd title={v}>{metaValue(k, v)}</dd>
                </div>
              ))}
          </dl>
          {mapConnections !== null && mapConnections.peers.length > 0 && (
            <>
              <h3>Connections on the map</h3>
              <ul className="refs" data-map-connections={mapConnections.peers.length}>
                {mapConnections.peers.map((c) => (
                  <li key={`${c.direction}-${c.id}`}>
                    <button type="button" className="link" onClick={() => onSelect(c.id)}>
                      {c.direction === "out" ? "to " : "from "}
                      <NodeName node={c} />
                    </button>
                    {c.count > 1 && <span className="muted"> ({formatNumber(c.count)} connections)</span>}
                  </li>
                ))}
              </ul>
            </>
          )}
          {children.length > 0 && (
            <>
              <h3>Inside</h3>
              <p className="muted" data-children-shown={Math.min(shownChildren, children.length)} data-children-total={node.childCount}>
                Showing {formatNumber(Math.min(shownChildren, children.length))} of {formatNumber(node.childCount)}
                {node.childCount > children.length && ` (the first ${formatNumber(children.length)} can be listed here; the node table searches them all)`}.
              </p>
              <ul className="refs">
                {children.slice(0, shownChildren).map((c) => (
                  <li key={c.id}>
                    <button type="button" className="link" onClick={() => onSelect(c.id)}>
                      <NodeName node={c} />
                    </button>
                  </li>
                ))}
              </ul>
              {shownChildren < children.length && (
                <button type="button" onClick={() => setShownChildren(shownChildren + childPage)}>
                  Show {formatNumber(Math.min(childPage, children.length - shownChildren))} more
                </button>
              )}
            </>
          )}
          {(node.ancestors?.length ?? 0) > 0 && (
            <>
              <h3>Part of</h3>
              <ul className="refs">
                {node.ancestors?.map((c) => (
                  <li key={c.id}>
                    <button type="button" className="link" onClick={() => onSelect(c.id)}>
                      <NodeName node={c} />
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

/** What must change for the map to be redrawn: nodes, their risk and edges, not the edges' counts (those change with every report). */
function shape(g: Graph): string {
  return `${g.aggregated}|${g.nodes.map((n) => `${n.id}:${n.count > 1 ? n.count : ""}:${riskBadge(n.risk)}`).join(",")}|${g.edges.map((e) => `${e.source}>${e.target}`).join(",")}`;
}

function isView(v: string | null): v is GraphView {
  return v !== null && (graphViews as readonly string[]).includes(v);
}

/** The most children of an expanded host drawn in place. */
const expandBudget = 200;

/** The map's edges at a node, with the peers' names. */
function connectionsOf(g: Graph, id: string): MapConnections | null {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  if (!byId.has(id)) return null;
  const peers: MapConnections["peers"] = [];
  for (const e of g.edges) {
    if (e.source === e.target || e.kind === "contains") continue;
    const [peer, direction] = e.source === id ? [e.target, "out" as const] : e.target === id ? [e.source, "in" as const] : [null, "out" as const];
    if (peer === null) continue;
    const n = byId.get(peer);
    if (n === undefined) continue;
    peers.push({ id: n.id, kind: n.kind, label: n.label, direction, count: e.count });
  }
  peers.sort((a, b) => a.direction.localeCompare(b.direction) || a.label.localeCompare(b.label));
  return { peers };
}

/**
 * The drawn graph: the answer and, for each expanded host, its containers
 * and processes hung off it ("contains" edges), with their connections
 * among what is drawn.
 */
function withExpansions(g: Graph, expansions: Map<string, Graph>): Graph {
  if (expansions.size === 0) return g;
  const nodes = [...g.nodes];
  const ids = new Set(nodes.map((n) => n.id));
  const edges = [...g.edges];
  for (const [host, x] of expansions) {
    if (!ids.has(host)) continue;
    for (const n of x.nodes) {
      if (ids.has(n.id) || pseudo.has(n.kind) || n.kind === "group") continue;
      ids.add(n.id);
      nodes.push({ ...n, attrs: { ...n.attrs, expandedFrom: host } });
    }
  }
  for (const [, x] of expansions) {
    for (const n of x.nodes) {
      const parent = n.parent !== undefined && ids.has(n.parent) ? n.parent : n.attrs?.expandedFrom;
      if (ids.has(n.id) && parent !== undefined && parent !== n.id && !pseudo.has(n.kind)) edges.push({ source: parent, target: n.id, kind: "contains", count: 1 });
    }
    for (const e of x.edges) if (ids.has(e.source) && ids.has(e.target) && e.source !== e.target) edges.push(e);
  }
  // Children whose parent was not fetched hang off the host they were expanded from.
  for (const n of nodes) {
    const from = n.attrs?.expandedFrom;
    if (from === undefined || edges.some((e) => e.kind === "contains" && e.target === n.id)) continue;
    edges.push({ source: from, target: n.id, kind: "contains", count: 1 });
  }
  return { ...g, nodes, edges };
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
  const groupParam = params.get("group");
  const grouping: Grouping = isGrouping(groupParam) ? groupParam : "auto";
  const [mode, setMode] = useState<(typeof mapModes)[number]>(params.get("show") === "table" ? "table" : "map");
  const [q, setQ] = useState(params.get("q") ?? "");
  const [graph, setGraph] = useState<Graph | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const selected = params.get("node");
  const [focused, setFocused] = useState<string | null>(null);
  const [path, setPath] = useState<PathHop[]>([]);
  const [pathHost, setPathHost] = useState<string | undefined>(undefined);
  const [pathReady, setPathReady] = useState(pathIds.length === 0);
  // Drill-down into an aggregate: the members of one group (its host,
  // namespace, image, cluster, cloud or region), in the URL as in=BY:ID
  // (and inLabel); inside a cloud the map groups by region (mapgroups.ts).
  const inParam = params.get("in") ?? "";
  const inLabel = params.get("inLabel");
  const members = useMemo(() => parseMembers(inParam, inLabel), [inParam, inLabel]);
  const inner = innerGrouping(grouping, members);
  // Hosts expanded in place (hosts view), in the URL as expand=ID,ID.
  const expandParam = params.get("expand") ?? "";
  const expanded = useMemo(() => (view === "hosts" ? expandParam.split(",").filter((x) => x !== "") : []), [expandParam, view]);
  const [expansions, setExpansions] = useState<Map<string, Graph>>(new Map());

  /** Changes URL parameters (null deletes one); the URL is the page's state, so a link reproduces it. */
  const setUrl = useCallback(
    (changes: Record<string, string | null>) => {
      setParams(
        (cur) => {
          const next = new URLSearchParams(cur);
          for (const [k, v] of Object.entries(changes)) {
            if (v === null || v === "") next.delete(k);
            else next.set(k, v);
          }
          return next;
        },
        { replace: true },
      );
    },
    [setParams],
  );
  const setView = (v: GraphView) => {
    setViewState(v);
    setUrl({ view: v, node: null, in: null, inLabel: null, expand: null });
  };
  const setSelected = (id: string | null) => setUrl({ node: id });
  const setMembers = (m: Members | null) => setUrl(m === null ? { in: null, inLabel: null, node: null } : { in: membersParam(m), inLabel: m.label, node: null });
  const clearPath = () => setUrl({ path: null });

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
      const g = await api.graph({
        view,
        q: q.trim(),
        maxNodes: mapBudget,
        ...(inner === "auto" ? {} : { group: inner, aggregate: "true" as const }),
        ...within,
        ...(path.length > 0 ? { host: pathHost } : {}),
      });
      // Redraw only when the answer's shape changed, so the map does not jump while the user looks at it.
      // A transition: React renders the new graph (layout, list, legend) in
      // slices, leaving the main thread free for input between them.
      startTransition(() => {
        setGraph((cur) => (cur !== null && shape(cur) === shape(g) ? cur : g));
        setError(null);
      });
    } catch (e) {
      setError(toApiError(e));
    }
  }, [view, q, path, pathHost, pathReady, members, inner]);

  useEffect(() => {
    const t0 = window.setTimeout(() => void load(), q === "" ? 0 : 250);
    const t = window.setInterval(() => void load(), 10_000);
    return () => {
      window.clearTimeout(t0);
      window.clearInterval(t);
    };
  }, [load]);

  // The containers and processes of each expanded host.
  useEffect(() => {
    let live = true;
    if (expanded.length === 0) {
      setExpansions((cur) => (cur.size === 0 ? cur : new Map()));
      return;
    }
    void Promise.all(
      expanded.map(async (host) => {
        const [cs, ps] = await Promise.all([
          api.graph({ view: "containers", host, maxNodes: expandBudget }).catch(() => null),
          api.graph({ view: "processes", host, maxNodes: expandBudget }).catch(() => null),
        ]);
        const nodes = [...(cs?.nodes ?? []), ...(ps?.nodes ?? [])].filter((n) => n.kind === "container" || n.kind === "process");
        const edges = [...(ps?.edges ?? [])];
        return [host, { nodes, edges, aggregated: false, total: nodes.length }] as const;
      }),
    ).then((xs) => live && setExpansions(new Map(xs)));
    return () => {
      live = false;
    };
  }, [expanded]);

  const onSelect = useCallback((id: string) => setUrl({ node: id }), [setUrl]);
  const drawn = useMemo(() => (graph === null ? null : withExpansions(graph, expansions)), [graph, expansions]);
  const selectedNode = drawn?.nodes.find((n) => n.id === selected);
  const isGroup = selectedNode !== undefined && (selectedNode.kind === "group" || selectedNode.count > 1);
  const hosts = graph?.nodes.filter((n) => !pseudo.has(n.kind)).length ?? 0;
  const kinds = useMemo(() => [...new Set((drawn?.nodes ?? []).map((n) => n.kind))].sort(), [drawn]);
  const mapConnections = useMemo(() => (drawn === null || selected === null ? null : connectionsOf(drawn, selected)), [drawn, selected]);
  const withRisk = graph?.nodes.filter((n) => n.risk !== undefined).length ?? 0;

  return (
    <Page title="Topology">
      <div className="filters">
        <SelectField label="View" value={view} options={graphViews} onChange={setView} />
        <SelectField label="Group by" value={grouping} options={groupings} onChange={(g) => setUrl({ group: g === "auto" ? null : g, node: null, in: null, inLabel: null })} />
        <SelectField
          label="Show as"
          value={mode}
          options={mapModes}
          onChange={(m) => {
            setMode(m);
            setUrl({ show: m === "map" ? null : m });
          }}
        />
        <Field label="Search nodes" type="search" value={q} onChange={setQ} />
      </div>
      <ErrorAlert error={error} />
      {members !== null && (
        <div className="notice path-notice" role="note">
          <p data-members={members.id} data-members-by={members.by}>
            Showing the {view} of {members.by} {shortName(members.label)}
            {inner !== grouping && inner !== "auto" ? `, by ${inner}` : ""}.
          </p>
          <button type="button" onClick={() => setMembers(null)}>
            Show everything
          </button>
        </div>
      )}
      {path.length > 0 && (
        <div className="notice path-notice" role="note">
          <p>
            {path.length === 1 ? "Highlighted in red: " : "Attack path highlighted in red, everything else faded: "}
            {path.map((h, i) => (
              <span key={h.id}>
                {i > 0 && " → "}
                <span className={`hop hop-${h.kind}`} title={h.id}>
                  {shortName(h.label)}
                </span>
              </span>
            ))}
          </p>
          <button type="button" onClick={clearPath}>
            Clear the path
          </button>
        </div>
      )}
      {graph === null || drawn === null ? (
        <Skeleton />
      ) : (
        <>
          <p role="status" className="graph-status" data-risk-nodes={withRisk}>
            {graph.aggregated
              ? `Aggregated view: ${formatNumber(graph.total)} nodes drawn as ${formatNumber(graph.nodes.length)} groups. Search or pick a group to see its members.`
              : `${formatNumber(hosts)} ${hosts === 1 ? singular[view] : view}, ${graph.nodes.length - hosts} internet pseudo-nodes, ${formatNumber(graph.edges.length)} ${graph.edges.length === 1 ? "connection" : "connections"}.`}
            {withRisk > 0 && ` ${formatNumber(withRisk)} with current findings.`}
          </p>
          {graph.nodes.length === 0 ? (
            <p>Nothing reported yet for this view. The local sensor reports this machine within about 30 seconds of start.</p>
          ) : (
            <div className="topo">
              {mode === "map" ? (
                <div className="map-side">
                  {drawn.nodes.length + path.length > bigGraph ? (
                    <BigMap graph={drawn} path={path} selected={selected} focused={focused} onSelect={onSelect} label={mapLabel(drawn, path)} />
                  ) : (
                    <Suspense fallback={<p aria-busy="true">Drawing the map…</p>}>
                      <GraphCanvas graph={drawn} path={path} selected={selected} focused={focused} onSelect={onSelect} label={mapLabel(drawn, path)} />
                    </Suspense>
                  )}
                  <MapLegend kinds={kinds} />
                  <details className="node-list-box" open>
                    <summary>Nodes on the map (keyboard: Tab here, arrows to a node, Enter opens it)</summary>
                    <NodeList nodes={drawn.nodes} selected={selected} onSelect={onSelect} onFocusNode={setFocused} />
                  </details>
                </div>
              ) : (
                <div>
                  <NodeTable nodes={drawn.nodes} selected={selected} onSelect={onSelect} />
                </div>
              )}
              {selected === null ? (
                <aside aria-label="Node details">
                  <p>Select a node on the map, in the list under it or in the table to see its details.</p>
                </aside>
              ) : isGroup ? (
                <aside aria-labelledby="group-h" data-group={selectedNode.id}>
                  <h2 id="group-h">{shortName(selectedNode.label)}</h2>
                  <p>
                    A group of {formatNumber(selectedNode.count)} {selectedNode.kind === "group" ? "nodes" : selectedNode.kind}.
                  </p>
                  <p className={`node-risk-summary risk-${riskLevel(selectedNode.risk)}`} data-risk-worst={riskLevel(selectedNode.risk)}>
                    {selectedNode.risk === undefined ? "No current findings among them." : `Current findings among them: ${riskWords(selectedNode.risk)}.`}
                  </p>
                  {(() => {
                    // A group of one host, namespace, image, cluster, cloud or region: drill into it; "other" and "no …" groups by search.
                    const drill = drillTarget(selectedNode);
                    const by = selectedNode.attrs?.groupBy ?? "";
                    if (drill === null && (by === "cloud" || by === "region")) {
                      return <p>Group by host or cluster to see its members.</p>;
                    }
                    return (
                      <button
                        type="button"
                        onClick={() => {
                          if (drill !== null) setMembers(drill);
                          else {
                            setQ(selectedNode.label);
                            setSelected(null);
                          }
                        }}
                      >
                        Show its members
                      </button>
                    );
                  })()}
                </aside>
              ) : (
                <DetailPanel
                  id={selected}
                  known={selectedNode}
                  onSelect={onSelect}
                  mapConnections={mapConnections}
                  expanded={expanded.includes(selected)}
                  onExpand={
                    view === "hosts" && selectedNode?.kind === "host" && mode === "map"
                      ? (on) => setUrl({ expand: (on ? [...expanded, selected] : expanded.filter((x) => x !== selected)).join(",") })
                      : undefined
                  }
                />
              )}
            </div>
          )}
        </>
      )}
    </Page>
  );
}
