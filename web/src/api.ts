// The console API client (see API-CONTRACT.md). Requests carry the session
// cookie; state-changing requests echo the riskmap_csrf cookie in
// X-CSRF-Token. Errors are RFC 9457 problem documents, surfaced as ApiError.

export type Role = "admin" | "standard" | "read-only";
export const roles: readonly Role[] = ["admin", "standard", "read-only"];

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  lastLoginAt?: string | null;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  token?: string;
  url?: string;
  expiresAt: string;
  createdAt?: string;
  acceptedAt?: string | null;
  invitedBy?: string;
}

export interface InvitationInfo {
  email: string;
  role: Role;
  expiresAt: string;
}

export interface ResetLink {
  token: string;
  url: string;
  expiresAt: string;
}

export interface AuditEntry {
  id: string | number;
  time: string;
  actor: string;
  action: string;
  target: string;
  clientAddr: string;
  detail: unknown;
  /** How the actor authenticated: session, api_key, access_token, sensor; job or system for the console's own changes. */
  via?: string;
  /** The target's state before and after the change (absent when the action has none). */
  before?: unknown;
  after?: unknown;
}

/** The audit log's filters (GET /api/v1/audit and its export), as in the URL query. */
export interface AuditQuery {
  /** Action prefix: "scan." selects every scan action. */
  action?: string;
  actor?: string;
  /** Part of the target. */
  target?: string;
  /** RFC 3339 time or a date (its midnight UTC); since is inclusive, until exclusive. */
  since?: string;
  until?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

// Topology (internal/topology/api.go).
export type GraphView = "hosts" | "containers" | "images" | "processes" | "pods";
export interface GraphNode {
  id: string;
  kind: string;
  label: string;
  parent?: string;
  group?: string;
  attrs?: Record<string, string>;
  count: number;
  /** The current findings of what the node stands for (absent: none). */
  risk?: NodeRisk;
}
/** Counts of current findings: vulnerabilities by severity, secrets, malware, failed compliance controls; the worst severity. */
export interface NodeRisk {
  critical?: number;
  high?: number;
  medium?: number;
  low?: number;
  unknown?: number;
  secrets?: number;
  malware?: number;
  compliance?: number;
  worst?: string;
  maxScore?: number;
}
export interface GraphEdge {
  source: string;
  target: string;
  kind: string;
  count: number;
}
export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  aggregated: boolean;
  total: number;
}
export interface NodeRef {
  id: string;
  kind: string;
  label: string;
}
export interface NodeSummary {
  id: string;
  kind: string;
  label: string;
  parent?: string;
  host?: string;
  sensorId?: string;
  firstSeen: string;
  lastSeen: string;
  gone: boolean;
  attrs?: Record<string, string>;
}
export interface NodeDetail extends NodeSummary {
  meta: Record<string, string> | null;
  pid?: number;
  exe?: string;
  cpuPercent?: number;
  rssBytes?: number;
  ips?: string[];
  listening?: { addr?: string; port?: number; proto?: string }[] | null;
  ancestors: NodeRef[] | null;
  children: NodeRef[] | null;
  childCount: number;
  connections: unknown[] | null;
  related: NodeRef[] | null;
}
export interface SensorInfo {
  id: string;
  hostname: string;
  version: string;
  intervalSeconds: number;
  reports: number;
  probeErrors?: string;
  firstSeen: string;
  lastReport: string;
  silent: boolean;
  nodes: number;
}

// Sensor identity (internal/console/sensors.go): enrolled sensors and the
// enrolment tokens they enrol with.
export interface EnrolledSensor {
  id: string;
  hostname: string;
  machineId?: string;
  version?: string;
  keyPrefix: string;
  keyGeneration: number;
  enrolmentTokenId?: string;
  enrolledAt: string;
  enrolledFrom?: string;
  rotatedAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  lastSeen?: string;
  lastAddress?: string;
}
export interface EnrolmentToken {
  id: string;
  name: string;
  prefix: string;
  maxSensors: number;
  uses: number;
  expiresAt: string;
  revokedAt?: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt?: string;
}
export interface CreatedEnrolmentToken extends EnrolmentToken {
  token: string;
}

