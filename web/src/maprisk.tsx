// Risk on the map: the colour of a node's worst finding, its counts in
// words, the legend (colours and the shape of each kind), and the keyboard
// list of the map's nodes (a listbox: Tab to it, arrows to a node, Enter
// opens its panel; the riskiest first). Both map renderers (cytoscape and
// the canvas BigMap) take their colours and shapes from here.
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import type { GraphNode, NodeRisk } from "./api";
import { formatNumber, shortName } from "./format";

/** Severities, worst first, and "none" (no current findings). */
export const riskLevels = ["critical", "high", "medium", "low", "unknown", "none"] as const;
export type RiskLevel = (typeof riskLevels)[number];

/** The fill of a node by its worst finding (contrast ≥ 3:1 on the map's white). */
export const riskColour: Record<RiskLevel, string> = {
  critical: "#b91c1c",
  high: "#c2410c",
  medium: "#a16207",
  low: "#1d4ed8",
  unknown: "#6b7280",
  none: "#94a3b8",
};

const rank: Record<string, number> = { critical: 5, high: 4, medium: 3, low: 2, unknown: 1 };

export function riskLevel(r: NodeRisk | undefined): RiskLevel {
  const w = r?.worst ?? "";
  return w in rank ? (w as RiskLevel) : "none";
}

/** How bad a node is, for sorting: worst severity, then the highest score. */
export function riskRank(r: NodeRisk | undefined): number {
  return (rank[r?.worst ?? ""] ?? 0) * 1000 + (r?.maxScore ?? 0);
}

export function riskTotal(r: NodeRisk | undefined): number {
  if (r === undefined) return 0;
  return (r.critical ?? 0) + (r.high ?? 0) + (r.medium ?? 0) + (r.low ?? 0) + (r.unknown ?? 0) + (r.secrets ?? 0) + (r.malware ?? 0) + (r.compliance ?? 0);
}

const parts: [keyof NodeRisk, string, string][] = [
  ["critical", "critical", "critical"],
  ["high", "high", "high"],
  ["medium", "medium", "medium"],
  ["low", "low", "low"],
  ["unknown", "unknown", "unknown"],
  ["secrets", "secret", "secrets"],
  ["malware", "malware", "malware"],
  ["compliance", "failed control", "failed controls"],
];

/** The counts in words: "1 critical, 2 high, 1 secret, 3 failed controls" ("no findings"). */
export function riskWords(r: NodeRisk | undefined): string {
  const out: string[] = [];
  for (const [k, one, many] of parts) {
    const n = (r?.[k] as number | undefined) ?? 0;
    if (n > 0) out.push(`${formatNumber(n)} ${n === 1 ? one : many}`);
  }
  return out.length === 0 ? "no findings" : out.join(", ");
}

/** The counts as a map badge: "1C 2H 1S" (C, H, M, L critical to low; S secrets, X malware, F failed controls). */
export function riskBadge(r: NodeRisk | undefined): string {
  if (r === undefined) return "";
  const b: string[] = [];
  const add = (n: number | undefined, k: string) => {
    if ((n ?? 0) > 0) b.push(`${n}${k}`);
  };
  add(r.critical, "C");
  add(r.high, "H");
  add(r.medium, "M");
  add(r.low, "L");
  add(r.secrets, "S");
  add(r.malware, "X");
  add(r.compliance, "F");
  return b.join(" ");
}

/** A node's name on the map: a long runtime id shortened, the group's size. */
export function mapName(n: GraphNode): string {
  const name = shortName(n.label);
  return n.count > 1 ? `${name} (${formatNumber(n.count)})` : name;
}

/** The shape each kind is drawn with (cytoscape shape names; BigMap draws the same). */
export const kindShape: Record<string, string> = {
  host: "ellipse",
  container: "round-rectangle",
  process: "ellipse",
  pod: "hexagon",
  image: "barrel",
  group: "round-rectangle",
  internet: "diamond",
  private: "diamond",
};

function KindIcon({ kind }: { kind: string }) {
  const s = kindShape[kind] ?? "ellipse";
  const common = { fill: "#fff", stroke: "#334155", strokeWidth: 2 };
  let shape;
  if (s === "round-rectangle") shape = <rect x={3} y={3} width={14} height={14} rx={kind === "group" ? 5 : 3} {...common} />;
  else if (s === "hexagon") shape = <polygon points="10,2 17,6 17,14 10,18 3,14 3,6" {...common} />;
  else if (s === "diamond") shape = <polygon points="10,2 18,10 10,18 2,10" {...common} stroke={kind === "internet" ? "#b91c1c" : "#64748b"} />;
  else if (s === "barrel") shape = <rect x={3} y={4} width={14} height={12} rx={6} {...common} />;
  else shape = <circle cx={10} cy={10} r={kind === "process" ? 5 : 7} {...common} />;
  return (
    <svg width={20} height={20} viewBox="0 0 20 20" aria-hidden="true" focusable="false">
      {shape}
    </svg>
  );
}

