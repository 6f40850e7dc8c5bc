// Two small hand-drawn SVG charts for the dashboard (no chart library: the
// shell stays lean). Each is a <figure> whose SVG is labelled with its
// numbers, followed by the same numbers as a visually hidden table for
// screen readers.
import { Link } from "react-router";
import { formatDateTime } from "./format";

export interface Bar {
  label: string;
  value: number;
  className: string;
  /** Where the bar leads (the list it counts). */
  href?: string;
}

/** Horizontal bars: the severity distribution of current findings. */
export function BarChart({ title, bars }: { title: string; bars: Bar[] }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const row = 26;
  const labelW = 80;
  const width = 420;
  const h = bars.length * row + 4;
  const summary = bars.map((b) => `${b.label} ${b.value}`).join(", ");
  return (
    <figure className="chart" data-chart="severity">
      <figcaption>{title}</figcaption>
      {/* With links the chart is a group of them (an image may hold no control). */}
      <svg
        viewBox={`0 0 ${width} ${h}`}
        role={bars.some((b) => b.href !== undefined) ? "group" : "img"}
        aria-label={`${title}: ${summary}`}
        preserveAspectRatio="xMinYMin meet"
      >
        {bars.map((b, i) => {
          const w = ((width - labelW - 60) * b.value) / max;
          const y = i * row + 4;
          return (
            <g key={b.label}>
              <text x={labelW - 8} y={y + 14} textAnchor="end" className="chart-label">
                {b.label}
              </text>
              {b.href !== undefined ? (
                <Link to={b.href} aria-label={`${b.value} ${b.label}: show them`} data-bar={b.label}>
                  <rect x={labelW} y={y} width={Math.max(w, b.value > 0 ? 2 : 0)} height={row - 8} rx={3} className={b.className} />
                </Link>
              ) : (
                <rect x={labelW} y={y} width={Math.max(w, b.value > 0 ? 2 : 0)} height={row - 8} rx={3} className={b.className} />
              )}
              <text x={labelW + w + 6} y={y + 14} className="chart-value">
                {b.value}
              </text>
            </g>
          );
        })}
      </svg>
      <table className="sr-only">
        <caption>{title}</caption>
        <tbody>
          {bars.map((b) => (
            <tr key={b.label}>
              <th scope="row">{b.href !== undefined ? <Link to={b.href}>{b.label}</Link> : b.label}</th>
              <td>{b.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export interface Point {
  t: number; // Unix milliseconds
  value: number;
}

/** A step line: how many findings the estate had after each scan. */
export function StepChart({ title, points }: { title: string; points: Point[] }) {
  const width = 420;
  const height = 160;
  const pad = { l: 40, r: 10, t: 10, b: 24 };
  if (points.length === 0) {
    return (
      <figure className="chart" data-chart="over-time">
        <figcaption>{title}</figcaption>
        <p>No complete scans yet.</p>
      </figure>
    );
  }
  const t0 = points[0]?.t ?? 0;
  const t1 = Math.max(points[points.length - 1]?.t ?? 0, t0 + 1);
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (t: number) => pad.l + ((width - pad.l - pad.r) * (t - t0)) / (t1 - t0);
  const y = (v: number) => height - pad.b - ((height - pad.t - pad.b) * v) / max;
  let d = "";
  points.forEach((p, i) => {
    d += i === 0 ? `M${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(p.value).toFixed(1)}`;
  });
  const fmt = (t: number) => formatDateTime(t);
  const last = points[points.length - 1];
  return (
    <figure className="chart" data-chart="over-time">
      <figcaption>{title}</figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${title}: from ${points[0]?.value ?? 0} on ${fmt(t0)} to ${last?.value ?? 0} on ${fmt(t1)}, at most ${max}`}
      >
        <line x1={pad.l} y1={height - pad.b} x2={width - pad.r} y2={height - pad.b} className="chart-axis" />
        <line x1={pad.l} y1={pad.t} x2={pad.l} y2={height - pad.b} className="chart-axis" />
        <text x={pad.l - 6} y={y(max) + 4} textAnchor="end" className="chart-label">
          {max}
        </text>
        <text x={pad.l - 6} y={height - pad.b} textAnchor="end" className="chart-label">
          0
        </text>
        <text x={pad.l} y={height - 6} className="chart-label">
          {fmt(t0)}
        </text>
        <text x={width - pad.r} y={height - 6} textAnchor="end" className="chart-label">
          {fmt(t1)}
        </text>
        <path d={d} className="chart-line" />
        {points.map((p) => (
          <circle key={p.t} cx={x(p.t)} cy={y(p.value)} r={2.5} className="chart-dot" />
        ))}
      </svg>
      <table className="sr-only">
        <caption>{title}</caption>
        <tbody>
          {points.map((p) => (
            <tr key={p.t}>
              <th scope="row">{fmt(p.t)}</th>
              <td>{p.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** The estate's findings after each complete scan: the latest scan of each target counts. */
export function findingsOverTime(scans: { target: { kind: string; ref: string; sensorId?: string }; sensorId: string; findings: number; finishedAt?: string | null }[]): Point[] {
  const done = scans
    .filter((s) => s.finishedAt !== undefined && s.finishedAt !== null)
    .map((s) => ({ key: `${s.sensorId}|${s.target.kind}|${s.target.ref}`, t: Date.parse(s.finishedAt ?? ""), n: s.findings }))
    .filter((s) => Number.isFinite(s.t))
    .sort((a, b) => a.t - b.t);
  const latest = new Map<string, number>();
  const out: Point[] = [];
  let total = 0;
  for (const s of done) {
    total += s.n - (latest.get(s.key) ?? 0);
    latest.set(s.key, s.n);
    if (out.length > 0 && out[out.length - 1]?.t === s.t) out[out.length - 1] = { t: s.t, value: total };
    else out.push({ t: s.t, value: total });
  }
  return out;
}