// Scans and findings (internal/scans/api.go, docs/risk.md).
export type ScanStatus = "queued" | "running" | "complete" | "error" | "cancelled";
export interface ScanTarget {
  nodeId?: string;
  sensorId: string;
  kind: string;
  ref: string;
}
/** Scan types (internal/sensorproto ScanTypes): a scan, and its findings, have one. */
export const scanTypes = ["vulnerability", "secret", "malware", "compliance"] as const;
export type ScanType = (typeof scanTypes)[number];
/** GET /scan-types: how many live sensors run each type. */
export interface TypeSensors {
  type: ScanType;
  sensors: number;
}
export interface Scan {
  id: string;
  type: ScanType;
  nodeId?: string;
  sensorId: string;
  target: ScanTarget;
  status: ScanStatus;
  message: string;
  progress: number;
  attempts: number;
  requestedBy?: string;
  cancelRequested: boolean;
  findings: number;
  hasInventory: boolean;
  createdAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  /** What the scan could not judge: ecosystems the knowledge base held no records for (internal/match Uncovered). */
  uncovered?: Uncovered[];
  /** The benchmark profile of a compliance scan ("" or absent: the engine's default). */
  profile?: string;
}
/** An ecosystem of an inventory ("Debian:12", "PyPI") the knowledge base holds no records for, with its packages not judged. */
export interface Uncovered {
  ecosystem: string;
  packages: number;
}
export interface RiskFactor {
  name: string;
  value: number;
  reason: string;
}
export interface Hop {
  nodeId?: string;
  kind: string;
  name: string;
}
export interface Finding {
  id: string;
  aliases?: string[];
  package: { name: string; version: string; ecosystem: string; purl?: string };
  fixedVersions?: string[];
  severity: string;
  cvss?: { baseScore: number; vector: string; version: string };
  kev?: { cve: string; dateAdded: string; knownRansomwareUse: boolean };
  epss?: { score: number; percentile: number };
  summary?: string;
  risk: { score: number; explanation: string };
}
export type DecisionStatus = "accepted" | "not_affected";
export interface Decision {
  id: string;
  vulnId: string;
  package?: string;
  nodeId?: string;
  status: DecisionStatus | string;
  justification?: string;
  reason: string;
  expiresAt?: string | null;
  createdBy?: string;
  createdAt?: string;
}
export interface DecisionInput {
  /** The type of findings it covers (default vulnerability). */
  type?: ScanType;
  vulnId: string;
  package?: string;
  nodeId?: string;
  status: DecisionStatus;
  justification?: string;
  reason: string;
  expiresAt?: string;
}
/** OpenVEX justifications a not_affected decision needs (internal/scans Justifications). */
export const justifications = [
  "component_not_present",
  "vulnerable_code_not_present",
  "vulnerable_code_not_in_execute_path",
  "vulnerable_code_cannot_be_controlled_by_adversary",
  "inline_mitigations_already_exist",
] as const;
export interface ScanDiff {
  from: string;
  to: string;
  new: string[] | null;
  fixed: string[] | null;
  unchanged: number;
}
export interface NodeFilter {
  kind: "host" | "container" | "image";
  sensorId?: string;
  nameContains?: string;
  seenWithinSeconds?: number;
}
export interface Schedule {
  id: string;
  name: string;
  types?: ScanType[];
  profile?: string;
  cron: string;
  filter: NodeFilter;
  enabled: boolean;
  nextRun: string;
  lastRun?: string | null;
  createdBy: string;
  createdAt: string;
}
export interface ScanSettings {
  autoScanHosts: boolean;
  autoScanImages: boolean;
}
/** One stored feed file (internal/feeds SourceStatus). */
export interface FeedSource {
  source: string;
  path: string;
  records: number;
  updatedAt?: string;
  /** Seconds since the last successful update (0: never). */
  ageSeconds: number;
  checkedAt?: string;
  lastError?: string;
}
/** What the last update or import of the console did. */
export interface FeedRun {
  op: "update" | "import";
  at: string;
  updated: string[];
  unchanged: number;
  failed: { source: string; path: string; error: string }[];
  rebuilt: boolean;
}
export interface FeedStatus {
  loaded: boolean;
  path?: string;
  /** The feeds' data directory on the console's machine (`riskmap feeds import --db DIR`). */
  dir?: string;
  lastRun?: FeedRun;
  nextUpdate?: string | null;
  builtAt?: string | null;
  loadedAt?: string | null;
  vulnerabilities: number;
  sizeBytes?: number;
  lastUpdate?: string | null;
  lastError?: string;
  sources?: FeedSource[] | null;
}
export interface ConsoleInfo {
  url: string;
  fingerprint: string;
  version: string;
}
/** GET /findings/groups: current findings of one vulnerability, one node, or one image with its containers. */
export interface FindingGroup {
  key: string;
  label: string;
  findings: number;
  nodes: number;
  vulnerabilities: number;
  maxScore: number;
  kev: boolean;
  /** The group's highest-risk finding (its exposure is the group's worst). */
  top: NodeFinding;
}

