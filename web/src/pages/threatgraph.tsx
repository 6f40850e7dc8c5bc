// Threat graph: the estate by distance from the internet, as ThreatMapper
// draws it (GET /api/v1/threat-graph). The internet on the left, then the
// entry points (hosts with a public address or inbound connections,
// Kubernetes services with a public load balancer), then what they reach
// hop by hop to the right, one column per distance: each node by name,
// with its exploitable findings (docs/risk.md, "Exploitable") by severity,
// those in KEV and its worst risk score, the nodes it is reached from,
// a link to its attack path on the map and one to its findings. Refreshed
// every 15 s.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { api, type ApiError, type ThreatCounts, type ThreatGraph, type ThreatNode } from "../api";
import { ErrorAlert, Page, Skeleton, toApiError } from "../components";
import { formatNumber, shortName } from "../format";

const severities = ["critical", "high", "medium", "low", "unknown"] as const;
/** Kinds whose findings are stored on them (a process's are its container's or host's). */
const holders = new Set(["host", "container", "pod", "image"]);

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

function Counts({ c, what }: { c: ThreatCounts; what: string }) {
  const by = c.bySeverity ?? {};
  if (c.findings === 0) return <p className="muted counts">No findings {what}.</p>;
  return (
    <p className="counts" data-exploitable={c.exploitable}>
      <strong>{formatNumber(c.exploitable)}</strong> exploitable of {formatNumber(c.findings)}
      {severities
        .filter((s) => (by[s] ?? 0) > 0)
        .map((s) => (
          <span key={s} className={`sev sev-${s}`} title={`${by[s]} exploitable ${s}`}>
            {by[s]} {s}
          </span>
        ))}
      {c.kev > 0 && <span className="sev sev-critical"> {c.kev} KEV</span>}
      {c.maxScore > 0 && <span className="muted"> · worst risk {formatNumber(c.maxScore, 1)}</span>}
    </p>
  );
}

/** A node's shortest route from the internet: its first predecessor, back to the internet. */
function routeTo(n: ThreatNode, byId: Map<string, ThreatNode>, internet: string): string[] {
  const ids = [n.id];
  let cur: ThreatNode | undefined = n;
  for (let i = 0; i < 32 && cur !== undefined; i++) {
    const p: string | undefined = cur.preds?.[0];
    if (p === undefined || p === internet) break;
    ids.unshift(p);
    cur = byId.get(p);
  }
  return [internet, ...ids];
}

function NodeCard({ n, byId, internet }: { n: ThreatNode; byId: Map<string, ThreatNode>; internet: string }) {
  const from = (n.preds ?? []).filter((p) => p !== internet).map((p) => shortName(byId.get(p)?.label ?? p));
  const route = routeTo(n, byId, internet);
  return (
    <li className={`threat-node kind-${n.kind}`} data-threat-node={n.label} data-kind={n.kind} data-distance={n.distance}>
      <p>
        <span className="muted">{n.kind}</span> <strong title={n.id}>{shortName(n.label)}</strong>
      </p>
      {n.reason !== undefined && n.reason !== "" && <p className="muted">{n.reason}</p>}
      {from.length > 0 && <p className="muted">from {from.slice(0, 3).join(", ") + (from.length > 3 ? ` and ${from.length - 3} more` : "")}</p>}
      <Counts c={n.counts} what={n.kind === "process" ? "loaded by it" : "on it"} />
      {n.reaches !== undefined && (
        <p className="muted" data-reaches={n.reaches.nodes}>
          Leads to {plural(n.reaches.nodes, "node")}, {plural(n.reaches.counts.exploitable, "exploitable finding")}
        </p>
      )}
      <p className="links">
        <Link to={`/topology?path=${route.map(encodeURIComponent).join(",")}&node=${encodeURIComponent(n.id)}`} aria-label={`Show the attack path to ${n.label} on the map`}>
          Map
        </Link>
        {holders.has(n.kind) && n.counts.findings > 0 && (
          <>
            {" · "}
            <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(n.id)}`} aria-label={`Findings of ${n.label}`}>
              Findings
            </Link>
          </>
        )}
      </p>
    </li>
  );
}

export default function ThreatGraphPage() {
  const [graph, setGraph] = useState<ThreatGraph | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = useCallback(async () => {
    try {
      setGraph(await api.threatGraph());
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    }
  }, []);
  useEffect(() => {
    void load();
    const t = window.setInterval(() => void load(), 15_000);
    return () => window.clearInterval(t);
  }, [load]);

  const byId = useMemo(() => new Map((graph?.nodes ?? []).map((n) => [n.id, n])), [graph]);
  const columns = useMemo(() => {
    const cols = new Map<number, ThreatNode[]>();
    for (const n of graph?.nodes ?? []) cols.set(n.distance, [...(cols.get(n.distance) ?? []), n]);
    return cols;
  }, [graph]);

  return (
    <Page title="Threat graph">
      <ErrorAlert error={error} />
      {graph === null ? (
        error === null && <Skeleton />
      ) : (graph.nodes ?? []).length === 0 ? (
        <p data-threat-empty>
          Nothing is reachable from the internet: no host has a public address or inbound connections from the internet, and no Kubernetes service a public
          load balancer.
        </p>
      ) : (
        <>
          <p role="status">
            {plural(columns.get(1)?.length ?? 0, "entry point")} {(columns.get(1)?.length ?? 0) === 1 ? "reaches" : "reach"} {plural(graph.total, "node")} in{" "}
            {plural((graph.hops ?? []).length, "hop")};{" "}
            {formatNumber(graph.exploitable.exploitable)} exploitable findings of {formatNumber(graph.exploitable.findings)} on them
            {graph.truncated && ` (the nearest ${(graph.nodes ?? []).length} nodes are shown)`}.
          </p>
          <div className="threat-graph" role="region" aria-label="Threat graph, by distance from the internet" tabIndex={0}>
            <section className="threat-col" aria-labelledby="hop-0">
              <h2 id="hop-0">The Internet</h2>
              <ul>
                <li className="threat-node kind-internet" data-threat-node="internet">
                  <p>
                    <strong>The Internet (inbound)</strong>
                  </p>
                  <p className="muted">reaches {plural(columns.get(1)?.length ?? 0, "entry point")}</p>
                </li>
              </ul>
            </section>
            {(graph.hops ?? []).map((h) => (
              <section key={h.distance} className="threat-col" aria-labelledby={`hop-${h.distance}`} data-hop={h.distance}>
                <h2 id={`hop-${h.distance}`}>{h.distance === 1 ? "Entry points" : `Hop ${h.distance}`}</h2>
                <p className="muted">
                  {plural(h.nodes, "node")}, {h.counts.exploitable} exploitable
                  {h.counts.kev > 0 && `, ${h.counts.kev} KEV`}
                </p>
                <ul>
                  {(columns.get(h.distance) ?? []).map((n) => (
                    <NodeCard key={n.id} n={n} byId={byId} internet={graph.internet} />
                  ))}
                </ul>
              </section>
            ))}
          </div>
        </>
      )}
    </Page>
  );
}
