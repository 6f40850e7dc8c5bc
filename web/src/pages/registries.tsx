// Registries: registry accounts (a form per provider kind, drawn from the
// kind's fields; secrets shown only as set; test connection before saving
// and on demand), each account's sync state and history (polled while a
// sync is queued or running), and the catalogue: repositories → tags →
// the images of a tag (one per platform) with their scans, findings and
// the containers running them ("running" badges from the topology);
// filters and search; scan now.
import { Fragment, useCallback, useEffect, useId, useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router";
import {
  api,
  downloads,
  type ApiError,
  type NodeFinding,
  type RegistryAccount,
  type RegistryAccountInput,
  type RegistryImage,
  type RegistryKind,
  type RegistryRepository,
  type RegistrySync,
  type RegistryTag,
  type RegistryTagQuery,
  type RegistryTestResult,
  type SettingField,
  type SensorInfo,
} from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, SelectField, Skeleton, TableHead, Time, toApiError } from "../components";
import { FindingsTable } from "../findings";
import { usePaged } from "../paged";
import { useUser } from "../session";
import { formatBytes } from "../format";

/** An image's size; "—" when the registry did not say (0). */
function size(n: number): string {
  return n <= 0 ? "—" : formatBytes(n);
}

function shortDigest(d: string): string {
  return d.replace(/^sha256:/, "").slice(0, 12);
}

function SyncStateTag({ a }: { a: RegistryAccount }) {
  const s = a.sync.state;
  const cls = s === "failed" ? "status-error" : s === "idle" ? (a.sync.last?.status === "error" ? "status-error" : "status-complete") : "status-running";
  const label = s === "idle" ? (a.sync.last === undefined ? "not synced" : a.sync.last.status === "error" ? "last sync failed" : "synced") : s;
  return (
    <span className={`tag ${cls}`} data-sync-state={s}>
      {label}
    </span>
  );
}

