// Dashboard: what is on the map (counts by kind), the most exploitable
// findings, one row per vulnerability and the riskiest nodes (GET /findings/groups), sensor and feed
// health. Everything is read from the API; empty states say what to do.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { api, type ApiError, type Diagnosis, type FindingGroup, type NodeFinding, type SensorInfo } from "../api";
import { ErrorAlert, Page, Skeleton, TableHead, Time, toApiError } from "../components";
import { BarChart, StepChart, findingsOverTime, type Point } from "../charts";
import { FindingsTable } from "../findings";
import { formatNumber } from "../format";

const severityOrder = ["critical", "high", "medium", "low", "unknown"] as const;

/** The dashboard shows the top few of each list (its height stays bounded with thousands of sensors or nodes); "see all" links lead on. */
const shownTop = 10;
const shownSensors = 10;

/** "10 of 111" or "all 7": what a bounded list shows. */
function shownOf(shown: number, total: number): string {
  return shown < total ? `${formatNumber(shown)} of ${formatNumber(total)}` : `all ${formatNumber(total)}`;
}

const kinds = ["host", "container", "process", "image", "pod", "internet"] as const;
const kindLabels: Record<(typeof kinds)[number], string> = {
  host: "hosts",
  container: "containers",
  process: "processes",
  image: "images",
  pod: "pods",
  internet: "internet pseudo-nodes",
};

interface Data {
  counts: Record<string, number>;
  top: NodeFinding[];
  /** The most exploitable vulnerabilities, one row each, and the riskiest nodes (GET /findings/groups). */
  byVuln: FindingGroup[];
  byNode: FindingGroup[];
  /** Images with the findings of the containers running them. */
  byImage: FindingGroup[];
  /** How many groups of each there are (the tables show the top ones). */
  groupTotals: { vulnerability: number; node: number; image: number };
  sensors: SensorInfo[];
  diagnosis: Diagnosis | null;
  /** Current findings by severity (decisions honoured). */
  bySeverity: Record<string, number>;
  overTime: Point[];
}

/** The worst exposure of a group, as its top finding's explanation says. */
function exposureOf(g: FindingGroup): string {
  return g.top.risk.factors?.find((f) => f.name === "exposure")?.reason ?? "";
}

