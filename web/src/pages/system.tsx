// Settings → Feeds and diagnosis (administrators): the knowledge base and
// its feed sources, "update now", uploading a feed file or an exported
// bundle (air-gapped sites), and the console's diagnosis: sensor health
// (last poll and report, running and failed scans, last error), scan and
// job queue depth, storage size, registry catalogue syncs, and whether the
// knowledge base covers the releases and ecosystems the nodes run.
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { api, type ApiError, type Diagnosis, type FeedRun, type FeedStatus } from "../api";
import { ErrorAlert, Notice, Page, Skeleton, TableHead, Time, toApiError } from "../components";
import { ecosystemName } from "../coverage";
import { formatBytes, formatNumber } from "../format";

const bytes = formatBytes;

function Counts({ label, counts }: { label: string; counts: Record<string, number> | null | undefined }) {
  const entries = Object.entries(counts ?? {});
  return (
    <>
      <dt>{label}</dt>
      <dd>{entries.length === 0 ? "none" : entries.map(([k, v]) => `${k} ${v}`).join(", ")}</dd>
    </>
  );
}

/** An age in the largest whole unit: "3 days", "5 h", "12 min". */
function age(seconds: number): string {
  if (seconds <= 0) return "—";
  if (seconds >= 2 * 86400) return `${Math.floor(seconds / 86400)} days`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min`;
  return `${seconds} s`;
}

/** The outcome of the last update or import: a success only when no source failed; each failure in one line. */
function RunOutcome({ run }: { run: FeedRun }) {
  const total = run.updated.length + run.unchanged + run.failed.length;
  if (run.failed.length === 0) {
    return (
      <Notice>
        <span data-feed-run="ok">
          Feeds {run.op === "update" ? "updated" : "imported"}: {run.updated.length} of {total} sources changed
          {run.unchanged > 0 && `, ${run.unchanged} unchanged`}.
        </span>
      </Notice>
    );
  }
  return (
    <div role="alert" className="error" data-feed-run="failed" data-failed={run.failed.length}>
      <p>
        {run.failed.length === total ? `Feed ${run.op} failed: every source (${total}) failed` : `Feed ${run.op}: ${run.failed.length} of ${total} sources failed`}
        {run.updated.length > 0 && `, ${run.updated.length} updated`}. The knowledge base keeps what it held.
      </p>
      <ul>
        {run.failed.map((f) => (
          <li key={f.path} data-failed-source={f.source}>
            <strong>{f.source}</strong>: {f.error}
          </li>
        ))}
      </ul>
    </div>
  );
}

/**
 * A tar (ustar) of files under their relative paths: a chosen feeds folder
 * goes up in one request, which the console files like `riskmap feeds
 * import FOLDER` does (internal/feeds readBundle).
 */
export function tarOf(files: readonly File[]): Blob {
  const enc = new TextEncoder();
  const parts: BlobPart[] = [];
  for (const f of files) {
    let name = f.webkitRelativePath !== "" ? f.webkitRelativePath : f.name;
    let prefix = "";
    if (enc.encode(name).length > 100) {
      const cut = name.lastIndexOf("/", name.length - 2);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    const h = new Uint8Array(512);
    const put = (v: string, at: number, len: number) => h.set(enc.encode(v).subarray(0, len), at);
    const octal = (n: number, len: number) => `${n.toString(8).padStart(len - 1, "0")}\0`;
    put(name, 0, 100);
    put(octal(0o644, 8), 100, 8);
    put(octal(0, 8), 108, 8);
    put(octal(0, 8), 116, 8);
    put(octal(f.size, 12), 124, 12);
    put(octal(Math.floor(f.lastModified / 1000), 12), 136, 12);
    put("        ", 148, 8);
    put("0", 156, 1);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    put(prefix, 345, 155);
    put(`${h.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0")}\0 `, 148, 8);
    parts.push(h, f, new Uint8Array((512 - (f.size % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return new Blob(parts, { type: "application/x-tar" });
}

function Feeds({ feeds, onChange }: { feeds: FeedStatus | undefined; onChange: (f: FeedStatus) => void }) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<"" | "update" | "upload">("");
  const [done, setDone] = useState<string | null>(null);
  const [showRun, setShowRun] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const fileId = useId();
  const folderId = useId();
  // A folder chooser: the browser gives every file under it with its relative path.
  const folderInput = useRef<HTMLInputElement>(null);
  useEffect(() => folderInput.current?.setAttribute("webkitdirectory", ""), []);
  const chooseFolder = (list: FileList | null) => {
    const fs = Array.from(list ?? []);
    if (fs.length === 0) return setFile(null);
    const top = (fs[0]?.webkitRelativePath ?? "").split("/")[0] ?? "feeds";
    setFile(new File([tarOf(fs)], `${top !== "" ? top : "feeds"}-folder.tar`, { type: "application/x-tar" }));
  };
  const update = async () => {
    setBusy("update");
    try {
      onChange(await api.updateFeeds());
      setDone(null);
      setShowRun(true);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy("");
    }
  };
  const upload = async (e: FormEvent) => {
    e.preventDefault();
    if (file === null) return;
    setBusy("upload");
    try {
      const r = await api.importFeed(file);
      onChange(r.status);
      setDone(`Imported ${file.name}.`);
      setShowRun(true);
      setError(null);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy("");
    }
  };
  return (
    <section aria-labelledby="feeds-h" className="wide">
      <h2 id="feeds-h">Vulnerability feeds</h2>
      <ErrorAlert error={error} />
      {done !== null && <Notice>{done}</Notice>}
      {showRun && feeds?.lastRun !== undefined && <RunOutcome run={feeds.lastRun} />}
      {feeds === undefined ? (
        <p>This console has no feeds manager.</p>
      ) : (
        <>
          <dl className="facts" data-feeds-loaded={feeds.loaded}>
            <dt>Knowledge base</dt>
            <dd>{feeds.loaded ? `${formatNumber(feeds.vulnerabilities)} vulnerabilities, ${bytes(feeds.sizeBytes)}` : "not loaded: no feeds yet"}</dd>
            <dt>Built</dt>
            <dd>
              <Time iso={feeds.builtAt} />
            </dd>
            <dt>Last update</dt>
            <dd>
              <Time iso={feeds.lastUpdate} />
            </dd>
            <dt>Next update</dt>
            <dd>{feeds.nextUpdate ? <Time iso={feeds.nextUpdate} /> : "never by itself (--feed-interval=0): update or upload here"}</dd>
            {feeds.replica && (
              <>
                <dt>Shared by the replicas</dt>
                <dd data-feeds-generation={feeds.replica.generation}>
                  generation {formatNumber(feeds.replica.generation)}
                  {feeds.replica.synced ? "" : " (this replica is catching up)"}
                  {feeds.replica.lastError ? ` — last look failed: ${feeds.replica.lastError}` : ""}
                </dd>
              </>
            )}
            <dt>Data directory</dt>
            <dd>
              <code>{feeds.dir}</code>
            </dd>
            {feeds.lastError !== undefined && feeds.lastError !== "" && (feeds.lastRun?.failed.length ?? 0) === 0 && (
              <>
                <dt>Last error</dt>
                <dd>{feeds.lastError.split("\n")[0]}</dd>
              </>
            )}
          </dl>
          {(feeds.sources?.length ?? 0) > 0 && (
            <table className="data feeds">
              <caption className="sr-only">Feed sources</caption>
              <TableHead cols={["Source", "Records", "Last success", "Age", "Last checked", "Status", "File"]} />
              <tbody>
                {feeds.sources?.map((s) => (
                  <tr key={s.path} data-source={s.source}>
                    <th scope="row">{s.source}</th>
                    <td>{formatNumber(s.records)}</td>
                    <td>
                      <Time iso={s.updatedAt} />
                    </td>
                    <td>{age(s.ageSeconds)}</td>
                    <td>
                      <Time iso={s.checkedAt} />
                    </td>
                    <td>
                      {s.lastError !== undefined && s.lastError !== "" ? (
                        <span className="tag status-error" title={s.lastError}>
                          failed: {(s.lastError.split("\n")[0] ?? "").slice(0, 120)}
                        </span>
                      ) : (
                        <span className="tag status-complete">ok</span>
                      )}
                    </td>
                    <td>
                      <code>{s.path}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <p>
        <button type="button" onClick={() => void update()} disabled={busy !== ""}>
          {busy === "update" ? "Updating…" : "Update feeds now"}
        </button>
      </p>
      <form className="inline-form" onSubmit={(e) => void upload(e)} aria-labelledby="upload-h">
        <h3 id="upload-h">Upload feeds (air-gapped consoles)</h3>
        <div className="field">
          <label htmlFor={fileId}>A feed file, a bundle or a tar of a feeds folder</label>
          <input id={fileId} type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} aria-describedby={`${fileId}-hint`} />
          <p className="hint" id={`${fileId}-hint`}>
            One feed file (an osv.dev <code>all.zip</code>, an Alpine secdb JSON, the KEV catalogue, an EPSS or CVSS CSV) is filed under its source by
            its content. A bundle comes from <code>riskmap feeds export riskmap-feeds.tar</code>; a feeds folder packs with{" "}
            <code>tar -C /path/to/feeds -czf feeds.tar.gz .</code>. Up to 2 GiB.
          </p>
        </div>
        <div className="field">
          <label htmlFor={folderId}>Or a feeds folder</label>
          <input
            id={folderId}
            ref={folderInput}
            type="file"
            multiple
            onChange={(e) => chooseFolder(e.target.files)}
            aria-describedby={`${folderId}-hint`}
          />
          <p className="hint" id={`${folderId}-hint`}>
            A folder in the layout <code>osv/&lt;Ecosystem&gt;/all.zip</code>, <code>kev/</code>, <code>epss/</code>, <code>cvss/</code>,{" "}
            <code>alpine/secdb/&lt;branch&gt;/</code> (the shared feeds folder&apos;s): sent as one tar, each file filed under its path. On the
            console&apos;s machine the same is <code>riskmap feeds import --db {feeds?.dir ?? "DATA_DIR/feeds"} /path/to/feeds</code>.
          </p>
        </div>
        <button type="submit" className="primary" disabled={file === null || busy !== ""}>
          {busy === "upload" ? "Uploading…" : file !== null ? `Upload ${file.name}` : "Upload"}
        </button>
      </form>
    </section>
  );
}

/** The coverage check: the releases and ecosystems the nodes run that the knowledge base holds no records for, and the feed for each. */
function Coverage({ coverage }: { coverage: Diagnosis["coverage"] }) {
  if (coverage === undefined) return null;
  const gaps = coverage.gaps ?? [];
  return (
    <>
      <h3 id="coverage-h">Knowledge base coverage</h3>
      {coverage.healthy ? (
        <p data-coverage="healthy">
          <span className="tag status-complete">healthy</span> The knowledge base holds records for every distribution release and language
          ecosystem the latest scans found.
        </p>
      ) : (
        <>
          <p data-coverage="gaps">
            <span className="tag status-error">not covered</span> The latest scans found packages the knowledge base cannot judge: no findings
            there does not mean no vulnerabilities.
          </p>
          <table className="data coverage" aria-labelledby="coverage-h">
            <TableHead cols={["Release or ecosystem", "Nodes", "Packages not judged", "For example", "Remedy"]} />
            <tbody>
              {gaps.map((g) => (
                <tr key={g.ecosystem} data-gap={g.ecosystem}>
                  <th scope="row">{ecosystemName(g.ecosystem)}</th>
                  <td>
                    {g.nodes}
                    {g.registryImages > 0 && <span className="muted"> + {g.registryImages} registry images</span>}
                  </td>
                  <td>{formatNumber(g.packages)}</td>
                  <td>{g.examples.join(", ")}</td>
                  <td>{g.remedy}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

export default function SystemPage() {
  const [d, setD] = useState<Diagnosis | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = useCallback(() => {
    api
      .diagnosis()
      .then((x) => (setD(x), setError(null)))
      .catch((e: unknown) => setError(toApiError(e)));
  }, []);
  useEffect(load, [load]);
  return (
    <Page title="Feeds and diagnosis">
      <ErrorAlert error={error} />
      {d === null ? (
        error === null && <Skeleton />
      ) : (
        <>
          <Feeds feeds={d.feeds} onChange={(f) => setD({ ...d, feeds: f })} />
          <section aria-labelledby="diag-h" className="wide">
            <h2 id="diag-h">Diagnosis</h2>
            <p className="hint">
              As of <Time iso={d.generatedAt} />.{" "}
              <button type="button" className="link" onClick={load}>
                Refresh
              </button>
            </p>
            <dl className="facts" data-diagnosis>
              <Counts label="Scans" counts={d.scans} />
              <Counts label="Job queue" counts={d.jobs} />
              <dt>Database</dt>
              <dd>
                {d.storage?.dialect ?? "—"}, {bytes(d.storage?.databaseBytes)}
              </dd>
              <dt>Knowledge base file</dt>
              <dd>{bytes(d.storage?.knowledgeBaseBytes)}</dd>
              <dt>Inventories</dt>
              <dd>
                {d.storage?.inventories ?? 0} ({bytes(d.storage?.inventoryBytes)} compressed)
              </dd>
              <dt>Findings stored</dt>
              <dd>{d.storage?.findings ?? 0}</dd>
              {d.malwareRules !== undefined && (
                <>
                  <dt>Malware rules</dt>
                  <dd data-malware-rules={d.malwareRules.error ? "error" : d.malwareRules.builtin ? "builtin" : "imported"}>
                    {d.malwareRules.error ? (
                      <span className="tag status-error">{d.malwareRules.error}</span>
                    ) : (
                      <>
                        {d.malwareRules.builtin ? "built-in set" : d.malwareRules.name}, {d.malwareRules.rules ?? 0} rules
                        {!d.malwareRules.builtin && (
                          <>
                            {" "}
                            from {d.malwareRules.source}, imported <Time iso={d.malwareRules.importedAt} />
                          </>
                        )}{" "}
                        <span className="muted">sha256 {(d.malwareRules.sha256 ?? "").slice(0, 12)}</span>
                      </>
                    )}
                    <span className="hint">
                      {" "}
                      <code>riskmap malware-rules import|update</code> on the console&apos;s machine
                    </span>
                  </dd>
                </>
              )}
            </dl>
            <Coverage coverage={d.coverage} />
            <h3>Sensor health</h3>
            {(d.sensors ?? []).length === 0 ? (
              <p>No sensor has polled or reported.</p>
            ) : (
              <table className="data health">
                <caption className="sr-only">Sensor health</caption>
                <TableHead cols={["Sensor", "Last report", "Last poll", "Nodes", "Scans running", "Failed (24 h)", "State"]} />
                <tbody>
                  {(d.sensors ?? []).map((s) => (
                    <tr key={s.sensorId} data-health={s.sensorId}>
                      <th scope="row">{s.sensorId}</th>
                      <td>
                        <Time iso={s.lastReport} />
                      </td>
                      <td>
                        <Time iso={s.lastPoll} />
                      </td>
                      <td>{s.nodes}</td>
                      <td>{s.runningScans}</td>
                      <td>{s.failedScans24h}</td>
                      <td>
                        {s.stale ? <span className="tag status-error">stale</span> : <span className="tag status-complete">healthy</span>}
                        {s.lastError !== undefined && s.lastError !== "" && <span className="muted"> {s.lastError}</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {(d.registries ?? []).length > 0 && (
              <>
                <h3>Registry syncs</h3>
                <table className="data health">
                  <caption className="sr-only">Registry catalogue syncs</caption>
                  <TableHead cols={["Registry", "State", "Last sync", "Last success", "Next", "Tags"]} />
                  <tbody>
                    {(d.registries ?? []).map((r) => (
                      <tr key={r.id} data-registry-health={r.name}>
                        <th scope="row">
                          {r.name} <span className="muted">{r.host}</span>
                        </th>
                        <td>
                          <span className={`tag ${r.state === "failed" || r.lastStatus === "error" ? "status-error" : "status-complete"}`}>{r.state}</span>
                          {r.lastStatus === "error" && r.lastMessage !== undefined && <span className="muted"> {r.lastMessage}</span>}
                        </td>
                        <td>
                          <Time iso={r.lastSyncAt} />
                        </td>
                        <td>
                          <Time iso={r.lastSuccessAt} />
                        </td>
                        <td>{r.nextSyncAt ? <Time iso={r.nextSyncAt} /> : "on demand"}</td>
                        <td>{r.tags}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )}
          </section>
        </>
      )}
    </Page>
  );
}