/** A secret a sensor's engine found (internal/sensorproto SecretFinding): never the secret, only a redacted excerpt. */
export interface SecretFinding {
  rule: string;
  description?: string;
  severity?: string;
  file: string;
  line?: number;
  layer?: string;
  entropy?: number;
  fingerprint: string;
  excerpt?: string;
}
/** A file a malware rule matched (internal/sensorproto MalwareFinding). */
export interface MalwareFinding {
  rule: string;
  description?: string;
  tags?: string[] | null;
  severity?: string;
  file: string;
  layer?: string;
  sha256: string;
}
export interface NodeFinding {
  id: string;
  /** The finding's type; for types other than vulnerability, finding holds the common core (id: the rule, package.name: the file). */
  type: ScanType;
  scanId: string;
  nodeId?: string;
  target: ScanTarget;
  /** What it is in: name@version of a package, file:line of a secret. */
  subject: string;
  finding: Finding;
  secret?: SecretFinding;
  malware?: MalwareFinding;
  /** path: the attack path; paths: the shortest from each entry point when several reach the process (path is the first). */
  risk: { score: number; factors: RiskFactor[] | null; inUse?: boolean; listening?: boolean; internet?: boolean; path?: Hop[] | null; paths?: Hop[][] | null };
  decision?: Decision;
}
/** Findings of a node on the threat graph (docs/risk.md, "Exploitable"). */
export interface ThreatCounts {
  findings: number;
  exploitable: number;
  bySeverity: Record<string, number> | null;
  kev: number;
  maxScore: number;
}
/** A node the internet reaches (GET /threat-graph). */
export interface ThreatNode {
  id: string;
  kind: string;
  label: string;
  distance: number;
  preds: string[] | null;
  reason?: string;
  counts: ThreatCounts;
  reaches?: { nodes: number; counts: ThreatCounts };
}
export interface ThreatGraph {
  internet: string;
  hops: { distance: number; nodes: number; counts: ThreatCounts }[] | null;
  nodes: ThreatNode[] | null;
  total: number;
  truncated: boolean;
  exploitable: ThreatCounts;
}
export type FindingQuery = {
  type?: string | undefined;
  severity?: string | undefined;
  kev?: string | undefined;
  fixAvailable?: string | undefined;
  vulnId?: string | undefined;
  package?: string | undefined;
  nodeId?: string | undefined;
  scanId?: string | undefined;
  includeSuppressed?: string | undefined;
  /** risk (default), severity, cvss, epss, package or vuln. */
  sort?: string | undefined;
  order?: "asc" | "desc" | undefined;
};
export interface SensorHealth {
  sensorId: string;
  lastPoll?: string | null;
  lastReport?: string | null;
  freeScanSlots: number;
  nodes: number;
  version?: string;
  runningScans: number;
  failedScans24h: number;
  lastError?: string;
  stale: boolean;
}
export interface Diagnosis {
  generatedAt: string;
  feeds?: FeedStatus;
  sensors: SensorHealth[] | null;
  scans: Record<string, number> | null;
  jobs?: Record<string, number> | null;
  storage?: { dialect: string; databaseBytes: number; knowledgeBaseBytes: number; inventories: number; inventoryBytes: number; findings: number };
  registries?: {
    id: string;
    name: string;
    kind: string;
    host: string;
    state: string;
    lastSyncAt?: string | null;
    lastStatus?: string;
    lastMessage?: string;
    lastSuccessAt?: string | null;
    nextSyncAt?: string | null;
    tags: number;
  }[] | null;
  /** Whether the knowledge base covers what the nodes run (internal/diagnosis Coverage). */
  /** The data directory's YARA rule bundle (GET /diagnosis). */
  malwareRules?: {
    dir: string;
    name?: string;
    sha256?: string;
    rules?: number;
    source?: string;
    importedAt?: string;
    builtin?: boolean;
    error?: string;
  };
  coverage?: {
    healthy: boolean;
    gaps: CoverageGap[];
  };
}
export interface CoverageGap {
  ecosystem: string;
  nodes: number;
  registryImages: number;
  packages: number;
  examples: string[];
  remedy: string;
}

