// Vulnerabilities: the ranked current findings (highest risk first) with
// the explanation of each score, filtered by severity, KEV, fix available
// and a search (vulnerability id, package, node, image, namespace), seen
// as findings or grouped by vulnerability, node or image; decisions (accept / not
// affected, with reason and expiry) recorded from a finding's explanation
// and listed below with revoke; downloads of the current findings (JSON,
// CSV) and of the decisions (OpenVEX).
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, downloads, type Decision, type FindingGroup, type FindingQuery, type NodeFinding } from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, SelectField, Skeleton, TableHead, toApiError } from "../components";
import { DecisionsTable } from "../decisions";
import { filterKeys, findingQueryOf, pick, scopeKeys, severities, sortedBy, tri, types, viewKinds, type ViewKind } from "../findingfilters";
import { FindingsTable } from "../findings";
import { formatNumber } from "../format";
import { usePaged } from "../paged";
import { ReportSchedules } from "../schedules";
import { useUser } from "../session";

const viewWords: Record<ViewKind, string> = { findings: "Findings", vulnerability: "By vulnerability", node: "By node", image: "By image" };

export default function VulnerabilitiesPage() {
  // Filters live in the URL: a link or a reload reproduces the filtered list.
  const [params, setParams] = useSearchParams();
  const [severity, setSeverity] = useState(() => pick(severities, params.get("severity"), "any"));
  const [type, setType] = useState(() => pick(types, params.get("type"), "any"));
  const [kev, setKev] = useState(() => pick(tri, params.get("kev"), "any"));
  const [fix, setFix] = useState(() => pick(tri, params.get("fix"), "any"));
  const [search, setSearch] = useState(() => params.get("q") ?? "");
  const [decided, setDecided] = useState(() => pick(tri, params.get("decided"), "no"));
  const user = useUser();
  const canDecide = user.role !== "read-only";
  const [notice, setNotice] = useState<string | null>(null);
  const [decisions, setDecisions] = useState<Decision[] | null>(null);
  const [decisionsError, setDecisionsError] = useState<Error | null>(null);
  const loadDecisions = useCallback(() => {
    api
      .decisions()
      .then((p) => (setDecisions(p.items), setDecisionsError(null)))
      .catch((e: unknown) => setDecisionsError(toApiError(e)));
  }, []);
  useEffect(loadDecisions, [loadDecisions]);
  // A scan's, a node's or a vulnerability's findings: /vulnerabilities?scanId=…, ?nodeId=… (links from the scans page) or ?vulnId=… (the dashboard).
  const scope = useMemo(() => {
    const q: FindingQuery = {};
    for (const k of scopeKeys) {
      const v = params.get(k);
      if (v !== null && v !== "") q[k] = v;
    }
    return q;
  }, [params]);
  const view = pick(viewKinds, params.get("view"), "findings");
  const applied = useMemo(() => findingQueryOf(params), [params]);
  const [total, setTotal] = useState<number | null>(null);

  const load = useCallback(
    async (cursor?: string) => {
      const p = await api.findings({ ...scope, ...applied, limit: 50, ...(cursor !== undefined ? { cursor } : {}) });
      if (cursor === undefined) setTotal(p.total ?? null);
      return { items: p.items ?? [], ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
    },
    [scope, applied],
  );
  const { items, hasMore, more, error, loading, reload } = usePaged<NodeFinding>(load);
  // The grouped views: one row per vulnerability, node or image, with the same filters.
  const [groups, setGroups] = useState<{ items: FindingGroup[]; total: number } | null>(null);
  const [groupsError, setGroupsError] = useState<ReturnType<typeof toApiError> | null>(null);
  useEffect(() => {
    if (view === "findings") return;
    setGroups(null);
    setGroupsError(null);
    api
      .findingGroups(view, 200, { ...scope, ...applied })
      .then((p) => setGroups({ items: p.items ?? [], total: p.total ?? (p.items ?? []).length }))
      .catch((e: unknown) => setGroupsError(toApiError(e)));
  }, [view, scope, applied]);
  const filtered = Object.keys(applied).some((k) => k !== "sort" && k !== "order") || Object.keys(scope).length > 0;
  const clearLink = view === "findings" ? "/vulnerabilities" : `/vulnerabilities?view=${view}`;
  const setView = (v: ViewKind) => {
    const next = new URLSearchParams(params);
    if (v === "findings") next.delete("view");
    else next.set("view", v);
    setParams(next);
  };
  const onDecided = (d: Decision) => {
    setNotice(`Decision recorded: ${d.vulnId} ${d.status === "accepted" ? "accepted" : "not affected"}. Its findings leave the list; choose "Include decided: yes" to see them.`);
    loadDecisions();
    void reload();
  };

  const sortBy = params.get("sort") ?? "risk";
  const order: "asc" | "desc" = params.get("order") === "asc" ? "asc" : "desc";
  /** A click on a sorted column reverses it; on another sorts by it (risk and severity highest first, names A to Z). */
  const onSort = (by: string) => setParams(sortedBy(params, by));

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams(params);
    for (const k of filterKeys) next.delete(k);
    const set = (k: (typeof filterKeys)[number], v: string, def: string) => v !== def && next.set(k, v);
    set("type", type, "any");
    set("severity", severity, "any");
    set("kev", kev, "any");
    set("fix", fix, "any");
    set("decided", decided, "no");
    set("q", search.trim(), "");
    setParams(next);
  };

  const summary = useMemo(() => {
    if (items === null) return "";
    const n = total ?? items.length;
    const by = params.get("sort") ?? "risk";
    const asc = params.get("order") === "asc";
    return `${n} finding${n === 1 ? "" : "s"}, ${by === "risk" && !asc ? "highest risk first" : `by ${by}, ${asc ? "ascending" : "descending"}`}.`;
  }, [items, total, params]);

  return (
    <Page title="Vulnerabilities">
      {scope.scanId !== undefined && (
        <p>
          Findings of scan <code>{scope.scanId}</code>. <Link to="/vulnerabilities">All current findings</Link>
        </p>
      )}
      {scope.nodeId !== undefined && (
        <p>
          Findings of node <code>{scope.nodeId}</code>. <Link to="/vulnerabilities">All current findings</Link>
        </p>
      )}
      {scope.vulnId !== undefined && (
        <p>
          Findings of <Link to={`/vulnerabilities/${encodeURIComponent(scope.vulnId)}`}>{scope.vulnId}</Link> on every node.{" "}
          <Link to="/vulnerabilities">All current findings</Link>
        </p>
      )}
      {(scope.image !== undefined || scope.namespace !== undefined || scope.cluster !== undefined) && (
        <p>
          Findings of {scope.image !== undefined && <>image <code>{scope.image}</code> and its containers </>}
          {scope.namespace !== undefined && <>namespace <code>{scope.namespace}</code> </>}
          {scope.cluster !== undefined && <>cluster <code>{scope.cluster}</code></>}. <Link to="/vulnerabilities">All current findings</Link>
        </p>
      )}
      <nav aria-label="Views of the findings" className="tabs">
        {viewKinds.map((v) => (
          <button key={v} type="button" className={v === view ? "primary" : ""} aria-pressed={v === view} onClick={() => setView(v)}>
            {viewWords[v]}
          </button>
        ))}
      </nav>
      <form className="filters" onSubmit={apply} aria-label="Filter vulnerabilities">
        <SelectField label="Type" value={type} options={types} onChange={setType} />
        <SelectField label="Severity" value={severity} options={severities} onChange={setSeverity} />
        <SelectField label="Known exploited (KEV)" value={kev} options={tri} onChange={setKev} />
        <SelectField label="Fix available" value={fix} options={tri} onChange={setFix} />
        <SelectField label="Include decided" value={decided} options={tri.slice(1)} onChange={setDecided} />
        <Field label="Search" type="search" value={search} onChange={setSearch} placeholder="CVE, package, node, image or namespace" />
        <button type="submit" className="primary">
          Apply filters
        </button>
      </form>
      <p className="downloads">
        Download these findings:{" "}
        <a href={downloads.findings("json", { ...scope, ...applied })} download>
          JSON
        </a>{" "}
        ·{" "}
        <a href={downloads.findings("csv", { ...scope, ...applied })} download>
          CSV
        </a>{" "}
        ·{" "}
        <a href={downloads.findings("xlsx", { ...scope, ...applied })} download>
          Excel (XLSX)
        </a>{" "}
        ·{" "}
        <a href={downloads.findings("pdf", { ...scope, ...applied })} download>
          PDF report
        </a>{" "}
        · Decisions as{" "}
        <a href={downloads.openvex()} download>
          OpenVEX
        </a>
        . Per-scan SBOMs (CycloneDX, SPDX) and reports (SARIF, CycloneDX, OpenVEX) are on the scans page.
      </p>
      {notice !== null && <Notice>{notice}</Notice>}
      <ErrorAlert error={view === "findings" ? error : groupsError} />
      {view !== "findings" ? (
        groups === null ? (
          groupsError === null && <Skeleton />
        ) : groups.items.length === 0 ? (
          <EmptyState filtered={filtered} clearLink={clearLink} />
        ) : (
          <GroupsTable by={view} groups={groups.items} total={groups.total} />
        )
      ) : items === null ? (
        <Skeleton />
      ) : items.length === 0 ? (
        <EmptyState filtered={filtered} clearLink={clearLink} />
      ) : (
        <>
          <p role="status">{summary}</p>
          <FindingsTable
            items={items}
            caption={sortBy === "risk" && order === "desc" ? "Vulnerabilities, highest risk first" : `Vulnerabilities by ${sortBy}, ${order === "asc" ? "ascending" : "descending"}`}
            sort={{ by: sortBy, order, onSort }}
            {...(canDecide ? { onDecided } : {})}
          />
          <LoadMore hasMore={hasMore} loading={loading} more={more} />
        </>
      )}
      <ReportSchedules
        query={new URLSearchParams(
          Object.entries({ ...scope, ...applied }).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== "sort" && e[0] !== "order"),
        ).toString()}
        canChange={user.role === "admin"}
      />
      <section aria-labelledby="decisions-h" className="wide">
        <h2 id="decisions-h">Decisions</h2>
        <p className="hint">
          Accepted and not-affected vulnerabilities, recorded from a finding&apos;s explanation (&quot;Why&quot;). They hide matching findings
          until they expire.
        </p>
        {decisionsError !== null && (
          <p role="alert" className="alert error">
            {decisionsError.message}
          </p>
        )}
        {decisions === null ? (
          <Skeleton />
        ) : (
          <DecisionsTable
            items={decisions}
            canRevoke={canDecide}
            onRevoked={(id) => {
              setDecisions((cur) => (cur ?? []).filter((d) => d.id !== id));
              void reload();
            }}
          />
        )}
      </section>
    </Page>
  );
}

