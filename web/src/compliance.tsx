// Compliance pieces shared by the Compliance page, the scans page and the
// map's node panel: pass rates, the benchmark profile picker, the pass
// rate trend (a hand-drawn SVG line, like charts.tsx) and a node's
// compliance results.
import { useEffect, useId, useState } from "react";
import { Link } from "react-router";
import { api, type CheckCounts, type ComplianceProfile, type ComplianceProfiles, type ComplianceSummary, type TrendSeries } from "./api";
import { ErrorAlert, toApiError } from "./components";
import type { ApiError } from "./api";
import { formatDateTime, formatPercent } from "./format";

/** "83.3%" of a pass rate, "n/a" when nothing was evaluated. */
export function rate(c: CheckCounts): string {
  return c.passRate === null ? "n/a" : formatPercent(c.passRate);
}

/** A short name of a benchmark or profile id: SSG's long XCCDF prefixes dropped. */
export function shortName(id: string): string {
  return id.replace(/^xccdf_org\.ssgproject\.content_(benchmark|profile|rule)_/, "");
}

/** The pass rate with its counts, for a table cell. */
export function PassRate({ c }: { c: CheckCounts }) {
  return (
    <span data-pass-rate={c.passRate === null ? "" : c.passRate.toFixed(3)}>
      <strong>{rate(c)}</strong>{" "}
      <span className="muted">
        ({c.pass} pass, {c.fail} fail, {c.error} error{c.other > 0 ? `, ${c.other} other` : ""})
      </span>
    </span>
  );
}

/**
 * The benchmark profile of a compliance scan: the console's catalogue
 * (SCAP Security Guide profiles, CIS Kubernetes and Docker targets) and the
 * profiles sensors have reported; "" is the engine's default.
 */
export function ProfilePicker({
  value,
  onChange,
  kind,
  nodeId,
}: {
  value: string;
  onChange: (p: string) => void;
  kind?: string | undefined;
  /** With a node, the OpenSCAP profiles its OS lacks are disabled, saying why. */
  nodeId?: string | undefined;
}) {
  const id = useId();
  const hint = useId();
  const [profiles, setProfiles] = useState<ComplianceProfiles | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    api
      .complianceProfiles(nodeId)
      .then((p) => live && setProfiles(p))
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [nodeId]);
  const catalogue = (profiles?.catalogue ?? []).filter((p) => kind === undefined || p.targets.includes(kind));
  const node = profiles?.node;
  /** Why a profile cannot run on the node ("" when it can, or when the node's OS is not known). */
  const lacks = (p: ComplianceProfile): string => {
    if (node === undefined || !node.known || p.engine !== "openscap") return "";
    const c = node.profiles.choices.find((x) => x.name === p.id);
    return c === undefined || c.available ? "" : (c.reason ?? node.profiles.reason ?? "not available for this OS");
  };
  const osName = node?.known === true ? `${node.profiles.os.id} ${node.profiles.os.versionId ?? ""}`.trim() : "";
  const reported = (profiles?.reported ?? []).filter((r) => !catalogue.some((p) => p.id === shortName(r.profile)));
  return (
    <div className="field">
      <label htmlFor={id}>Compliance profile</label>
      <select id={id} value={value} aria-describedby={hint} onChange={(e) => onChange(e.target.value)}>
        <option value="">the engine's default</option>
        {catalogue.map((p) => (
          <option key={p.id} value={p.id} disabled={lacks(p) !== ""} title={lacks(p) || undefined}>
            {p.title} ({p.id}){lacks(p) !== "" && ` — not available for ${osName}`}
          </option>
        ))}
        {reported.map((r) => (
          <option key={r.profile} value={r.profile}>
            {shortName(r.profile)} (reported by {r.scans} scan{r.scans === 1 ? "" : "s"})
          </option>
        ))}
      </select>
      <p id={hint} className="hint">
        {osName !== ""
          ? node?.profiles.reason
            ? `${osName}: ${node.profiles.reason}. The CIS Docker and Kubernetes benchmarks need no SCAP content.`
            : `Profiles for ${osName} (${node?.profiles.product ?? "SCAP Security Guide"}); those it lacks are disabled.`
          : "SCAP Security Guide profiles exist for some operating systems only; a profile the target's content lacks fails the scan, naming it."}
      </p>
      <ErrorAlert error={error} />
    </div>
  );
}