// Registries (internal/registries/api.go): accounts, their catalogue
// (repositories, tags, images by digest) and the images' scans.
export interface SettingField {
  name: string;
  label: string;
  type: "text" | "url" | "password" | "select" | "bool" | "number" | "textarea" | string;
  required?: boolean;
  secret?: boolean;
  options?: string[];
  default?: string;
  help?: string;
}
export interface RegistryKind {
  name: string;
  title: string;
  fields: SettingField[];
}
export interface RegistryFilters {
  repositories: string[];
  tagRegex: string;
  latestTags: number;
}
export interface RegistrySync {
  id: string;
  jobId: string;
  attempt: number;
  trigger: string;
  status: "running" | "complete" | "error" | string;
  startedAt: string;
  finishedAt?: string | null;
  repositories: number;
  tags: number;
  newTags: number;
  changedTags: number;
  goneTags: number;
  newImages: number;
  scansQueued: number;
  message?: string;
}
export interface RegistryAccount {
  id: string;
  kind: string;
  name: string;
  host: string;
  settings: Record<string, string>;
  secrets: Record<string, { set: boolean }>;
  caCert?: string;
  filters: RegistryFilters;
  schedule: string;
  autoScan: boolean;
  scanBy: string;
  createdBy: string;
  createdAt: string;
  updatedBy: string;
  updatedAt: string;
  sync: {
    state: "idle" | "queued" | "running" | "retrying" | "failed" | string;
    jobId?: string;
    message?: string;
    last?: RegistrySync;
    lastSuccessAt?: string | null;
    nextAt?: string | null;
  };
  repositories: number;
  tags: number;
  images: number;
}
export interface RegistryAccountInput {
  kind?: string;
  name?: string;
  settings?: Record<string, string>;
  secrets?: Record<string, string>;
  clearSecrets?: string[];
  caCert?: string;
  filters?: RegistryFilters;
  schedule?: string;
  autoScan?: boolean;
  scanBy?: string;
  skipTest?: boolean;
}
export interface RegistryTestResult {
  ok: boolean;
  host?: string;
  error?: string;
  unauthorized?: boolean;
  millis: number;
}
export interface RegistryRepository {
  id: string;
  accountId: string;
  name: string;
  tags: number;
  firstSeen: string;
  lastSeen: string;
  goneAt?: string | null;
  running: number;
}
export interface RegistryImageUse {
  nodeId: string;
  kind: string;
  label: string;
  hostId?: string;
  host?: string;
}
export interface RegistryImage {
  digest: string;
  mediaType: string;
  configDigest?: string;
  platform?: string;
  size: number;
  createdAt?: string | null;
  scannable: boolean;
  scan?: {
    scanId: string;
    status: ScanStatus;
    message?: string;
    scanBy: string;
    createdAt: string;
    finishedAt?: string | null;
    completeScanId?: string;
    findings: number;
    scannedAt?: string | null;
  };
  running: RegistryImageUse[] | null;
}
export interface RegistryTag {
  id: string;
  accountId: string;
  repositoryId: string;
  repository: string;
  name: string;
  reference: string;
  digest: string;
  mediaType: string;
  pushedAt?: string | null;
  size: number;
  platforms: string[] | null;
  firstSeen: string;
  changedAt: string;
  lastSeen: string;
  goneAt?: string | null;
  goneReason?: string;
  images: RegistryImage[] | null;
}
export interface RegistryTagQuery {
  accountId?: string | undefined;
  repositoryId?: string | undefined;
  q?: string | undefined;
  includeGone?: string | undefined;
  running?: string | undefined;
  scan?: string | undefined;
}

// Integrations (internal/integrations/api.go).
export interface KindField {
  name: string;
  label: string;
  /** text, url, password, select, bool, number, textarea */
  type: string;
  required?: boolean;
  /** Stored encrypted and never returned: the console says only whether it is set. */
  secret?: boolean;
  options?: string[] | null;
  default?: string;
  help?: string;
}
export interface DestinationKind {
  name: string;
  title: string;
  batch: number;
  fields: KindField[];
}
export interface DestinationStatus {
  pending: number;
  dead: number;
  failures: number;
  lastError?: string;
  lastSuccessAt?: string;
  nextAttemptAt?: string;
  oldestPendingAt?: string;
}
export interface Destination {
  id: string;
  kind: string;
  name: string;
  enabled: boolean;
  settings: Record<string, string>;
  secrets: Record<string, { set: boolean; hint?: string }>;
  caCert?: string;
  ratePerMinute: number;
  createdBy: string;
  createdAt: string;
  updatedBy: string;
  updatedAt: string;
  status: DestinationStatus;
}
export interface DestinationInput {
  kind?: string;
  name?: string;
  enabled?: boolean;
  settings?: Record<string, string>;
  /** "" keeps a secret as it is. */
  secrets?: Record<string, string>;
  clearSecrets?: string[];
  caCert?: string;
  ratePerMinute?: number;
}
export const ruleEvents = ["finding.new", "finding.kev_reachable", "finding.fixed", "scan.failed", "sensor.offline", "node.exposed"] as const;
export interface RuleFilter {
  minSeverity?: string;
  minRiskScore?: number;
  kevOnly?: boolean;
  internetOnly?: boolean;
  clusters?: string[] | null;
  namespaces?: string[] | null;
  hosts?: string[] | null;
  registries?: string[] | null;
}
export interface Rule {
  id: string;
  destinationId: string;
  name: string;
  enabled: boolean;
  events: string[];
  filter: RuleFilter;
  mode: "immediate" | "digest";
  digestMinutes?: number;
  nextDigestAt?: string;
  pendingDigest: number;
  createdBy: string;
  updatedAt: string;
}
export interface RuleInput {
  destinationId?: string;
  name: string;
  enabled?: boolean;
  events: string[];
  filter: RuleFilter;
  mode: "immediate" | "digest";
  digestMinutes?: number;
}
export interface Delivery {
  id: string;
  at: string;
  /** delivered, failed, dead, expired, test, test_failed */
  outcome: string;
  event?: string;
  messages: number;
  keys: string[];
  attempt?: number;
  durationMs: number;
  status?: number;
  error?: string;
}
export interface DeadLetter {
  id: string;
  destinationId: string;
  key: string;
  event: string;
  title: string;
  message: unknown;
  createdAt: string;
  failedAt: string;
  attempts: number;
  status?: number;
  error: string;
}
export interface TestResult {
  delivered: boolean;
  status?: number;
  error?: string;
  durationMs: number;
}

