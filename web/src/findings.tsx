// Findings as the dashboard and the vulnerabilities page show them: the
// ranked row and the factor-by-factor explanation of its risk score
// (docs/risk.md: the score is the product of its factors).
import { useId, useState } from "react";
import { Link } from "react-router";
import type { Decision, Hop, NodeFinding } from "./api";
import { TableHead } from "./components";
import { DecisionForm, decisionWords } from "./decisions";
import { formatNumber, formatPercent, shortName } from "./format";

/** A finding's attack paths: the shortest from each entry point (risk.paths), or its one path. */
export function attackPaths(f: NodeFinding): Hop[][] {
  const ps = f.risk.paths ?? [];
  if (ps.length > 0) return ps;
  return f.risk.path !== undefined && f.risk.path !== null && f.risk.path.length > 0 ? [f.risk.path] : [];
}

/** The map link of an attack path: its nodes highlighted, the last selected. */
export function pathLink(path: readonly Hop[]): string {
  const ids = path.map((h) => h.nodeId ?? "").filter((id) => id !== "");
  const last = ids.at(-1);
  return `/topology?path=${ids.map(encodeURIComponent).join(",")}${last !== undefined ? `&node=${encodeURIComponent(last)}` : ""}`;
}

/** The map link of a finding: its (first) attack path's nodes, or its node alone. */
export function mapLink(f: NodeFinding): string | null {
  const ids = (f.risk.path ?? []).map((h) => h.nodeId ?? "").filter((id) => id !== "");
  if (ids.length === 0 && f.nodeId !== undefined && f.nodeId !== "") ids.push(f.nodeId);
  return ids.length === 0 ? null : `/topology?path=${ids.map(encodeURIComponent).join(",")}`;
}

/** A target's ref as shown: long runtime ids (containers, images) cut to 12 characters, in full on hover. */
export function TargetRef({ ref: r }: { ref: string }) {
  const id = r.replace(/^sha256:/, "");
  if (id.length > 24 && /^[0-9a-f]+$/.test(id)) {
    return (
      <span className="muted" title={r}>
        {id.slice(0, 12)}
      </span>
    );
  }
  return <span className="muted">{r}</span>;
}

/** The public advisory page of a vulnerability id: osv.dev resolves CVE, GHSA, GO, PYSEC, RUSTSEC, DSA, ALSA... ids. */
export function advisoryURL(id: string): string {
  return `https://osv.dev/vulnerability/${encodeURIComponent(id)}`;
}

export function SeverityTag({ severity }: { severity: string }) {
  const s = severity === "" ? "unknown" : severity.toLowerCase();
  return <span className={`sev sev-${s}`}>{s}</span>;
}

function factorValue(name: string, v: number): string {
  return name.toLowerCase().includes("severity") ? formatNumber(v, 1) : `×${formatNumber(v, 2)}`;
}