/** The pass rate of one series over its runs: a line from 0 to 100 %. */
export function TrendChart({ series, title }: { series: TrendSeries; title: string }) {
  const width = 420;
  const height = 150;
  const pad = { l: 44, r: 10, t: 10, b: 24 };
  const pts = series.points.filter((p) => p.passRate !== null);
  if (pts.length === 0) {
    return (
      <figure className="chart" data-chart="compliance-trend">
        <figcaption>{title}</figcaption>
        <p>No evaluated checks yet.</p>
      </figure>
    );
  }
  const n = pts.length;
  const x = (i: number) => pad.l + (n === 1 ? (width - pad.l - pad.r) / 2 : ((width - pad.l - pad.r) * i) / (n - 1));
  const y = (v: number) => height - pad.b - (height - pad.t - pad.b) * v;
  const d = pts.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.passRate ?? 0).toFixed(1)}`).join("");
  const fmt = (iso: string) => formatDateTime(iso);
  const first = pts[0];
  const last = pts[n - 1];
  const label = `${title}: ${n} scan${n === 1 ? "" : "s"}, from ${first !== undefined ? rate(first) : ""} to ${last !== undefined ? rate(last) : ""}`;
  return (
    <figure className="chart" data-chart="compliance-trend" data-points={n} data-last-rate={last?.passRate?.toFixed(3) ?? ""}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <line x1={pad.l} y1={height - pad.b} x2={width - pad.r} y2={height - pad.b} className="chart-axis" />
        <line x1={pad.l} y1={pad.t} x2={pad.l} y2={height - pad.b} className="chart-axis" />
        <text x={pad.l - 6} y={y(1) + 4} textAnchor="end" className="chart-label">
          100 %
        </text>
        <text x={pad.l - 6} y={y(0)} textAnchor="end" className="chart-label">
          0 %
        </text>
        {first !== undefined && (
          <text x={pad.l} y={height - 6} className="chart-label">
            {fmt(first.completedAt)}
          </text>
        )}
        {last !== undefined && n > 1 && (
          <text x={width - pad.r} y={height - 6} textAnchor="end" className="chart-label">
            {fmt(last.completedAt)}
          </text>
        )}
        <path d={d} className="chart-line" />
        {pts.map((p, i) => (
          <circle key={p.scanId} cx={x(i)} cy={y(p.passRate ?? 0)} r={3} className="chart-dot" />
        ))}
      </svg>
      <table className="sr-only">
        <caption>{title}</caption>
        <tbody>
          {pts.map((p) => (
            <tr key={p.scanId}>
              <th scope="row">{fmt(p.completedAt)}</th>
              <td>{rate(p)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** A node's latest compliance results, for its detail panel. */
export function NodeCompliance({ nodeId }: { nodeId: string }) {
  const [sum, setSum] = useState<ComplianceSummary | null>(null);
  useEffect(() => {
    let live = true;
    setSum(null);
    api
      .complianceSummary({ nodeId })
      .then((s) => live && setSum(s))
      .catch(() => undefined); // a console without compliance results: nothing to show
    return () => {
      live = false;
    };
  }, [nodeId]);
  if (sum === null || sum.targets.length === 0) return null;
  return (
    <div className="node-compliance" data-node-compliance={sum.passRate === null ? "" : sum.passRate.toFixed(3)}>
      <h3>Compliance</h3>
      <ul className="refs">
        {sum.targets.map((r) => (
          <li key={`${r.scanId}|${r.benchmark}|${r.profile}`}>
            {shortName(r.benchmark)} · {shortName(r.profile)}: <PassRate c={r} />
          </li>
        ))}
      </ul>
      <p>
        <Link to={`/compliance?nodeId=${encodeURIComponent(nodeId)}`}>Compliance of this node</Link>
      </p>
    </div>
  );
}