/** A problem document (RFC 9457) returned by the console, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;

  constructor(status: number, title: string, detail: string, type = "about:blank") {
    super(detail !== "" ? detail : title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = type;
  }
}

const base = "/api/v1";

/** Dispatched on window when the console answers 401 to a signed-in request. */
export const sessionEndedEvent = "riskmap:session-ended";

export function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

/** Whether a session is probably open: the CSRF cookie is set with the session cookie. */
export function hasSessionHint(): boolean {
  return cookie("riskmap_csrf") !== undefined;
}

async function problem(res: Response): Promise<ApiError> {
  const type = res.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      const p = (await res.json()) as { title?: unknown; detail?: unknown; type?: unknown; errors?: unknown };
      const title = typeof p.title === "string" ? p.title : res.statusText;
      let detail = typeof p.detail === "string" ? p.detail : "";
      // Validation problems list each bad field: {message, location}.
      if (Array.isArray(p.errors)) {
        const fields = p.errors
          .map((e: { message?: unknown; location?: unknown }) =>
            typeof e?.message === "string"
              ? (typeof e.location === "string" && e.location !== "" ? `${e.location.replace(/^body\./, "")}: ` : "") + e.message
              : "",
          )
          .filter((m) => m !== "");
        if (fields.length > 0) detail = [detail, fields.join("; ")].filter((d) => d !== "").join(": ");
      }
      const retry = res.headers.get("Retry-After");
      if (res.status === 429 && retry !== null && /^\d+$/.test(retry)) detail += ` Try again in ${retry} s.`;
      return new ApiError(res.status, title, detail, typeof p.type === "string" ? p.type : undefined);
    } catch {
      // fall through: a malformed problem document
    }
  }
  const text = (await res.text().catch(() => "")).trim().slice(0, 300);
  return new ApiError(res.status, res.statusText || `HTTP ${res.status}`, text);
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("riskmap_csrf");
    if (csrf !== undefined) headers["X-CSRF-Token"] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "The console could not be reached", e instanceof Error ? e.message : String(e));
  }
  if (!res.ok) {
    const err = await problem(res);
    // A 401 on a signed-in call means the session ended (expired, signed out
    // elsewhere, user disabled): let the app send the user to sign-in.
    if (res.status === 401 && !path.startsWith("/auth/") && !path.startsWith("/invitations/") && path !== "/me/password") {
      window.dispatchEvent(new CustomEvent(sessionEndedEvent));
    }
    throw err;
  }
  if (res.status === 204 || res.headers.get("Content-Length") === "0") return undefined as T;
  return (await res.json()) as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}

/** Lists accept a bare array too, so a console that does not paginate a list still works. */
function page<T>(r: Page<T> | T[]): Page<T> {
  return Array.isArray(r) ? { items: r } : { items: r.items ?? [], ...(r.nextCursor ? { nextCursor: r.nextCursor } : {}) };
}

/** Checks counted by result (internal/posture CheckCounts): passRate = pass / (pass + fail + error), null when 0/0. */
export interface CheckCounts {
  pass: number;
  fail: number;
  error: number;
  other: number;
  passRate: number | null;
}
/** One benchmark profile evaluated by one complete compliance scan of a target. */
export interface ComplianceRun extends CheckCounts {
  scanId: string;
  targetKey: string;
  nodeId?: string;
  target: ScanTarget;
  benchmark: string;
  benchmarkVersion?: string;
  profile: string;
  completedAt: string;
}
export interface BenchmarkSummary extends CheckCounts {
  benchmark: string;
  profile: string;
  targets: number;
  failing: number;
}
export interface ComplianceSummary extends CheckCounts {
  benchmarks: BenchmarkSummary[];
  targets: ComplianceRun[];
}
export interface ComplianceReference {
  system: string;
  id: string;
}
export interface ControlTarget {
  scanId: string;
  nodeId?: string;
  target: ScanTarget;
  result: string;
  subject?: string;
}
export interface ComplianceControl extends CheckCounts {
  benchmark: string;
  profile: string;
  rule: string;
  title?: string;
  severity?: string;
  references?: ComplianceReference[];
  targets: ControlTarget[];
}
export interface FailedControl {
  findingId: string;
  benchmark: string;
  profile: string;
  rule: string;
  title?: string;
  severity: string;
  result: string;
  subject?: string;
  nodeId?: string;
  target: ScanTarget;
  riskScore: number;
  exposure?: string;
  decision?: Decision;
}
export interface TrendPoint extends CheckCounts {
  scanId: string;
  completedAt: string;
}
export interface TrendSeries {
  targetKey: string;
  nodeId?: string;
  target: ScanTarget;
  benchmark: string;
  profile: string;
  points: TrendPoint[];
}
export interface ComplianceProfile {
  id: string;
  title: string;
  family: string;
  engine: string;
  content?: string[];
  targets: string[];
}
/** The OpenSCAP profiles for one node's OS (GET /compliance/profiles?nodeId=). */
export interface NodeProfiles {
  nodeId: string;
  known: boolean;
  profiles: {
    os: { id: string; versionId?: string };
    product?: string;
    reason?: string;
    choices: { name: string; title: string; available: boolean; profileId?: string; reason?: string }[];
  };
}
export interface ComplianceProfiles {
  catalogue: ComplianceProfile[];
  reported: { benchmark: string; profile: string; scans: number }[];
  node?: NodeProfiles;
}
export type ComplianceQuery = {
  nodeId?: string | undefined;
  benchmark?: string | undefined;
  profile?: string | undefined;
};