/** Why the list is empty: the filters (with a way out), or no findings at all yet (feeds and scans). */
function EmptyState({ filtered, clearLink }: { filtered: boolean; clearLink: string }) {
  return filtered ? (
    <p role="status" data-empty="filters">
      No findings match these filters. <Link to={clearLink}>Clear the filters</Link>
    </p>
  ) : (
    <p role="status" data-empty="none">
      No current findings. Findings appear once a scan has run against a knowledge base with feeds: see{" "}
      <Link to="/settings/system">Feeds and diagnosis</Link> and <Link to="/scans">Scans</Link>.
    </p>
  );
}

/** One row per vulnerability, node or image: counts, the worst risk, and links to its findings. */
function GroupsTable({ by, groups, total }: { by: "vulnerability" | "node" | "image"; groups: FindingGroup[]; total: number }) {
  const first = by === "vulnerability" ? "Vulnerability" : by === "node" ? "Node" : "Image";
  const link = (g: FindingGroup) =>
    by === "vulnerability"
      ? `/vulnerabilities/${encodeURIComponent(g.key)}`
      : by === "node"
        ? `/vulnerabilities?nodeId=${encodeURIComponent(g.key)}`
        : `/vulnerabilities?image=${encodeURIComponent(g.key)}`;
  return (
    <>
      <p role="status">
        {groups.length < total ? `The ${groups.length} riskiest of ${total} groups.` : `${total} group${total === 1 ? "" : "s"}, highest risk first.`}
      </p>
      <table className="data groups" data-groups={by}>
        <caption className="sr-only">Findings grouped by {by}, highest risk first</caption>
        <TableHead cols={[first, "Worst risk", "Findings", by === "vulnerability" ? "Nodes" : "Vulnerabilities", "Signals", "Worst finding"]} />
        <tbody>
          {groups.map((g) => (
            <tr key={g.key} data-group={g.key}>
              <th scope="row">
                <Link to={link(g)}>{g.label !== "" ? g.label : g.key}</Link>
              </th>
              <td className="score">{formatNumber(g.maxScore, 1)}</td>
              <td>{g.findings}</td>
              <td>{by === "vulnerability" ? g.nodes : g.vulnerabilities}</td>
              <td>{g.kev && <span className="tag kev">KEV</span>}</td>
              <td>
                {by === "vulnerability" ? (
                  <>
                    {g.top.finding.package.name} <span className="muted">on {g.top.target.ref}</span>
                  </>
                ) : (
                  <>
                    <Link to={`/vulnerabilities/${encodeURIComponent(g.top.finding.id)}`}>{g.top.finding.id}</Link>{" "}
                    <span className="muted">in {g.top.finding.package.name}</span>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