export default function DashboardPage() {
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  const load = useCallback(async () => {
    try {
      const [counts, top, byVuln, byNode, byImage, sensors, diagnosis, bySeverity, scans] = await Promise.all([
        Promise.all(kinds.map((k) => api.nodes({ kind: k, limit: 1 }).then((p) => [k, p.total] as const))),
        api.topFindings(shownTop),
        api.findingGroups("vulnerability", 10),
        api.findingGroups("node", 10),
        api.findingGroups("image", 10),
        api.sensors(),
        api.diagnosis().catch(() => null),
        Promise.all(severityOrder.map((sv) => api.findings({ severity: sv, limit: 1 }).then((p) => [sv, p.total ?? 0] as const))),
        api.scans({ status: "complete", limit: 500 }),
      ]);
      setData({
        counts: Object.fromEntries(counts),
        top: top.items ?? [],
        byVuln: byVuln.items ?? [],
        byNode: byNode.items ?? [],
        byImage: byImage.items ?? [],
        groupTotals: { vulnerability: byVuln.total ?? 0, node: byNode.total ?? 0, image: byImage.total ?? 0 },
        sensors: sensors ?? [],
        diagnosis,
        bySeverity: Object.fromEntries(bySeverity),
        overTime: findingsOverTime(scans.items),
      });
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

  const feeds = data?.diagnosis?.feeds;
  const totalFindings = data === null ? 0 : severityOrder.reduce((n, sv) => n + (data.bySeverity[sv] ?? 0), 0);
  // Silent sensors first (what needs attention), then the busiest.
  const sensors = data === null ? [] : [...data.sensors].sort((x, y) => Number(y.silent) - Number(x.silent) || y.nodes - x.nodes).slice(0, shownSensors);
  return (
    <Page title="Dashboard">
      <ErrorAlert error={error} />
      {data === null ? (
        <Skeleton kind="cards" label="Loading the dashboard" />
      ) : (
        <>
          <section aria-labelledby="counts-h">
            <h2 id="counts-h">On the map</h2>
            <ul className="cards">
              {kinds.map((k) => (
                <li key={k} className="card" data-kind={k}>
                  {k === "internet" ? (
                    <>
                      <span className="big">{formatNumber(data.counts[k] ?? 0)}</span> {kindLabels[k]}
                    </>
                  ) : (
                    <Link to={`/topology?view=${k === "process" ? "processes" : `${k}s`}`} aria-label={`${formatNumber(data.counts[k] ?? 0)} ${kindLabels[k]}: show them on the map`}>
                      <span className="big">{formatNumber(data.counts[k] ?? 0)}</span> {kindLabels[k]}
                    </Link>
                  )}
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="charts-h" className="wide">
            <h2 id="charts-h">Findings</h2>
            <div className="charts">
              <BarChart
                title="Current findings by severity"
                bars={severityOrder.map((sv) => ({ label: sv, value: data.bySeverity[sv] ?? 0, className: `bar sev-${sv}`, href: `/vulnerabilities?severity=${sv}` }))}
              />
              <StepChart title="Findings after each scan" points={data.overTime} />
            </div>
          </section>
          <section aria-labelledby="top-h" className="wide">
            <h2 id="top-h">Most exploitable vulnerabilities</h2>
            {data.top.length === 0 ? (
              <p>
                No findings yet. <Link to="/scans">Scan a node</Link> once the knowledge base has feeds (
                {feeds?.loaded && feeds.vulnerabilities > 0 ? (
                  `${formatNumber(feeds.vulnerabilities)} vulnerabilities loaded`
                ) : (
                  <>
                    none loaded: <Link to="/settings/system">update or upload them</Link>, or on the console&apos;s machine run{" "}
                    <code>riskmap feeds import --db {feeds?.dir ?? "DATA_DIR/feeds"} FOLDER</code>
                  </>
                )}
                ).
              </p>
            ) : (
              <>
                <p className="hint" data-shown="vulnerabilities">
                  Showing {shownOf(data.byVuln.length, data.groupTotals.vulnerability)} vulnerabilities.{" "}
                  <Link to="/vulnerabilities?view=vulnerability">See all vulnerabilities</Link>
                </p>
                <table className="data groups" data-group="vulnerability">
                  <caption className="sr-only">Most exploitable vulnerabilities, one row each</caption>
                  <TableHead cols={["Vulnerability", "Worst risk", "Findings", "Nodes", "Worst exposure"]} />
                  <tbody>
                    {data.byVuln.map((g) => (
                      <tr key={g.key} data-vuln={g.key}>
                        <th scope="row">
                          <Link to={`/vulnerabilities/${encodeURIComponent(g.key)}`}>{g.key}</Link>
                          {g.kev && <span className="tag warn"> KEV</span>}
                        </th>
                        <td>{formatNumber(g.maxScore, 1)}</td>
                        <td>{formatNumber(g.findings)}</td>
                        <td>{formatNumber(g.nodes)}</td>
                        <td>{exposureOf(g)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <h3>Most exploitable findings</h3>
                <p className="hint" data-shown="findings">
                  Showing {shownOf(data.top.length, Math.max(totalFindings, data.top.length))} findings.{" "}
                  <Link to="/vulnerabilities">See all {formatNumber(totalFindings)} findings</Link>
                </p>
                <FindingsTable items={data.top} caption="Most exploitable findings" />
              </>
            )}
          </section>
          <section aria-labelledby="nodes-h">
            <h2 id="nodes-h">Riskiest nodes</h2>
            {data.byNode.length === 0 ? (
              <p>No scanned node has findings yet.</p>
            ) : (
              <>
              <p className="hint" data-shown="nodes">
                Showing {shownOf(data.byNode.length, data.groupTotals.node)} nodes with findings. <Link to="/vulnerabilities?view=node">See all nodes</Link>
              </p>
              <table className="data groups" data-group="node">
                <caption className="sr-only">Riskiest nodes</caption>
                <TableHead cols={["Node", "Kind", "Findings", "Vulnerabilities", "Worst risk"]} />
                <tbody>
                  {data.byNode.map((g) => (
                    <tr key={g.key} data-node={g.label}>
                      <th scope="row">
                        <Link to={`/topology?node=${encodeURIComponent(g.key)}`} aria-label={`${g.label}: show it on the map`}>
                          {g.label}
                        </Link>
                      </th>
                      <td>{g.top.target.kind}</td>
                      <td>
                        <Link to={`/vulnerabilities?nodeId=${encodeURIComponent(g.key)}`} aria-label={`${g.findings} findings of ${g.label}`}>
                          {formatNumber(g.findings)}
                        </Link>
                      </td>
                      <td>{g.vulnerabilities}</td>
                      <td>{formatNumber(g.maxScore, 1)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </>
            )}
          </section>
          <section aria-labelledby="images-h">
            <h2 id="images-h">Riskiest images</h2>
            {data.byImage.length === 0 ? (
              <p>No scanned image has findings yet.</p>
            ) : (
              <>
              <p className="hint" data-shown="images">
                Showing {shownOf(data.byImage.length, data.groupTotals.image)} images with findings. <Link to="/vulnerabilities?view=image">See all images</Link>
              </p>
              <table className="data groups" data-group="image">
                <caption className="sr-only">Riskiest images, with the containers running them</caption>
                <TableHead cols={["Image", "Nodes", "Findings", "Vulnerabilities", "Worst risk", "Worst exposure"]} />
                <tbody>
                  {data.byImage.map((g) => (
                    <tr key={g.key} data-image={g.label}>
                      <th scope="row">
                        <Link to={`/vulnerabilities?image=${encodeURIComponent(g.key)}`} aria-label={`${g.label}: its findings and its containers'`}>
                          {g.label}
                        </Link>
                      </th>
                      <td>{formatNumber(g.nodes)}</td>
                      <td>{formatNumber(g.findings)}</td>
                      <td>{g.vulnerabilities}</td>
                      <td>{formatNumber(g.maxScore, 1)}</td>
                      <td>{exposureOf(g)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </>
            )}
          </section>
          <section aria-labelledby="sensors-h">
            <h2 id="sensors-h">Sensors</h2>
            {data.sensors.length === 0 ? (
              <p>No sensor has reported yet.</p>
            ) : (
              <>
              <p className="hint" data-shown="sensors">
                Showing {shownOf(sensors.length, data.sensors.length)} sensors ({data.sensors.filter((x) => x.silent).length} silent, listed first).{" "}
                <Link to="/settings/sensors">See all sensors</Link>
              </p>
              <table className="data">
                <caption className="sr-only">Sensor health</caption>
                <TableHead cols={["Sensor", "Host", "Health", "Nodes", "Last report"]} />
                <tbody>
                  {sensors.map((s) => (
                    <tr key={s.id} data-sensor={s.hostname}>
                      <th scope="row">{s.id}</th>
                      <td>{s.hostname}</td>
                      <td>
                        {s.silent ? <span className="tag warn">silent</span> : <span className="tag ok">reporting</span>}
                        {s.probeErrors !== undefined && s.probeErrors !== "" && <span className="muted"> {s.probeErrors}</span>}
                      </td>
                      <td>{formatNumber(s.nodes)}</td>
                      <td>
                        <Time iso={s.lastReport} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              </>
            )}
          </section>
          <section aria-labelledby="feeds-h">
            <h2 id="feeds-h">Knowledge base</h2>
            {feeds === undefined ? (
              <p>Feed status is not available.</p>
            ) : (
              <dl className="facts">
                <dt>Vulnerabilities</dt>
                <dd>{feeds.loaded ? feeds.vulnerabilities : "none loaded"}</dd>
                <dt>Built</dt>
                <dd>
                  <Time iso={feeds.builtAt} />
                </dd>
                {feeds.lastError !== undefined && feeds.lastError !== "" && (
                  <>
                    <dt>Last error</dt>
                    <dd>{feeds.lastError}</dd>
                  </>
                )}
              </dl>
            )}
          </section>
        </>
      )}
    </Page>
  );
}