export const api = {
  setup: () => request<{ registered: boolean }>("GET", "/setup"),
  register: (b: { email: string; password: string; name: string; organisation: string }) =>
    request<User>("POST", "/auth/register", b),
  login: (b: { email: string; password: string }) => request<User>("POST", "/auth/login", b),
  logout: () => request<void>("POST", "/auth/logout"),
  resetPassword: (b: { token: string; newPassword: string }) => request<void>("POST", "/auth/password-reset", b),
  invitation: (token: string) => request<InvitationInfo>("GET", `/invitations/${encodeURIComponent(token)}`),
  acceptInvitation: (token: string, b: { name: string; password: string }) =>
    request<User>("POST", `/invitations/${encodeURIComponent(token)}/accept`, b),
  me: () => request<User>("GET", "/me"),
  changePassword: (b: { currentPassword: string; newPassword: string }) => request<void>("POST", "/me/password", b),
  resetApiKey: () => request<{ apiKey: string }>("POST", "/me/api-key"),
  users: async (cursor?: string) => page(await request<Page<User> | User[]>("GET", `/users${query({ limit: 100, cursor })}`)),
  updateUser: (id: string, b: { role?: Role; disabled?: boolean }) =>
    request<User>("PATCH", `/users/${encodeURIComponent(id)}`, b),
  deleteUser: (id: string) => request<void>("DELETE", `/users/${encodeURIComponent(id)}`),
  userResetLink: (id: string) => request<ResetLink>("POST", `/users/${encodeURIComponent(id)}/password-reset`),
  invitations: async (cursor?: string) =>
    page(await request<Page<Invitation> | Invitation[]>("GET", `/invitations${query({ limit: 100, cursor })}`)),
  invite: (b: { email: string; role: Role }) => request<Invitation>("POST", "/invitations", b),
  revokeInvitation: (id: string) => request<void>("DELETE", `/invitations/${encodeURIComponent(id)}`),
  audit: async (q: AuditQuery, cursor?: string) =>
    page(await request<Page<AuditEntry> | AuditEntry[]>("GET", `/audit${query({ ...q, limit: 50, cursor })}`)),
  graph: (p: {
    view: GraphView;
    q?: string | undefined;
    maxNodes?: number | undefined;
    group?: string | undefined;
    host?: string | undefined;
    namespace?: string | undefined;
    image?: string | undefined;
    cluster?: string | undefined;
    aggregate?: "true" | undefined;
  }) =>
    request<Graph>("GET", `/topology/graph${query(p)}`),
  nodes: (p: { kind?: string | undefined; q?: string | undefined; sort?: string | undefined; order?: string | undefined; limit?: number | undefined; cursor?: string | undefined }) =>
    request<Page<NodeSummary> & { total: number }>("GET", `/topology/nodes${query(p)}`),
  node: (id: string) => request<NodeDetail>("GET", `/topology/nodes/${encodeURIComponent(id)}`),
  sensors: () => request<SensorInfo[]>("GET", "/topology/sensors"),
  startScans: (nodeIds: string[], types?: ScanType[], profile?: string) =>
    request<Page<Scan>>("POST", "/scans", { nodeIds, ...(types === undefined ? {} : { types }), ...(profile === undefined || profile === "" ? {} : { profile }) }),
  complianceSummary: (q: ComplianceQuery) => request<ComplianceSummary>("GET", `/compliance/summary${query(q)}`),
  complianceControls: (q: ComplianceQuery & { result?: string | undefined; severity?: string | undefined }) =>
    request<Page<ComplianceControl>>("GET", `/compliance/controls${query(q)}`),
  complianceFailures: (q: ComplianceQuery & { limit?: number | undefined }) => request<Page<FailedControl>>("GET", `/compliance/failures${query(q)}`),
  complianceTrend: (q: ComplianceQuery & { limit?: number | undefined }) => request<Page<TrendSeries>>("GET", `/compliance/trend${query(q)}`),
  complianceProfiles: (nodeId?: string) => request<ComplianceProfiles>("GET", `/compliance/profiles${query({ nodeId })}`),
  scans: async (p: { type?: string | undefined; nodeId?: string | undefined; status?: string | undefined; cursor?: string | undefined; limit?: number | undefined }) =>
    page(await request<Page<Scan>>("GET", `/scans${query(p)}`)),
  scan: (id: string) => request<Scan>("GET", `/scans/${encodeURIComponent(id)}`),
  cancelScan: (id: string) => request<Scan>("POST", `/scans/${encodeURIComponent(id)}/cancel`),
  findings: (p: FindingQuery & { cursor?: string | undefined; limit?: number | undefined }) =>
    request<Page<NodeFinding> & { total?: number | undefined }>("GET", `/findings${query(p)}`),
  topFindings: (limit = 20) => request<Page<NodeFinding>>("GET", `/findings/top${query({ limit })}`),
  findingGroups: (by: "vulnerability" | "node" | "image", limit = 10) => request<Page<FindingGroup>>("GET", `/findings/groups${query({ by, limit })}`),
  threatGraph: (limit = 300) => request<ThreatGraph>("GET", `/threat-graph${query({ limit })}`),
  diagnosis: () => request<Diagnosis>("GET", "/diagnosis"),
  decisions: async () => page(await request<Page<Decision>>("GET", "/findings/decisions")),
  decide: (b: DecisionInput) => request<Decision>("POST", "/findings/decisions", b),
  revokeDecision: (id: string) => request<void>("DELETE", `/findings/decisions/${encodeURIComponent(id)}`),
  diff: (to: string, from: string) => request<ScanDiff>("GET", `/scans/${encodeURIComponent(to)}/diff/${encodeURIComponent(from)}`),
  schedules: async () => page(await request<Page<Schedule>>("GET", "/scan-schedules")),
  createSchedule: (b: { name: string; cron: string; filter: NodeFilter }) => request<Schedule>("POST", "/scan-schedules", b),
  deleteSchedule: (id: string) => request<void>("DELETE", `/scan-schedules/${encodeURIComponent(id)}`),
  scanSettings: () => request<ScanSettings>("GET", "/scan-settings"),
  scanTypes: async () => page(await request<Page<TypeSensors>>("GET", "/scan-types")),
  putScanSettings: (b: ScanSettings) => request<ScanSettings>("PUT", "/scan-settings", b),
  updateFeeds: () => request<FeedStatus>("POST", "/feeds/update"),
  /** Uploads a feed file or bundle as the raw body (the route is not JSON). */
  importFeed: async (file: File): Promise<{ report: unknown; status: FeedStatus }> => {
    const headers: Record<string, string> = { Accept: "application/json", "Content-Type": "application/octet-stream" };
    const csrf = cookie("riskmap_csrf");
    if (csrf !== undefined) headers["X-CSRF-Token"] = csrf;
    let res: Response;
    try {
      res = await fetch(`${base}/feeds/import${query({ name: file.name })}`, { method: "POST", headers, credentials: "same-origin", body: file });
    } catch (e) {
      throw new ApiError(0, "The console could not be reached", e instanceof Error ? e.message : String(e));
    }
    if (!res.ok) throw await problem(res);
    return (await res.json()) as { report: unknown; status: FeedStatus };
  },
  registryKinds: async () => page(await request<Page<RegistryKind>>("GET", "/registries/kinds")),
  registryAccounts: async () => page(await request<Page<RegistryAccount>>("GET", "/registries/accounts")),
  createRegistryAccount: (b: RegistryAccountInput) => request<RegistryAccount>("POST", "/registries/accounts", b),
  updateRegistryAccount: (id: string, b: RegistryAccountInput) => request<RegistryAccount>("PUT", `/registries/accounts/${encodeURIComponent(id)}`, b),
  deleteRegistryAccount: (id: string) => request<void>("DELETE", `/registries/accounts/${encodeURIComponent(id)}`),
  testRegistrySettings: (b: RegistryAccountInput) => request<RegistryTestResult>("POST", "/registries/test", b),
  testRegistryAccount: (id: string, b?: RegistryAccountInput) =>
    request<RegistryTestResult>("POST", `/registries/accounts/${encodeURIComponent(id)}/test`, b),
  syncRegistryAccount: (id: string) => request<RegistryAccount>("POST", `/registries/accounts/${encodeURIComponent(id)}/sync`),
  registrySyncs: async (id: string) => page(await request<Page<RegistrySync>>("GET", `/registries/accounts/${encodeURIComponent(id)}/syncs?limit=20`)),
  registryRepositories: (p: { accountId?: string | undefined; q?: string | undefined; includeGone?: string | undefined; cursor?: string | undefined }) =>
    request<Page<RegistryRepository> & { total?: number }>("GET", `/registries/repositories${query({ ...p, limit: 100 })}`),
  registryTags: (p: RegistryTagQuery & { cursor?: string | undefined }) =>
    request<Page<RegistryTag> & { total?: number }>("GET", `/registries/tags${query({ ...p, limit: 50 })}`),
  scanRegistryImages: (b: { accountId?: string; repositoryId?: string; tagIds?: string[]; digests?: string[]; force?: boolean }) =>
    request<{ queued: Scan[] | null; skipped: number }>("POST", "/registries/scans", b),
  consoleInfo: () => request<ConsoleInfo>("GET", "/console-info"),
  destinationKinds: async () => page(await request<Page<DestinationKind>>("GET", "/integrations/kinds")),
  destinations: async () => page(await request<Page<Destination>>("GET", "/integrations/destinations")),
  createDestination: (b: DestinationInput) => request<Destination>("POST", "/integrations/destinations", b),
  updateDestination: (id: string, b: DestinationInput) => request<Destination>("PUT", `/integrations/destinations/${encodeURIComponent(id)}`, b),
  deleteDestination: (id: string) => request<void>("DELETE", `/integrations/destinations/${encodeURIComponent(id)}`),
  testDestination: (id: string) => request<TestResult>("POST", `/integrations/destinations/${encodeURIComponent(id)}/test`),
  deliveries: async (id: string, cursor?: string) =>
    page(await request<Page<Delivery>>("GET", `/integrations/destinations/${encodeURIComponent(id)}/deliveries${query({ limit: 50, cursor })}`)),
  deadLetters: async (id: string, cursor?: string) =>
    page(await request<Page<DeadLetter>>("GET", `/integrations/destinations/${encodeURIComponent(id)}/dead${query({ limit: 50, cursor })}`)),
  retryDead: (id: string, ids?: string[]) =>
    request<{ retried: number }>("POST", `/integrations/destinations/${encodeURIComponent(id)}/dead/retry`, ids === undefined ? {} : { ids }),
  discardDead: (id: string, deadId: string) =>
    request<void>("DELETE", `/integrations/destinations/${encodeURIComponent(id)}/dead/${encodeURIComponent(deadId)}`),
  rules: async (destinationId: string) => page(await request<Page<Rule>>("GET", `/integrations/rules${query({ destinationId })}`)),
  createRule: (b: RuleInput) => request<Rule>("POST", "/integrations/rules", b),
  updateRule: (id: string, b: RuleInput) => request<Rule>("PUT", `/integrations/rules/${encodeURIComponent(id)}`, b),
  deleteRule: (id: string) => request<void>("DELETE", `/integrations/rules/${encodeURIComponent(id)}`),
  enrolledSensors: async () => page(await request<Page<EnrolledSensor>>("GET", "/sensors")),
  revokeSensor: (id: string) => request<EnrolledSensor>("POST", `/sensors/${encodeURIComponent(id)}/revoke`),
  enrolmentTokens: async () => page(await request<Page<EnrolmentToken>>("GET", "/enrolment-tokens")),
  createEnrolmentToken: (b: { name: string; maxSensors: number; expiresInHours: number }) =>
    request<CreatedEnrolmentToken>("POST", "/enrolment-tokens", b),
  revokeEnrolmentToken: (id: string) => request<void>("DELETE", `/enrolment-tokens/${encodeURIComponent(id)}`),
  /** The API's route list, from the generated OpenAPI document: views appear when their API exists. */
  apiPaths: async (): Promise<Set<string>> => {
    const doc = await request<{ paths?: Record<string, unknown> }>("GET", "/openapi.json");
    const out = new Set<string>();
    for (const p of Object.keys(doc.paths ?? {})) out.add(p.startsWith(base) ? p.slice(base.length) : p);
    return out;
  },
};

/** Download links (plain GETs with the session cookie; the console sets Content-Disposition). */
export const downloads = {
  sbom: (scanId: string, format: "cyclonedx-json" | "spdx-json") => `${base}/scans/${encodeURIComponent(scanId)}/sbom${query({ format })}`,
  report: (scanId: string, format: "json" | "sarif" | "cyclonedx-json" | "openvex" | "csv") =>
    `${base}/scans/${encodeURIComponent(scanId)}/report${query({ format })}`,
  findings: (format: "json" | "csv" | "xlsx" | "pdf", q: FindingQuery) => `${base}/findings/export${query({ ...q, format })}`,
  openvex: () => `${base}/findings/decisions/openvex`,
  compliance: (format: "json" | "csv", q: ComplianceQuery & { scanId?: string | undefined }) => `${base}/compliance/export${query({ ...q, format })}`,
  complianceRaw: (scanId: string) => `${base}/compliance/scans/${encodeURIComponent(scanId)}/raw`,
  audit: (format: "json" | "csv", q: AuditQuery) => `${base}/audit/export${query({ ...q, format })}`,
};

/** Absolute link to a client route on this console (for invitation / reset links the API did not spell out). */
export function appURL(path: string): string {
  return new URL(path, window.location.origin).toString();
}
