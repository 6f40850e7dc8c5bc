// Compliance: the pass rates of the latest compliance scan of every
// target, benchmark and profile (pass / (pass + fail + error)): overall,
// per benchmark profile, per control with the result on each node (the
// benchmarks → controls → nodes drill-down), filtered by node, benchmark,
// profile, result and severity; the failed controls ranked by risk
// (severity and the node's exposure) with their decisions; the pass rate
// trend of each target over its latest scans; downloads of the checks
// (JSON, CSV) and of each scan's raw engine document (XCCDF).
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import {
  api,
  downloads,
  type ApiError,
  type ComplianceControl,
  type ComplianceQuery,
  type ComplianceSummary,
  type FailedControl,
  type TrendSeries,
} from "../api";
import { PassRate, TrendChart, rate, shortName } from "../compliance";
import { ErrorAlert, Page, SelectField, Skeleton, TableHead, Time, toApiError } from "../components";
import { SeverityTag, TargetRef } from "../findings";
import { formatNumber } from "../format";

const results = ["any", "fail", "error", "pass", "notapplicable", "notchecked"] as const;
const severities = ["any", "critical", "high", "medium", "low"] as const;

function targetName(t: { kind: string; ref: string; sensorId: string }): string {
  return t.ref !== "" ? `${t.kind} ${t.ref}` : `${t.kind} of sensor ${t.sensorId}`;
}

