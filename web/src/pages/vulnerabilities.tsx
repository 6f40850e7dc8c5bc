// Vulnerabilities: the ranked current findings (highest risk first) with
// the explanation of each score, filtered by severity, KEV, fix available
// and a search (vulnerability id or package); decisions (accept / not
// affected, with reason and expiry) recorded from a finding's explanation
// and listed below with revoke; downloads of the current findings (JSON,
// CSV) and of the decisions (OpenVEX).
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, downloads, scanTypes, type Decision, type FindingQuery, type NodeFinding } from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, SelectField, toApiError } from "../components";
import { DecisionsTable } from "../decisions";
import { FindingsTable } from "../findings";
import { usePaged } from "../paged";
import { useUser } from "../session";

const severities = ["any", "critical", "high", "medium", "low", "unknown"] as const;
const types = ["any", ...scanTypes] as const;
const tri = ["any", "yes", "no"] as const;

function triValue(v: (typeof tri)[number]): string | undefined {
  return v === "any" ? undefined : v === "yes" ? "true" : "false";
}

export default function VulnerabilitiesPage() {
  const [severity, setSeverity] = useState<(typeof severities)[number]>("any");
  const [type, setType] = useState<(typeof types)[number]>("any");
  const [kev, setKev] = useState<(typeof tri)[number]>("any");
  const [fix, setFix] = useState<(typeof tri)[number]>("any");
  const [search, setSearch] = useState("");
  const [decided, setDecided] = useState<(typeof tri)[number]>("no");
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
  const [params] = useSearchParams();
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
  const [applied, setApplied] = useState<FindingQuery>({});
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

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const q: FindingQuery = {};
    if (severity !== "any") q.severity = severity;
    if (type !== "any") q.type = type;
    const k = triValue(kev);
    if (k !== undefined) q.kev = k;
    const f = triValue(fix);
    if (f !== undefined) q.fixAvailable = f;
    if (decided === "yes") q.includeSuppressed = "true";
    const s = search.trim();
    // A vulnerability id (CVE-…, GHSA-…, DSA-…) searches ids, anything else package names.
    if (s !== "") {
      if (/^[A-Z]+-[\w-]+$/i.test(s) && /\d/.test(s)) q.vulnId = s.toUpperCase();
      else q.package = s;
    }
    setApplied(q);
  };

  const summary = useMemo(() => {
    if (items === null) return "";
    const n = total ?? items.length;
    return `${n} finding${n === 1 ? "" : "s"}, highest risk first.`;
  }, [items, total]);

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
        <p aria-busy="true">Loading…</p>
      ) : items.length === 0 ? (
        <p role="status">No findings match. Scans list findings here once the knowledge base has feeds.</p>
      ) : (
        <>
          <p role="status">{summary}</p>
          <FindingsTable items={items} caption="Vulnerabilities, highest risk first" {...(canDecide ? { onDecided } : {})} />
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
          <p aria-busy="true">Loading…</p>
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