/** The factors of one finding's score, each with its reason, and the attack path when known. */
export function Explanation({ f, onDecided }: { f: NodeFinding; onDecided?: ((d: Decision) => void) | undefined }) {
  const factors = f.risk.factors ?? [];
  const path = f.risk.path ?? [];
  const paths = attackPaths(f);
  const link = mapLink(f);
  return (
    <div className="explanation" data-explanation={f.finding.id}>
      {f.finding.summary !== undefined && f.finding.summary !== "" && <p>{f.finding.summary}</p>}
      <table className="data factors">
        <caption>
          Risk {formatNumber(f.risk.score, 1)} of 100 for {f.finding.id} in {f.finding.package.name} {f.finding.package.version}
        </caption>
        <TableHead cols={["Factor", "Value", "Why"]} />
        <tbody>
          {factors.map((x) => (
            <tr key={x.name}>
              <th scope="row">{x.name}</th>
              <td>{factorValue(x.name, x.value)}</td>
              <td>{x.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {paths.map((p, n) => (
        <p className="path" key={n} data-attack-path={n}>
          {paths.length > 1 ? `Attack path ${n + 1} of ${paths.length}: ` : "Attack path: "}
          {p.map((h, i) => (
            <span key={`${h.kind}-${h.name}-${i}`}>
              {i > 0 && " → "}
              <span className={`hop hop-${h.kind}`} title={h.nodeId ?? h.name}>
                {shortName(h.name)}
              </span>
            </span>
          ))}
          {paths.length > 1 && (
            <>
              {" "}
              <Link to={pathLink(p)} aria-label={`Show attack path ${n + 1} on the map`}>
                on the map
              </Link>
            </>
          )}
        </p>
      ))}
      {link !== null && (
        <p>
          <Link to={link}>{path.length > 0 ? "Show the attack path on the map" : "Show the node on the map"}</Link>
        </p>
      )}
      {f.finding.fixedVersions !== undefined && f.finding.fixedVersions.length > 0 && (
        <p>Fixed in {f.finding.fixedVersions.join(", ")}.</p>
      )}
      {f.decision !== undefined && (
        <p data-decided={f.decision.status}>
          Decided: {decisionWords(f.decision.status)}: {f.decision.reason}
        </p>
      )}
      {onDecided !== undefined && f.decision === undefined && <DecisionForm f={f} onDecided={onDecided} />}
    </div>
  );
}

/** Ranked findings; each row opens its explanation (a disclosure button, keyboard-operable). */
/** The sortable columns of the findings table and the API's sort key of each. */
const sortKeys: Record<string, string> = { Risk: "risk", Vulnerability: "vuln", Severity: "severity", Package: "package" };

/** How a findings table is sorted, and what a click on a sortable header does. */
export interface FindingsSort {
  by: string;
  order: "asc" | "desc";
  onSort: (by: string) => void;
}

export function FindingsTable({
  items,
  caption,
  onDecided,
  sort,
}: {
  items: NodeFinding[];
  caption: string;
  /** With sort, the Risk, Vulnerability, Severity and Package headers sort the list (server side). */
  sort?: FindingsSort;
  /** When set (users who may decide), each explanation has the decision form. */
  onDecided?: (d: Decision) => void;
}) {
  const [open, setOpen] = useState<string | null>(null);
  const base = useId();
  return (
    <table className="data findings">
      <caption className="sr-only">{caption}</caption>
      {sort === undefined ? (
        <TableHead cols={["Risk", "Vulnerability", "Severity", "Package", "Target", "Signals", "Type"]} hidden="Explanation" />
      ) : (
        <thead>
          <tr>
            {["Risk", "Vulnerability", "Severity", "Package", "Target", "Signals", "Type"].map((c) => {
              const key = sortKeys[c];
              if (key === undefined)
                return (
                  <th key={c} scope="col">
                    {c}
                  </th>
                );
              const active = sort.by === key;
              return (
                <th key={c} scope="col" aria-sort={active ? (sort.order === "asc" ? "ascending" : "descending") : "none"} data-sort={key}>
                  <button type="button" className="link sort" onClick={() => sort.onSort(key)}>
                    {c}
                    <span aria-hidden="true">{active ? (sort.order === "asc" ? " ▲" : " ▼") : ""}</span>
                  </button>
                </th>
              );
            })}
            <th scope="col">
              <span className="sr-only">Explanation</span>
            </th>
          </tr>
        </thead>
      )}
      {items.map((f) => {
        const id = `${base}-${f.id}`;
        const shown = open === f.id;
        return (
          <tbody key={f.id} data-finding={f.finding.id}>
            <tr>
              <td className="score">{formatNumber(f.risk.score, 1)}</td>
              <th scope="row">
                {(f.type ?? "vulnerability") === "vulnerability" ? (
                  <>
                    <Link to={`/vulnerabilities/${encodeURIComponent(f.finding.id)}`} data-vuln-page={f.finding.id}>
                      {f.finding.id}
                    </Link>{" "}
                    <a
                      href={advisoryURL(f.finding.id)}
                      target="_blank"
                      rel="noreferrer"
                      className="muted small"
                      data-advisory={f.finding.id}
                      aria-label={`osv: the ${f.finding.id} advisory (opens osv.dev)`}
                    >
                      osv
                    </a>
                  </>
                ) : (
                  f.finding.id
                )}
              </th>
              <td>
                <SeverityTag severity={f.finding.severity} />
                {f.finding.cvss !== undefined && <span className="muted"> {formatNumber(f.finding.cvss.baseScore, 1)}</span>}
              </td>
              <td>
                {(f.type ?? "vulnerability") === "vulnerability" ? (
                  <>
                    {f.finding.package.name} <span className="muted">{f.finding.package.version}</span>
                  </>
                ) : (
                  f.subject
                )}
              </td>
              <td>
                {f.target.kind} <TargetRef ref={f.target.ref} />
              </td>
              <td>
                {f.finding.kev !== undefined && <span className="tag kev">KEV</span>}
                {f.finding.epss !== undefined && <span className="tag">EPSS {formatPercent(f.finding.epss.score)}</span>}
                {(f.finding.fixedVersions?.length ?? 0) > 0 && <span className="tag">fix</span>}
                {f.decision !== undefined && <span className="tag">{decisionWords(f.decision.status)}</span>}
              </td>
              <td data-type={f.type}>
                {f.type}
                {f.secret?.excerpt !== undefined && <span className="muted"> {f.secret.excerpt}</span>}
              </td>
              <td className="actions">
                <button
                  type="button"
                  aria-expanded={shown}
                  aria-controls={id}
                  onClick={() => setOpen(shown ? null : f.id)}
                  aria-label={`Why ${f.finding.id} in ${f.finding.package.name} scores ${formatNumber(f.risk.score, 1)}`}
                >
                  Why

                </button>
              </td>
            </tr>
            {shown && (
              <tr id={id}>
                <td colSpan={8}>
                  <Explanation f={f} onDecided={onDecided} />
                </td>
              </tr>
            )}
          </tbody>
        );
      })}
    </table>
  );
}