export default function CompliancePage() {
  const [params, setParams] = useSearchParams();
  const q: ComplianceQuery = useMemo(() => {
    const out: ComplianceQuery = {};
    for (const k of ["nodeId", "benchmark", "profile"] as const) {
      const v = params.get(k);
      if (v !== null && v !== "") out[k] = v;
    }
    return out;
  }, [params]);
  const [result, setResult] = useState<(typeof results)[number]>("any");
  const [severity, setSeverity] = useState<(typeof severities)[number]>("any");
  const [summary, setSummary] = useState<ComplianceSummary | null>(null);
  const [controls, setControls] = useState<ComplianceControl[] | null>(null);
  const [failures, setFailures] = useState<FailedControl[] | null>(null);
  const [trend, setTrend] = useState<TrendSeries[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  const load = useCallback(() => {
    let live = true;
    const fail = (e: unknown) => live && setError(toApiError(e));
    api.complianceSummary(q).then((s) => live && setSummary(s)).catch(fail);
    api.complianceFailures({ ...q, limit: 50 }).then((p) => live && setFailures(p.items ?? [])).catch(fail);
    api.complianceTrend({ ...q, limit: 10 }).then((p) => live && setTrend(p.items ?? [])).catch(fail);
    return () => {
      live = false;
    };
  }, [q]);
  useEffect(load, [load]);
  useEffect(() => {
    let live = true;
    setControls(null);
    api
      .complianceControls({ ...q, result: result === "any" ? undefined : result, severity: severity === "any" ? undefined : severity })
      .then((p) => live && setControls(p.items ?? []))
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [q, result, severity]);

  const setScope = (k: "nodeId" | "benchmark" | "profile", v: string | undefined) => {
    const next = new URLSearchParams(params);
    if (v === undefined || v === "") next.delete(k);
    else next.set(k, v);
    setParams(next);
  };
  const benchmarks = summary?.benchmarks ?? [];
  const benchmarkOptions = ["any", ...new Set((summary?.benchmarks ?? []).map((b) => b.benchmark))];

  return (
    <Page title="Compliance">
      <ErrorAlert error={error} />
      {q.nodeId !== undefined && (
        <p>
          Compliance of node <code>{q.nodeId}</code>. <button type="button" className="link" onClick={() => setScope("nodeId", undefined)}>All nodes</button>
        </p>
      )}
      <form className="filters" aria-label="Filter compliance results" onSubmit={(e) => e.preventDefault()}>
        <SelectField label="Benchmark" value={q.benchmark ?? "any"} options={benchmarkOptions} onChange={(v) => setScope("benchmark", v === "any" ? undefined : v)} />
        <SelectField label="Result" value={result} options={results} onChange={setResult} />
        <SelectField label="Severity" value={severity} options={severities} onChange={setSeverity} />
      </form>

      {summary === null ? (
        <Skeleton />
      ) : summary.targets.length === 0 ? (
        <p>
          No compliance results yet. Start a compliance scan from the <Link to="/scans">scans page</Link> or a node of the <Link to="/topology">map</Link>.
        </p>
      ) : (
        <>
          <section aria-labelledby="overall-h">
            <h2 id="overall-h">Pass rate</h2>
            <p className="big-number" data-compliance-overall={summary.passRate === null ? "" : summary.passRate.toFixed(3)}>
              {rate(summary)}
            </p>
            <p>
              {summary.pass} passed, {summary.fail} failed, {summary.error} could not be evaluated and {summary.other} did not apply, in the latest scan of{" "}
              {summary.targets.length} target benchmark{summary.targets.length === 1 ? "" : "s"}. Downloads:{" "}
              <a href={downloads.compliance("json", q)} download aria-label="Compliance checks as JSON">
                JSON
              </a>{" "}
              ·{" "}
              <a href={downloads.compliance("csv", q)} download aria-label="Compliance checks as CSV">
                CSV
              </a>
            </p>
          </section>

          <section aria-labelledby="bench-h">
            <h2 id="bench-h">Benchmarks</h2>
            <table data-table="benchmarks">
              <TableHead cols={["Benchmark", "Profile", "Targets", "Failing", "Pass rate"]} hidden="Actions" />
              <tbody>
                {benchmarks.map((b) => (
                  <tr key={`${b.benchmark}|${b.profile}`} data-benchmark={b.benchmark} data-pass-rate={b.passRate === null ? "" : b.passRate.toFixed(3)}>
                    <td>{shortName(b.benchmark)}</td>
                    <td>{shortName(b.profile)}</td>
                    <td>{b.targets}</td>
                    <td>{b.failing}</td>
                    <td>
                      <PassRate c={b} />
                    </td>
                    <td>
                      <button type="button" onClick={() => (setScope("benchmark", b.benchmark), setResult("fail"))} aria-label={`Failing controls of ${shortName(b.benchmark)}`}>
                        Failing controls
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>

          <section aria-labelledby="targets-h">
            <h2 id="targets-h">Targets</h2>
            <table data-table="targets">
              <TableHead cols={["Target", "Benchmark", "Profile", "Scanned", "Pass rate", "Raw results"]} />
              <tbody>
                {summary.targets.map((r) => (
                  <tr key={`${r.scanId}|${r.benchmark}|${r.profile}`} data-target-scan={r.scanId}>
                    <td>
                      {r.nodeId !== undefined && r.nodeId !== "" ? (
                        <button type="button" className="link" onClick={() => setScope("nodeId", r.nodeId)}>
                          {targetName(r.target)}
                        </button>
                      ) : (
                        targetName(r.target)
                      )}
                    </td>
                    <td>{shortName(r.benchmark)}</td>
                    <td>{shortName(r.profile)}</td>
                    <td>
                      <Time iso={r.completedAt} />
                    </td>
                    <td>
                      <PassRate c={r} />
                    </td>
                    <td>
                      <a href={downloads.complianceRaw(r.scanId)} download aria-label={`XCCDF results of scan ${r.scanId}`}>
                        XCCDF
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>

          {trend !== null && trend.length > 0 && (
            <section aria-labelledby="trend-h">
              <h2 id="trend-h">Trend</h2>
              <div className="charts">
                {trend.slice(0, 6).map((s) => (
                  <TrendChart key={`${s.targetKey}|${s.benchmark}|${s.profile}`} series={s} title={`${targetName(s.target)} · ${shortName(s.profile)}`} />
                ))}
              </div>
            </section>
          )}
        </>
      )}

      <section aria-labelledby="controls-h">
        <h2 id="controls-h">Controls</h2>
        {controls === null ? (
          <Skeleton />
        ) : controls.length === 0 ? (
          <p>No control matches.</p>
        ) : (
          <table data-table="controls">
            <TableHead cols={["Control", "Severity", "Pass rate", "Nodes"]} />
            <tbody>
              {controls.map((c) => (
                <tr key={`${c.benchmark}|${c.profile}|${c.rule}`} data-control={shortName(c.rule)} data-fail={c.fail}>
                  <td>
                    <strong>{c.title ?? shortName(c.rule)}</strong>
                    <br />
                    <code>{shortName(c.rule)}</code>
                    {(c.references ?? []).slice(0, 4).map((r) => (
                      <span key={`${r.system}:${r.id}`} className="tag">
                        {r.system} {r.id}
                      </span>
                    ))}
                  </td>
                  <td>
                    <SeverityTag severity={c.severity ?? ""} />
                  </td>
                  <td>
                    <PassRate c={c} />
                  </td>
                  <td>
                    <ul className="refs">
                      {c.targets.map((t) => (
                        <li key={`${t.scanId}|${t.subject ?? ""}`}>
                          <span className={`tag result-${t.result}`}>{t.result}</span> {targetName(t.target)}
                          {t.subject !== undefined && t.subject !== "" && ` (${t.subject})`}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="failures-h">
        <h2 id="failures-h">Failed controls by risk</h2>
        {failures === null ? (
          <Skeleton />
        ) : failures.length === 0 ? (
          <p>No control fails.</p>
        ) : (
          <table data-table="failures">
            <TableHead cols={["Risk", "Control", "Severity", "Target", "Exposure", "Decision"]} />
            <tbody>
              {failures.map((f) => (
                <tr key={f.findingId} data-failure={shortName(f.rule)}>
                  <td>{formatNumber(f.riskScore, 1)}</td>
                  <td>
                    {f.title ?? shortName(f.rule)}
                    <br />
                    <code>{shortName(f.rule)}</code>
                  </td>
                  <td>
                    <SeverityTag severity={f.severity} />
                  </td>
                  <td>
                    <TargetRef ref={targetName(f.target)} />
                  </td>
                  <td>{f.exposure ?? ""}</td>
                  <td>{f.decision !== undefined ? `${f.decision.status === "accepted" ? "accepted" : "not applicable"}: ${f.decision.reason}` : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p>
          Decide on a failed control (accepted, or not applicable with a reason and an expiry) from its finding on the{" "}
          <Link to="/vulnerabilities">findings page</Link> (type compliance).
        </p>
      </section>
    </Page>
  );
}
