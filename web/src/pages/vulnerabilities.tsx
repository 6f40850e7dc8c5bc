// Vulnerabilities: the ranked current findings (highest risk first) with
// the explanation of each score, filtered by severity, KEV, fix available
// and a search (vulnerability id or package); decisions (accept / not
// affected, with reason and expiry) recorded from a finding's explanation
// and listed below with revoke; downloads of the current findings (JSON,
// CSV) and of the decisions (OpenVEX).
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, downloads, type Decision, type FindingQuery, type NodeFinding } from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, SelectField, Skeleton, toApiError } from "../components";
import { DecisionsTable } from "../decisions";
import { filterKeys, findingQueryOf, pick, severities, sortedBy, tri, types } from "../findingfilters";
import { FindingsTable } from "../findings";
import { usePaged } from "../paged";
import { useUser } from "../session";

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
    const scanId = params.get("scanId");
    const nodeId = params.get("nodeId");
    const vulnId = params.get("vulnId");
    if (scanId !== null && scanId !== "") q.scanId = scanId;
    if (nodeId !== null && nodeId !== "") q.nodeId = nodeId;
    if (vulnId !== null && vulnId !== "") q.vulnId = vulnId;
    return q;
  }, [params]);
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
          Findings of <code>{scope.vulnId}</code> on every node. <Link to="/vulnerabilities">All current findings</Link>
        </p>
      )}
      <form className="filters" onSubmit={apply} aria-label="Filter vulnerabilities">
        <SelectField label="Type" value={type} options={types} onChange={setType} />
        <SelectField label="Severity" value={severity} options={severities} onChange={setSeverity} />
        <SelectField label="Known exploited (KEV)" value={kev} options={tri} onChange={setKev} />
        <SelectField label="Fix available" value={fix} options={tri} onChange={setFix} />
        <SelectField label="Include decided" value={decided} options={tri.slice(1)} onChange={setDecided} />
        <Field label="Search" type="search" value={search} onChange={setSearch} placeholder="CVE-2024-… or package" />
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
      <ErrorAlert error={error} />
      {items === null ? (
        <Skeleton />
      ) : items.length === 0 ? (
        <p role="status">No findings match. Scans list findings here once the knowledge base has feeds.</p>
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