/** A textarea with its label and hint (the console's components have inputs only). */
function TextArea({ label, value, onChange, hint, rows = 3 }: { label: string; value: string; onChange: (v: string) => void; hint?: string | undefined; rows?: number }) {
  const id = useId();
  return (
    <div className="field wide-field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} rows={rows} value={value} onChange={(e) => onChange(e.target.value)} spellCheck={false} {...(hint !== undefined ? { "aria-describedby": `${id}-hint` } : {})} />
      {hint !== undefined && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

function Check({ label, checked, onChange, hint }: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: string | undefined }) {
  const id = useId();
  return (
    <div className="field check-field">
      <label htmlFor={id}>
        <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} {...(hint !== undefined ? { "aria-describedby": `${id}-hint` } : {})} />{" "}
        {label}
      </label>
      {hint !== undefined && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

/** One setting of a kind, drawn from its field description. */
function SettingInput({ f, value, onChange, stored }: { f: SettingField; value: string; onChange: (v: string) => void; stored: boolean }) {
  const id = useId();
  const hint = f.secret && stored ? `${f.help ? f.help + ". " : ""}Set; leave empty to keep it.` : f.help;
  switch (f.type) {
    case "bool":
      return <Check label={f.label} checked={value === "true"} onChange={(v) => onChange(v ? "true" : "false")} hint={hint} />;
    case "textarea":
      return <TextArea label={f.label} value={value} onChange={onChange} hint={hint} />;
    case "select":
      return (
        <div className="field">
          <label htmlFor={id}>{f.label}</label>
          <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
            {!f.required && <option value="">(none)</option>}
            {(f.options ?? []).map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
      );
    default:
      return (
        <Field
          label={f.label}
          type={f.secret || f.type === "password" ? "password" : f.type === "number" ? "number" : f.type === "url" ? "url" : "text"}
          value={value}
          onChange={onChange}
          required={f.required === true && !(f.secret === true && stored)}
          autoComplete={f.secret ? "new-password" : "off"}
          {...(hint !== undefined ? { hint } : {})}
        />
      );
  }
}

/** Add or edit an account: the kind's form, filters, schedule, scanning; test, then save. */
function AccountForm({
  kinds,
  sensors,
  account,
  onSaved,
  onCancel,
}: {
  kinds: RegistryKind[];
  sensors: SensorInfo[];
  account: RegistryAccount | null;
  onSaved: (a: RegistryAccount, created: boolean) => void;
  onCancel: () => void;
}) {
  const [kind, setKind] = useState(account?.kind ?? kinds[0]?.name ?? "");
  const k = kinds.find((x) => x.name === kind);
  const [name, setName] = useState(account?.name ?? "");
  const [values, setValues] = useState<Record<string, string>>(() => {
    const v: Record<string, string> = {};
    for (const f of k?.fields ?? []) if (!f.secret) v[f.name] = account?.settings[f.name] ?? f.default ?? "";
    return v;
  });
  const [caCert, setCaCert] = useState(account?.caCert ?? "");
  const [globs, setGlobs] = useState((account?.filters.repositories ?? []).join("\n"));
  const [tagRegex, setTagRegex] = useState(account?.filters.tagRegex ?? "");
  const [latest, setLatest] = useState(String(account?.filters.latestTags ?? 0));
  const [schedule, setSchedule] = useState(account?.schedule ?? "@every 6h");
  const [autoScan, setAutoScan] = useState(account?.autoScan ?? true);
  const [scanBy, setScanBy] = useState(account?.scanBy ?? "console");
  const [tested, setTested] = useState<RegistryTestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const kindId = useId();
  const scanById = useId();

  const changeKind = (n: string) => {
    setKind(n);
    const nk = kinds.find((x) => x.name === n);
    const v: Record<string, string> = {};
    for (const f of nk?.fields ?? []) if (!f.secret) v[f.name] = f.default ?? "";
    setValues(v);
    setTested(null);
  };

  const input = (): RegistryAccountInput => {
    const settings: Record<string, string> = {};
    const secrets: Record<string, string> = {};
    for (const f of k?.fields ?? []) {
      const v = (values[f.name] ?? "").trim();
      if (f.secret) {
        if (v !== "") secrets[f.name] = v;
      } else if (v !== "" || account !== null) {
        settings[f.name] = v;
      }
    }
    const b: RegistryAccountInput = {
      name: name.trim(),
      settings,
      secrets,
      caCert: caCert.trim(),
      filters: {
        repositories: globs
          .split("\n")
          .map((g) => g.trim())
          .filter((g) => g !== ""),
        tagRegex: tagRegex.trim(),
        latestTags: Number.parseInt(latest, 10) || 0,
      },
      schedule: schedule.trim(),
      autoScan,
      scanBy,
    };
    if (account === null) b.kind = kind;
    return b;
  };

  const test = async () => {
    setBusy(true);
    setError(null);
    setTested(null);
    try {
      setTested(account === null ? await api.testRegistrySettings(input()) : await api.testRegistryAccount(account.id, input()));
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const a = account === null ? await api.createRegistryAccount(input()) : await api.updateRegistryAccount(account.id, input());
      onSaved(a, account === null);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="account-form" onSubmit={(e) => void save(e)} aria-labelledby="account-form-h" data-account-form={account?.name ?? "new"}>
      <h3 id="account-form-h">{account === null ? "Add a registry" : `Edit ${account.name}`}</h3>
      <ErrorAlert error={error} />
      <div className="form-grid">
        <div className="field">
          <label htmlFor={kindId}>Kind</label>
          <select id={kindId} value={kind} onChange={(e) => changeKind(e.target.value)} disabled={account !== null}>
            {kinds.map((x) => (
              <option key={x.name} value={x.name}>
                {x.title}
              </option>
            ))}
          </select>
        </div>
        <Field label="Name" required maxLength={200} value={name} onChange={setName} hint="How the console names this account." />
        {(k?.fields ?? []).map((f) => (
          <SettingInput
            key={`${kind}-${f.name}`}
            f={f}
            value={values[f.name] ?? ""}
            stored={account?.secrets[f.name]?.set === true}
            onChange={(v) => setValues((cur) => ({ ...cur, [f.name]: v }))}
          />
        ))}
        <TextArea
          label="CA certificates (PEM)"
          value={caCert}
          onChange={setCaCert}
          rows={3}
          hint="Certificates to trust for this registry besides the system's (a private CA). TLS is always verified."
        />
      </div>
      <fieldset className="form-grid">
        <legend>What to sync</legend>
        <TextArea label="Repository globs" value={globs} onChange={setGlobs} rows={2} hint="One per line: team/* (one segment), team/** (any depth), !team/tmp-* excludes. Empty: every repository." />
        <Field label="Tag regular expression" value={tagRegex} onChange={setTagRegex} hint="Must match a whole tag (RE2), e.g. v\d+\.\d+.*; empty: every tag." />
        <Field label="Latest tags per repository" type="number" min={0} max={10000} value={latest} onChange={setLatest} hint="Only the N tags pushed last; 0: every tag." />
        <Field label="Sync schedule" value={schedule} onChange={setSchedule} hint="Cron in UTC: @every 6h, @daily, 0 3 * * *; empty: on demand only." />
      </fieldset>
      <fieldset className="form-grid">
        <legend>Scanning</legend>
        <Check label="Scan new images automatically" checked={autoScan} onChange={setAutoScan} hint="Every digest a sync finds that was never scanned." />
        <div className="field">
          <label htmlFor={scanById}>Scanned by</label>
          <select id={scanById} value={scanBy} onChange={(e) => setScanBy(e.target.value)} aria-describedby={`${scanById}-hint`}>
            <option value="console">the console</option>
            {sensors.map((s) => (
              <option key={s.id} value={s.id}>
                sensor {s.hostname || s.id}
              </option>
            ))}
          </select>
          <p className="hint" id={`${scanById}-hint`}>
            A sensor inside the registry's network pulls with its own node's registry credentials.
          </p>
        </div>
      </fieldset>
      {tested !== null &&
        (tested.ok ? (
          <Notice>
            Connection OK: {tested.host} answered in {tested.millis} ms.
          </Notice>
        ) : (
          <div className="alert error" role="alert" data-test-failed>
            <strong>Connection failed{tested.unauthorized ? " (credentials refused)" : ""}.</strong> {tested.error}
          </div>
        ))}
      <div className="buttons">
        <button type="button" onClick={() => void test()} disabled={busy || name.trim() === ""}>
          Test connection
        </button>
        <button type="submit" className="primary" disabled={busy || name.trim() === ""}>
          {busy ? "Working…" : account === null ? "Save and sync" : "Save"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <p className="hint">Saving tests the connection first; a registry that cannot be reached is not saved.</p>
    </form>
  );
}

function History({ account }: { account: RegistryAccount }) {
  const [items, setItems] = useState<RegistrySync[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    api
      .registrySyncs(account.id)
      .then((p) => live && (setItems(p.items), setError(null)))
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [account.id, account.sync.last?.id, account.sync.last?.status]);
  return (
    <div className="history" data-history={account.name}>
      <ErrorAlert error={error} />
      {items === null ? (
        <Skeleton />
      ) : items.length === 0 ? (
        <p>No sync yet.</p>
      ) : (
        <table className="data">
          <caption className="sr-only">Sync history of {account.name}, newest first</caption>
          <TableHead cols={["Started", "Status", "Tags", "New", "Changed", "Gone", "Images", "Scans queued", "Message"]} />
          <tbody>
            {items.map((h) => (
              <tr key={h.id} data-sync-status={h.status}>
                <td>
                  <Time iso={h.startedAt} />
                  <span className="muted"> attempt {h.attempt}</span>
                </td>
                <td>
                  <span className={`tag status-${h.status === "complete" ? "complete" : h.status === "error" ? "error" : "running"}`}>{h.status}</span>
                </td>
                <td>{h.tags}</td>
                <td>{h.newTags}</td>
                <td>{h.changedTags}</td>
                <td>{h.goneTags}</td>
                <td>{h.newImages}</td>
                <td>{h.scansQueued}</td>
                <td className="detail">{h.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Accounts({ canWrite, onChanged }: { canWrite: boolean; onChanged: (signature: string) => void }) {
  const [accounts, setAccounts] = useState<RegistryAccount[] | null>(null);
  const [kinds, setKinds] = useState<RegistryKind[]>([]);
  const [sensors, setSensors] = useState<SensorInfo[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<RegistryAccount | "new" | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [tests, setTests] = useState<Record<string, RegistryTestResult>>({});

  const load = useCallback(() => {
    api
      .registryAccounts()
      .then((p) => (setAccounts(p.items), setError(null)))
      .catch((e: unknown) => setError(toApiError(e)));
  }, []);
  useEffect(() => {
    load();
    api.registryKinds().then((p) => setKinds(p.items)).catch((e: unknown) => setError(toApiError(e)));
    api.sensors().then((s) => setSensors(s ?? [])).catch(() => setSensors([]));
  }, [load]);
  // Poll while a sync is waiting or running.
  const busy = (accounts ?? []).some((a) => a.sync.state === "queued" || a.sync.state === "running" || a.sync.state === "retrying");
  useEffect(() => {
    if (!busy) return;
    const t = window.setInterval(load, 1500);
    return () => window.clearInterval(t);
  }, [busy, load]);
  // The catalogue reloads when an account, or what its last sync found, changes.
  const signature = (accounts ?? []).map((a) => `${a.id}/${a.sync.last?.id ?? ""}/${a.sync.last?.status ?? ""}/${a.tags}`).join(" ");
  useEffect(() => onChanged(signature), [signature, onChanged]);

  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      setNotice(done);
      setError(null);
      load();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const test = async (a: RegistryAccount) => {
    try {
      const r = await api.testRegistryAccount(a.id);
      setTests((cur) => ({ ...cur, [a.id]: r }));
    } catch (e) {
      setError(toApiError(e));
    }
  };

  return (
    <section aria-labelledby="accounts-h" className="wide">
      <div className="section-head">
        <h2 id="accounts-h">Accounts</h2>
        {canWrite && editing === null && (
          <button type="button" className="primary" onClick={() => (setEditing("new"), setNotice(null))}>
            Add a registry
          </button>
        )}
      </div>
      {notice !== null && <Notice>{notice}</Notice>}
      <ErrorAlert error={error} />
      {editing !== null && kinds.length > 0 && (
        <AccountForm
          kinds={kinds}
          sensors={sensors}
          account={editing === "new" ? null : editing}
          onCancel={() => setEditing(null)}
          onSaved={(a, created) => {
            setEditing(null);
            setNotice(created ? `Registry ${a.name} added; its catalogue is syncing.` : `Registry ${a.name} saved.`);
            load();
          }}
        />
      )}
      {accounts === null ? (
        <Skeleton />
      ) : accounts.length === 0 ? (
        <p>No registry yet.{canWrite ? " Add one to sync its catalogue and scan its images." : " An administrator or a standard user can add one."}</p>
      ) : (
        <table className="data accounts">
          <caption className="sr-only">Registry accounts</caption>
          <TableHead cols={["Name", "Registry", "Sync", "Catalogue", "Scanning"]} hidden="Actions" />
          <tbody>
            {accounts.map((a) => (
              <Fragment key={a.id}>
                <tr data-account={a.name} data-sync-state={a.sync.state}>
                  <th scope="row">{a.name}</th>
                  <td>
                    {a.host} <span className="muted">{kinds.find((k) => k.name === a.kind)?.title ?? a.kind}</span>
                  </td>
                  <td>
                    <SyncStateTag a={a} />
                    {a.sync.last !== undefined && (
                      <span className="muted">
                        {" "}
                        <Time iso={a.sync.last.startedAt} />
                      </span>
                    )}
                    {(a.sync.state === "failed" || a.sync.last?.status === "error") && a.sync.last?.message !== undefined && (
                      <p className="hint">{a.sync.last.message}</p>
                    )}
                    {a.schedule !== "" && <p className="hint">Schedule {a.schedule}; next <Time iso={a.sync.nextAt} /></p>}
                  </td>
                  <td data-catalogue>
                    {a.repositories} repositories, {a.tags} tags, {a.images} digests
                  </td>
                  <td>
                    {a.autoScan ? "new images" : "on demand"} by {a.scanBy === "console" ? "the console" : `sensor ${a.scanBy}`}
                    <TestOutcome r={tests[a.id]} />
                  </td>
                  <td className="actions">
                    {canWrite && (
                      <>
                        <button type="button" onClick={() => void act(() => api.syncRegistryAccount(a.id), `Sync of ${a.name} queued.`)} aria-label={`Sync now: ${a.name}`}>
                          Sync now
                        </button>
                        <button type="button" onClick={() => void test(a)} aria-label={`Test the connection of ${a.name}`}>
                          Test
                        </button>
                        <button type="button" onClick={() => (setEditing(a), setNotice(null))} aria-label={`Edit ${a.name}`}>
                          Edit
                        </button>
                      </>
                    )}
                    <button type="button" aria-expanded={open === a.id} onClick={() => setOpen(open === a.id ? null : a.id)} aria-label={`Sync history of ${a.name}`}>
                      History
                    </button>
                    {canWrite &&
                      (confirm === a.id ? (
                        <>
                          <button type="button" className="danger" onClick={() => void act(() => api.deleteRegistryAccount(a.id), `Registry ${a.name} deleted.`).then(() => setConfirm(null))}>
                            Yes, delete {a.name}
                          </button>
                          <button type="button" onClick={() => setConfirm(null)}>
                            Keep it
                          </button>
                        </>
                      ) : (
                        <button type="button" className="danger" onClick={() => setConfirm(a.id)} aria-label={`Delete ${a.name}`}>
                          Delete
                        </button>
                      ))}
                  </td>
                </tr>
                {open === a.id && (
                  <tr>
                    <td colSpan={6}>
                      <History account={a} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function TestOutcome({ r }: { r: RegistryTestResult | undefined }) {
  if (r === undefined) return null;
  return (
    <p className={r.ok ? "hint ok-text" : "hint error-text"} role="status" data-test-result={r.ok ? "ok" : "failed"}>
      {r.ok ? `Connection OK (${r.millis} ms)` : `Connection failed: ${r.error ?? ""}`}
    </p>
  );
}

function RunningBadge({ images }: { images: RegistryImage[] }) {
  const n = new Set(images.flatMap((im) => (im.running ?? []).filter((u) => u.kind === "container").map((u) => u.nodeId))).size;
  if (n === 0) return null;
  return (
    <span className="tag running" data-running={n}>
      running in {n} {n === 1 ? "container" : "containers"}
    </span>
  );
}

function ImageScanTag({ im }: { im: RegistryImage }) {
  if (!im.scannable) return <span className="muted">not an image</span>;
  if (im.scan === undefined) return <span className="tag" data-scan="none">not scanned</span>;
  return (
    <span className={`tag status-${im.scan.status}`} data-scan={im.scan.status} title={im.scan.message}>
      {im.scan.status}
    </span>
  );
}

/** The findings of an image's latest complete scan. */
function ImageFindings({ scanId }: { scanId: string }) {
  const [items, setItems] = useState<NodeFinding[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    api
      .findings({ scanId, limit: 20 })
      .then((p) => live && (setItems(p.items ?? []), setTotal(p.total ?? 0)))
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [scanId]);
  if (error !== null) return <ErrorAlert error={error} />;
  if (items === null) return <Skeleton label="Loading findings" />;
  if (items.length === 0) return <p>No findings.</p>;
  return (
    <>
      <FindingsTable items={items} caption="Findings of the image, highest risk first" />
      {total > items.length && (
        <p>
          <Link to={`/vulnerabilities?scanId=${encodeURIComponent(scanId)}`}>All {total} findings</Link>
        </p>
      )}
    </>
  );
}

function TagDetails({ tag }: { tag: RegistryTag }) {
  return (
    <div className="tag-details" data-tag-details={`${tag.repository}:${tag.name}`}>
      <p>
        <code>{tag.reference}</code> → <code title={tag.digest}>{tag.digest}</code> <span className="muted">{tag.mediaType}</span>
        {tag.goneAt !== undefined && tag.goneAt !== null && <span className="tag">gone: {tag.goneReason}</span>}
      </p>
      {(tag.images ?? []).map((im) => (
        <div key={im.digest} className="image" data-image={im.digest} data-platform={im.platform ?? ""}>
          <h4>
            {im.platform || "image"} <code title={im.digest}>{shortDigest(im.digest)}</code> <ImageScanTag im={im} />{" "}
            <span className="muted">{size(im.size)}{im.createdAt ? ", created " : ""}{im.createdAt ? <Time iso={im.createdAt} /> : null}</span>
          </h4>
          {im.scan?.message !== undefined && im.scan.status === "error" && <p className="hint error-text">{im.scan.message}</p>}
          {(im.running ?? []).length > 0 && (
            <p data-runs>
              Runs in:{" "}
              {(im.running ?? []).map((u, i) => (
                <Fragment key={u.nodeId}>
                  {i > 0 && ", "}
                  <Link to={`/topology?path=${encodeURIComponent(u.nodeId)}`}>
                    {u.kind} {u.label}
                  </Link>
                  {u.host !== undefined && u.host !== "" && <span className="muted"> on {u.host}</span>}
                </Fragment>
              ))}
            </p>
          )}
          {im.scan?.completeScanId !== undefined && im.scan.completeScanId !== "" && (
            <>
              <p className="downloads">
                Scanned <Time iso={im.scan.scannedAt} /> by {im.scan.scanBy === "console" ? "the console" : `sensor ${im.scan.scanBy}`}. SBOM:{" "}
                <a href={downloads.sbom(im.scan.completeScanId, "cyclonedx-json")} download aria-label={`SBOM of ${tag.reference} ${im.platform ?? ""} as cyclonedx-json`}>
                  CycloneDX
                </a>{" "}
                ·{" "}
                <a href={downloads.sbom(im.scan.completeScanId, "spdx-json")} download aria-label={`SBOM of ${tag.reference} ${im.platform ?? ""} as spdx-json`}>
                  SPDX
                </a>
                . Report:{" "}
                <a href={downloads.report(im.scan.completeScanId, "sarif")} download aria-label={`Report of ${tag.reference} ${im.platform ?? ""} as sarif`}>
                  SARIF
                </a>
              </p>
              <ImageFindings scanId={im.scan.completeScanId} />
            </>
          )}
        </div>
      ))}
    </div>
  );
}

const scanStates = ["any", "none", "queued", "running", "complete", "error"] as const;

function Catalogue({ canWrite, version }: { canWrite: boolean; version: number }) {
  const [accounts, setAccounts] = useState<RegistryAccount[]>([]);
  const [accountId, setAccountId] = useState("");
  const [search, setSearch] = useState("");
  const [q, setQ] = useState("");
  const [running, setRunning] = useState(false);
  const [scanState, setScanState] = useState<(typeof scanStates)[number]>("any");
  const [gone, setGone] = useState(false);
  const [repo, setRepo] = useState<RegistryRepository | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const accountSel = useId();

  useEffect(() => {
    api.registryAccounts().then((p) => setAccounts(p.items)).catch(() => setAccounts([]));
  }, [version]);
  useEffect(() => {
    const t = window.setTimeout(() => setQ(search.trim()), 250);
    return () => window.clearTimeout(t);
  }, [search]);

  const loadRepos = useCallback(
    async (cursor?: string) => {
      void version;
      // "repo:tag" searches repositories by its repository part; a digest does not name one.
      const rq = q.startsWith("sha256:") ? "" : (q.split(":")[0] ?? "");
      const p = await api.registryRepositories({ accountId: accountId || undefined, q: rq || undefined, includeGone: gone ? "true" : undefined, cursor });
      return { items: p.items ?? [], ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
    },
    [accountId, q, gone, version],
  );
  const repos = usePaged<RegistryRepository>(loadRepos);

  const tagQuery = useMemo<RegistryTagQuery>(
    () => ({
      accountId: accountId || undefined,
      repositoryId: repo?.id,
      q: q || undefined,
      includeGone: gone ? "true" : undefined,
      running: running ? "true" : undefined,
      scan: scanState === "any" ? undefined : scanState,
    }),
    [accountId, repo, q, gone, running, scanState],
  );
  const loadTags = useCallback(
    async (cursor?: string) => {
      void version;
      const p = await api.registryTags({ ...tagQuery, cursor });
      return { items: p.items ?? [], ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
    },
    [tagQuery, version],
  );
  const tags = usePaged<RegistryTag>(loadTags);
  // Live scan states: poll while a listed image's scan waits or runs.
  const scanning = (tags.items ?? []).some((t) => (t.images ?? []).some((im) => im.scan?.status === "queued" || im.scan?.status === "running"));
  const reloadTags = tags.reload;
  useEffect(() => {
    if (!scanning) return;
    const t = window.setInterval(() => void reloadTags(), 2000);
    return () => window.clearInterval(t);
  }, [scanning, reloadTags]);

  const scan = async (b: { tagIds?: string[]; repositoryId?: string }, what: string) => {
    try {
      const r = await api.scanRegistryImages(b);
      const n = (r.queued ?? []).length;
      setNotice(n === 0 ? `${what}: already scanned (${r.skipped} images).` : `${what}: ${n} ${n === 1 ? "scan" : "scans"} queued.`);
      setActionError(null);
      void tags.reload();
    } catch (e) {
      setActionError(toApiError(e));
    }
  };

  return (
    <section aria-labelledby="catalogue-h" className="wide">
      <h2 id="catalogue-h">Catalogue</h2>
      <div className="filters">
        <div className="field">
          <label htmlFor={accountSel}>Account</label>
          <select id={accountSel} value={accountId} onChange={(e) => (setAccountId(e.target.value), setRepo(null))}>
            <option value="">all accounts</option>
            {accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </div>
        <Field label="Search repositories and tags" type="search" value={search} onChange={setSearch} hint="repo, repo:tag or sha256:digest" />
        <SelectField label="Scan status" value={scanState} options={scanStates} onChange={setScanState} />
        <Check label="Running only" checked={running} onChange={setRunning} />
        <Check label="Include gone" checked={gone} onChange={setGone} />
      </div>
      {notice !== null && <Notice>{notice}</Notice>}
      <ErrorAlert error={actionError ?? repos.error ?? tags.error} />
      <div className="catalogue">
        <div className="repos">
          <h3>Repositories</h3>
          {repo !== null && (
            <p>
              <button type="button" className="link" onClick={() => setRepo(null)}>
                All repositories
              </button>
            </p>
          )}
          {repos.items === null ? (
            <Skeleton />
          ) : repos.items.length === 0 ? (
            <p>No repository{accounts.length === 0 ? ": add a registry above" : " matches"}.</p>
          ) : (
            <table className="data">
              <caption className="sr-only">Repositories</caption>
              <TableHead cols={["Repository", "Tags"]} />
              <tbody>
                {repos.items.map((r) => (
                  <tr key={r.id} data-repository={r.name} className={repo?.id === r.id ? "selected" : undefined}>
                    <th scope="row">
                      <button type="button" className="link" onClick={() => setRepo(r)} aria-label={`Show the tags of ${r.name}`}>
                        {r.name}
                      </button>
                      {r.goneAt !== undefined && r.goneAt !== null && <span className="tag">gone</span>}
                      {r.running > 0 && <span className="tag running">running</span>}
                    </th>
                    <td>{r.tags}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore hasMore={repos.hasMore} loading={repos.loading} more={repos.more} />
        </div>
        <div className="tags">
          <div className="section-head">
            <h3>{repo === null ? "Tags" : `Tags of ${repo.name}`}</h3>
            {canWrite && repo !== null && (
              <button type="button" onClick={() => void scan({ repositoryId: repo.id }, repo.name)}>
                Scan the repository
              </button>
            )}
          </div>
          {tags.items === null ? (
            <Skeleton />
          ) : tags.items.length === 0 ? (
            <p>No tags.</p>
          ) : (
            <table className="data registry-tags">
              <caption className="sr-only">Tags, newest push first</caption>
              <TableHead cols={["Tag", "Digest", "Platforms", "Pushed", "Size", "Scan", "Findings"]} hidden="Actions" />
              <tbody>
                {tags.items.map((t) => {
                  const imgs = t.images ?? [];
                  const findings = imgs.reduce((n, im) => n + (im.scan?.findings ?? 0), 0);
                  const scanned = imgs.some((im) => im.scan?.completeScanId);
                  return (
                    <Fragment key={t.id}>
                      <tr data-tag={`${t.repository}:${t.name}`} data-gone={t.goneAt ? "true" : undefined}>
                        <th scope="row">
                          {t.repository}:{t.name}
                          <RunningBadge images={imgs} />
                          {t.goneAt !== undefined && t.goneAt !== null && <span className="tag" title={t.goneReason}>gone</span>}
                        </th>
                        <td>
                          <code title={t.digest}>{shortDigest(t.digest)}</code>
                        </td>
                        <td>{(t.platforms ?? []).join(", ") || "—"}</td>
                        <td>{t.pushedAt ? <Time iso={t.pushedAt} /> : <span className="muted">unknown</span>}</td>
                        <td>{size(t.size)}</td>
                        <td>
                          {imgs.map((im) => (
                            <ImageScanTag key={im.digest} im={im} />
                          ))}
                        </td>
                        <td data-findings={scanned ? findings : undefined}>{scanned ? findings : "—"}</td>
                        <td className="actions">
                          {canWrite && !t.goneAt && (
                            <button type="button" onClick={() => void scan({ tagIds: [t.id] }, `${t.repository}:${t.name}`)} aria-label={`Scan ${t.repository}:${t.name}`}>
                              Scan
                            </button>
                          )}
                          <button
                            type="button"
                            aria-expanded={open === t.id}
                            aria-controls={`tag-${t.id}`}
                            onClick={() => setOpen(open === t.id ? null : t.id)}
                            aria-label={`Details of ${t.repository}:${t.name}: images, findings, where it runs`}
                          >
                            Details
                          </button>
                        </td>
                      </tr>
                      {open === t.id && (
                        <tr id={`tag-${t.id}`}>
                          <td colSpan={8}>
                            <TagDetails tag={t} />
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
          )}
          <LoadMore hasMore={tags.hasMore} loading={tags.loading} more={tags.more} />
        </div>
      </div>
    </section>
  );
}

export default function RegistriesPage() {
  const user = useUser();
  const canWrite = user.role !== "read-only";
  // Bumped when the accounts or their syncs change, so the catalogue reloads.
  const [version, setVersion] = useState(0);
  const [seen, setSeen] = useState("");
  const changed = useCallback(
    (signature: string) => {
      if (signature !== seen) {
        setSeen(signature);
        setVersion((v) => v + 1);
      }
    },
    [seen],
  );
  return (
    <Page title="Registries">
      <Accounts canWrite={canWrite} onChanged={changed} />
      <Catalogue canWrite={canWrite} version={version} />
    </Page>
  );
}
