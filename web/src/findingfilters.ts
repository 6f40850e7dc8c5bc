// The Vulnerabilities page's filters and sort as they live in its URL
// (?severity=high&kev=yes&q=openssl&sort=package&order=asc): parsed into the
// findings query the API takes, so a link or a reload reproduces the list.
import { scanTypes, type FindingQuery } from "./api";

export const severities = ["any", "critical", "high", "medium", "low", "unknown"] as const;
export const types = ["any", ...scanTypes] as const;
export const tri = ["any", "yes", "no"] as const;

/** The filter keys the page keeps in its URL (beside the scope: scanId, nodeId, vulnId, image, namespace, cluster). */
export const filterKeys = ["type", "severity", "kev", "fix", "decided", "q"] as const;
/** The scope keys: a scan's, a node's, a vulnerability's, an image's, a namespace's or a cluster's findings. */
export const scopeKeys = ["scanId", "nodeId", "vulnId", "image", "namespace", "cluster"] as const;
/** The page's views: the findings, or their groups by vulnerability, node or image. */
export const viewKinds = ["findings", "vulnerability", "node", "image"] as const;
export type ViewKind = (typeof viewKinds)[number];

export function triValue(v: (typeof tri)[number]): string | undefined {
  return v === "any" ? undefined : v === "yes" ? "true" : "false";
}

/** one of the options, or the default when the URL holds something else. */
export function pick<T extends string>(options: readonly T[], v: string | null, def: T): T {
  return v !== null && (options as readonly string[]).includes(v) ? (v as T) : def;
}

/** The findings query of the filters and sort in the URL; anything unknown there is ignored. */
export function findingQueryOf(params: URLSearchParams): FindingQuery {
  const q: FindingQuery = {};
  const sev = pick(severities, params.get("severity"), "any");
  if (sev !== "any") q.severity = sev;
  const t = pick(types, params.get("type"), "any");
  if (t !== "any") q.type = t;
  const k = triValue(pick(tri, params.get("kev"), "any"));
  if (k !== undefined) q.kev = k;
  const f = triValue(pick(tri, params.get("fix"), "any"));
  if (f !== undefined) q.fixAvailable = f;
  if (params.get("decided") === "yes") q.includeSuppressed = "true";
  const sortBy = params.get("sort");
  if (sortBy !== null && sortBy !== "" && sortBy !== "risk") q.sort = sortBy;
  if (params.get("order") === "asc") q.order = "asc";
  const s = (params.get("q") ?? "").trim();
  // The search reaches ids and aliases, packages, targets, node names, images, namespaces and clusters.
  if (s !== "") q.q = s;
  return q;
}

/**
 * The URL after a click on a column header: a click on the sorted column
 * reverses it; on another sorts by it (risk and severity highest first,
 * names A to Z). Risk, highest first, is the default and leaves the URL.
 */
export function sortedBy(params: URLSearchParams, by: string): URLSearchParams {
  const sortBy = params.get("sort") ?? "risk";
  const order: "asc" | "desc" = params.get("order") === "asc" ? "asc" : "desc";
  const next = new URLSearchParams(params);
  const nextOrder = by === sortBy ? (order === "asc" ? "desc" : "asc") : by === "package" || by === "vuln" ? "asc" : "desc";
  if (by === "risk" && nextOrder === "desc") {
    next.delete("sort");
    next.delete("order");
  } else {
    next.set("sort", by);
    next.set("order", nextOrder);
  }
  return next;
}