/** The legend: what the colours and shapes mean. */
export function MapLegend({ kinds }: { kinds: string[] }) {
  return (
    <div className="map-legend" role="group" aria-label="Map legend">
      <ul aria-label="Colour: the worst current finding">
        {riskLevels.map((l) => (
          <li key={l} data-legend={l}>
            <svg width={14} height={14} viewBox="0 0 14 14" aria-hidden="true" focusable="false">
              <circle cx={7} cy={7} r={6} fill={riskColour[l]} />
            </svg>
            {l === "none" ? "no findings" : l}
          </li>
        ))}
      </ul>
      <ul aria-label="Shape: the kind of node">
        {kinds.map((k) => (
          <li key={k}>
            <KindIcon kind={k} />
            {k}
          </li>
        ))}
      </ul>
      <p className="muted">Badges: C H M L critical to low vulnerabilities, S secrets, X malware, F failed compliance controls.</p>
    </div>
  );
}

/** A kind in the plural: "processes", "hosts". */
function plural(kind: string): string {
  return kind.endsWith("s") ? `${kind}es` : `${kind}s`;
}

/** How many options the listbox renders around the active one (1,000 hosts stay cheap). */
const optionWindow = 40;

/**
 * The map's nodes for the keyboard and screen readers: a listbox, the
 * riskiest first. Arrows, Home, End and PageUp/PageDown move the active
 * node (ringed on the map: onFocusNode); Enter or a click opens its panel.
 */
export function NodeList({
  nodes,
  selected,
  onSelect,
  onFocusNode,
}: {
  nodes: GraphNode[];
  selected: string | null;
  onSelect: (id: string) => void;
  onFocusNode: (id: string | null) => void;
}) {
  const sorted = useMemo(
    () => [...nodes].sort((a, b) => riskRank(b.risk) - riskRank(a.risk) || a.label.localeCompare(b.label) || a.id.localeCompare(b.id)),
    [nodes],
  );
  const [active, setActive] = useState(0);
  const box = useRef<HTMLUListElement>(null);
  useEffect(() => {
    const i = selected === null ? -1 : sorted.findIndex((n) => n.id === selected);
    if (i >= 0) setActive(i);
  }, [selected, sorted]);
  const at = Math.min(active, Math.max(0, sorted.length - 1));
  const start = Math.max(0, Math.min(at - optionWindow / 2, sorted.length - optionWindow));
  const shown = sorted.slice(start, start + optionWindow);
  const current = sorted[at];
  const move = (i: number) => {
    const j = Math.max(0, Math.min(sorted.length - 1, i));
    setActive(j);
    onFocusNode(sorted[j]?.id ?? null);
  };
  const key = (e: KeyboardEvent) => {
    const step: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (e.key in step) move(at + (step[e.key] ?? 0));
    else if (e.key === "Home") move(0);
    else if (e.key === "End") move(sorted.length - 1);
    else if (e.key === "Enter" || e.key === " ") {
      if (current !== undefined) onSelect(current.id);
    } else return;
    e.preventDefault();
  };
  useEffect(() => {
    box.current?.querySelector(`[aria-posinset="${at + 1}"]`)?.scrollIntoView({ block: "nearest" });
  }, [at]);
  return (
    <ul
      ref={box}
      className="node-list"
      role="listbox"
      tabIndex={0}
      aria-label="Nodes on the map, riskiest first"
      aria-activedescendant={current === undefined ? undefined : `node-opt-${at}`}
      onKeyDown={key}
      onFocus={() => onFocusNode(current?.id ?? null)}
      onBlur={() => onFocusNode(null)}
    >
      {shown.map((n, k) => {
        const i = start + k;
        const level = riskLevel(n.risk);
        return (
          <li
            key={n.id}
            id={`node-opt-${i}`}
            role="option"
            aria-selected={n.id === selected}
            aria-posinset={i + 1}
            aria-setsize={sorted.length}
            className={i === at ? "active" : undefined}
            data-node-id={n.id}
            data-worst={level}
            data-badge={riskBadge(n.risk)}
            title={n.id}
            onClick={() => {
              setActive(i);
              onSelect(n.id);
            }}
          >
            <svg width={12} height={12} viewBox="0 0 12 12" aria-hidden="true" focusable="false">
              <circle cx={6} cy={6} r={5} fill={riskColour[level]} />
            </svg>
            <span className="node-name">{mapName(n)}</span> <span className="muted">{n.kind === "group" ? `group of ${plural(n.attrs?.memberKind ?? "node")}` : n.kind}</span>{" "}
            <span className="node-risk">{riskWords(n.risk)}</span>
          </li>
        );
      })}
    </ul>
  );
}
