// Drilling into the map's groups (topology.tsx): which group a click on an
// aggregate opens, and how the nodes inside it are grouped. The URL holds
// the group drilled into as in=BY:ID: host, namespace, image or cluster by
// node id, cloud by provider ("cloud:aws"), region by provider/region
// ("region:aws/eu-west-1"); the console's graph filters by each (host=,
// namespace=, image=, cluster=, cloud=, region=).
import type { GraphNode } from "./api";

export const groupings = ["auto", "host", "namespace", "image", "cluster", "cloud", "region"] as const;
export type Grouping = (typeof groupings)[number];
export function isGrouping(v: string | null): v is Grouping {
  return v !== null && (groupings as readonly string[]).includes(v);
}

/** A group drilled into: what it groups by, the graph filter's value, its name. */
export interface Members {
  by: "host" | "namespace" | "image" | "cluster" | "cloud" | "region";
  id: string;
  label: string;
}
const drillable = new Set<string>(["host", "namespace", "image", "cluster", "cloud", "region"]);

/** The group a node of an aggregated graph stands for, to drill into; null for "other", "no …" groups and plain nodes. */
export function drillTarget(n: GraphNode): Members | null {
  const by = n.attrs?.groupBy ?? "";
  const key = n.group ?? "";
  if (!drillable.has(by) || key === "" || key.startsWith("none:") || n.id === "group-other") return null;
  let id = key;
  if (by === "cloud" || by === "region") {
    const prefix = `${by}:`;
    if (!key.startsWith(prefix)) return null;
    id = key.slice(prefix.length);
  }
  return { by: by as Members["by"], id, label: n.label };
}

/** Reads in=BY:ID (and inLabel) from the URL. */
export function parseMembers(inParam: string, label: string | null): Members | null {
  const at = inParam.indexOf(":");
  if (at <= 0) return null;
  const by = inParam.slice(0, at);
  if (!drillable.has(by)) return null;
  const id = inParam.slice(at + 1);
  return { by: by as Members["by"], id, label: label ?? id };
}

/** Writes a group drilled into as the URL's in parameter. */
export function membersParam(m: Members): string {
  return `${m.by}:${m.id}`;
}

/**
 * The grouping inside a group drilled into: the next level down when the
 * map groups by what was drilled into (a cloud's regions; a region's nodes
 * as the view groups them by default), else the grouping picked.
 */
export function innerGrouping(grouping: Grouping, m: Members | null): Grouping {
  if (m === null) return grouping;
  if (m.by === "cloud" && grouping === "cloud") return "region";
  if (m.by === "region" && (grouping === "cloud" || grouping === "region")) return "auto";
  return grouping;
}
