// Scans: start scans on selected nodes (hosts, containers, images), the
// history newest first with live status (polled while any scan is queued or
// running), and cancel; a finished scan's downloads (SBOM: CycloneDX, SPDX;
// report: JSON, SARIF, CycloneDX, OpenVEX, CSV), what it could not judge
// (ecosystems the knowledge base holds no records for) and its difference
// from an earlier scan of the same target; schedules (cron) and auto-scan.
import { Fragment, useCallback, useEffect, useId, useState } from "react";
import { Link } from "react-router";
import { api, downloads, scanTypes, type ApiError, type NodeFilter, type NodeSummary, type Scan, type ScanDiff, type ScanSettings, type ScanType, type Schedule } from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, ScanTypeField, SelectField, Skeleton, TableHead, Time, toApiError, useSubmit } from "../components";
import { ProfilePicker } from "../compliance";
import { UncoveredBanner, uncoveredSentence } from "../coverage";
import { TargetRef } from "../findings";
import { usePaged } from "../paged";
import { useUser } from "../session";
import { formatDateTime } from "../format";

const scannable = ["host", "container", "image"] as const;

export function ScanStatusTag({ scan }: { scan: Scan }) {
  return (
    <span className={`tag status-${scan.status}`} data-status={scan.status}>
      {scan.status}
      {scan.status === "running" && ` ${Math.round(scan.progress * 100)}%`}
    </span>
  );
}

function NodePicker({ onStarted }: { onStarted: (n: number) => void }) {
  const [kind, setKind] = useState<(typeof scannable)[number]>("host");
  const [type, setType] = useState<ScanType>("vulnerability");
  const [profile, setProfile] = useState("");
  const [q, setQ] = useState("");
  const [nodes, setNodes] = useState<NodeSummary[] | null>(null);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    const t = window.setTimeout(() => {
      api
        .nodes({ kind, q, limit: 100 })
        .then((p) => live && (setNodes(p.items ?? []), setError(null)))
        .catch((e: unknown) => live && setError(toApiError(e)));
    }, 200);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [kind, q]);

  const toggle = (id: string) =>
    setPicked((cur) => {
      const next = new Set(cur);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const start = async () => {
    setBusy(true);
    try {
      const r = await api.startScans([...picked], [type], type === "compliance" ? profile : undefined);
      setPicked(new Set());
      onStarted(r.items?.length ?? 0);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="start-h" className="wide">
      <h2 id="start-h">Start a scan</h2>
      <div className="filters">
        <SelectField label="Node kind" value={kind} options={scannable} onChange={setKind} />
        <ScanTypeField value={type} onChange={setType} />
        {type === "compliance" && <ProfilePicker value={profile} onChange={setProfile} kind={kind} />}
        <Field label="Find nodes" type="search" value={q} onChange={setQ} />
      </div>
      <ErrorAlert error={error} />
      {nodes === null ? (
        <Skeleton />
      ) : nodes.length === 0 ? (
        <p>No {kind} nodes reported yet. Sensors report this machine shortly after start.</p>
      ) : (
        <fieldset className="picker">
          <legend>Nodes to scan</legend>
          {nodes.map((n) => (
            <label key={n.id} className="pick" data-node={n.label}>
              <input type="checkbox" checked={picked.has(n.id)} onChange={() => toggle(n.id)} /> {n.label}
              {n.gone && <span className="tag">gone</span>}
            </label>
          ))}
        </fieldset>
      )}
      <button type="button" className="primary" disabled={picked.size === 0 || busy} onClick={() => void start()}>
        {busy ? "Starting…" : `Scan ${picked.size} selected`}
      </button>
    </section>
  );
}

const sbomFormats = ["cyclonedx-json", "spdx-json"] as const;
const reportFormats = ["json", "sarif", "cyclonedx-json", "openvex", "csv"] as const;

/** One download link per format, separated by dots; each link is labelled "WHAT as FORMAT". */
function DownloadLinks<F extends string>({ what, formats, href }: { what: string; formats: readonly F[]; href: (f: F) => string }) {
  return formats.map((f, i) => (
    <Fragment key={f}>
      {i > 0 && " · "}
      <a href={href(f)} download aria-label={`${what} as ${f}`}>
        {f}
      </a>
    </Fragment>
  ));
}

/** A finished scan: downloads and the difference from an earlier scan of the same target. */
function ScanDetails({ scan }: { scan: Scan }) {
  const [earlier, setEarlier] = useState<Scan[] | null>(null);
  const [other, setOther] = useState("");
  const [diff, setDiff] = useState<ScanDiff | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let live = true;
    api
      .scans({ status: "complete", type: scan.type, limit: 50, ...(scan.nodeId !== undefined && scan.nodeId !== "" ? { nodeId: scan.nodeId } : {}) })
      .then((p) => {
        if (!live) return;
        const l = p.items.filter((x) => x.id !== scan.id && x.target.ref === scan.target.ref && x.type === scan.type);
        setEarlier(l);
        setOther(l[0]?.id ?? "");
      })
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [scan]);
  const compare = async () => {
    try {
      setDiff(await api.diff(scan.id, other));
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const selectId = useId();
  const name = `${scan.target.kind} ${scan.target.ref}`;
  return (
    <div className="scan-details" data-details={scan.id}>
      <UncoveredBanner uncovered={scan.uncovered} />
      {scan.type !== "vulnerability" && (
        <p className="downloads">
          Report: <DownloadLinks what={`Report of ${name}`} formats={["json", "csv"] as const} href={(f) => downloads.report(scan.id, f)} />
        </p>
      )}
      {scan.hasInventory && (
        <p className="downloads">
          SBOM: <DownloadLinks what={`SBOM of ${name}`} formats={sbomFormats} href={(f) => downloads.sbom(scan.id, f)} />. Report:{" "}
          <DownloadLinks what={`Report of ${name}`} formats={reportFormats} href={(f) => downloads.report(scan.id, f)} />
        </p>
      )}
      <ErrorAlert error={error} />
      {earlier === null ? (
        <Skeleton label="Loading earlier scans" rows={2} />
      ) : earlier.length === 0 ? (
        <p>No earlier complete scan of this target to compare with.</p>
      ) : (
        <div className="filters">
          <div className="field">
            <label htmlFor={selectId}>Compare with the scan of</label>
            <select id={selectId} value={other} onChange={(e) => setOther(e.target.value)}>
              {earlier.map((x) => (
                <option key={x.id} value={x.id}>
                  {formatDateTime(x.finishedAt ?? x.createdAt)} ({x.findings} findings)
                </option>
              ))}
            </select>
          </div>
          <button type="button" onClick={() => void compare()}>
            Show the difference
          </button>
        </div>
      )}
      {diff !== null && (
        <div className="diff" role="region" aria-label="Difference between the two scans" data-diff={`${diff.from}..${diff.to}`}>
          <p>
            {(diff.new ?? []).length} new, {(diff.fixed ?? []).length} fixed, {diff.unchanged} unchanged.
          </p>
          <div className="diff-cols">
            <div>
              <h3>New</h3>
              {(diff.new ?? []).length === 0 ? <p>None.</p> : <ul data-diff-new>{(diff.new ?? []).map((v) => <li key={v}>{v}</li>)}</ul>}
            </div>
            <div>
              <h3>Fixed</h3>
              {(diff.fixed ?? []).length === 0 ? <p>None.</p> : <ul data-diff-fixed>{(diff.fixed ?? []).map((v) => <li key={v}>{v}</li>)}</ul>}
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

const kinds = ["host", "container", "image"] as const;

/** Scheduled scans (cron, UTC) and the auto-scan settings. */
function Schedules() {
  const user = useUser();
  const canWrite = user.role !== "read-only";
  const [items, setItems] = useState<Schedule[] | null>(null);
  const [settings, setSettings] = useState<ScanSettings | null>(null);
  const [listError, setListError] = useState<ApiError | null>(null);
  const [name, setName] = useState("");
  const [cron, setCron] = useState("@daily");
  const [kind, setKind] = useState<NodeFilter["kind"]>("host");
  const [contains, setContains] = useState("");
  const load = useCallback(() => {
    Promise.all([api.schedules(), api.scanSettings()])
      .then(([p, st]) => (setItems(p.items), setSettings(st), setListError(null)))
      .catch((e: unknown) => setListError(toApiError(e)));
  }, []);
  useEffect(load, [load]);
  const { busy, error, onSubmit } = useSubmit(async () => {
    const filter: NodeFilter = { kind };
    if (contains.trim() !== "") filter.nameContains = contains.trim();
    await api.createSchedule({ name: name.trim(), cron: cron.trim(), filter });
    setName("");
    load();
  });
  const remove = async (sc: Schedule) => {
    try {
      await api.deleteSchedule(sc.id);
      load();
    } catch (e) {
      setListError(toApiError(e));
    }
  };
  const toggle = async (k: keyof ScanSettings) => {
    if (settings === null) return;
    try {
      setSettings(await api.putScanSettings({ ...settings, [k]: !settings[k] }));
    } catch (e) {
      setListError(toApiError(e));
    }
  };
  return (
    <section aria-labelledby="schedules-h" className="wide">
      <h2 id="schedules-h">Schedules</h2>
      <ErrorAlert error={listError} />
      {settings !== null && (
        <fieldset className="settings">
          <legend>Automatic scans</legend>
          <label>
            <input type="checkbox" checked={settings.autoScanHosts} disabled={user.role !== "admin"} onChange={() => void toggle("autoScanHosts")} /> Scan
            every new host when it first reports
          </label>
          <label>
            <input type="checkbox" checked={settings.autoScanImages} disabled={user.role !== "admin"} onChange={() => void toggle("autoScanImages")} />{" "}
            Scan every new image when it first appears
          </label>
          {user.role !== "admin" && <p className="hint">Only administrators change these.</p>}
        </fieldset>
      )}
      {items === null ? (
        <Skeleton />
      ) : items.length === 0 ? (
        <p>No schedules.</p>
      ) : (
        <table className="data schedules">
          <caption className="sr-only">Scheduled scans</caption>
          <TableHead cols={["Name", "When (cron, UTC)", "Scans", "Next run", "Last run"]} hidden="Actions" />
          <tbody>
            {items.map((sc) => (
              <tr key={sc.id} data-schedule={sc.name}>
                <th scope="row">{sc.name}</th>
                <td>
                  <code>{sc.cron}</code>
                </td>
                <td>
                  every {sc.filter.kind}
                  {sc.filter.nameContains !== undefined && sc.filter.nameContains !== "" && ` named like “${sc.filter.nameContains}”`}
                </td>
                <td>
                  <Time iso={sc.nextRun} />
                </td>
                <td>
                  <Time iso={sc.lastRun} />
                </td>
                <td className="actions">
                  {canWrite && (
                    <button type="button" className="danger" onClick={() => void remove(sc)} aria-label={`Delete the schedule ${sc.name}`}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canWrite && (
        <form className="inline-form" onSubmit={onSubmit} aria-labelledby="new-schedule-h">
          <h3 id="new-schedule-h">New schedule</h3>
          <ErrorAlert error={error} />
          <div className="filters">
            <Field label="Schedule name" required maxLength={200} value={name} onChange={setName} />
            <Field
              label="Cron"
              required
              value={cron}
              onChange={setCron}
              hint="Five fields (minute hour day month weekday) or @daily, @hourly, @every 6h; UTC."
            />
            <SelectField label="Kind of nodes to scan" value={kind} options={kinds} onChange={setKind} />
            <Field label="Whose name contains (optional)" value={contains} onChange={setContains} />
          </div>
          <button type="submit" className="primary" disabled={busy || name.trim() === ""}>
            {busy ? "Creating…" : "Create schedule"}
          </button>
        </form>
      )}
    </section>
  );
}

export default function ScansPage() {
  const user = useUser();
  const [status, setStatus] = useState<"any" | "queued" | "running" | "complete" | "error" | "cancelled">("any");
  const [type, setType] = useState<"any" | ScanType>("any");
  const [started, setStarted] = useState<number | null>(null);
  const [cancelError, setCancelError] = useState<ApiError | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const load = useCallback(
    (cursor?: string) => api.scans({ status: status === "any" ? undefined : status, type: type === "any" ? undefined : type, limit: 50, cursor }),
    [status, type],
  );
  const { items, setItems, hasMore, more, reload, error, loading } = usePaged<Scan>(load);

  // Live status: poll while any listed scan is still queued or running.
  const active = (items ?? []).some((s) => s.status === "queued" || s.status === "running");
  useEffect(() => {
    if (!active) return;
    const t = window.setInterval(() => void reload(), 2000);
    return () => window.clearInterval(t);
  }, [active, reload]);

  const cancel = async (s: Scan) => {
    try {
      const got = await api.cancelScan(s.id);
      setItems((cur) => (cur ?? []).map((x) => (x.id === got.id ? got : x)));
      setCancelError(null);
    } catch (e) {
      setCancelError(toApiError(e));
    }
  };

  return (
    <Page title="Scans">
      {user.role !== "read-only" && (
        <NodePicker
          onStarted={(n) => {
            setStarted(n);
            void reload();
          }}
        />
      )}
      {started !== null && <Notice>{started === 1 ? "1 scan started." : `${started} scans started.`}</Notice>}
      <section aria-labelledby="history-h" className="wide">
        <h2 id="history-h">History</h2>
        <div className="filters">
          <SelectField
            label="Status"
            value={status}
            options={["any", "queued", "running", "complete", "error", "cancelled"] as const}
            onChange={setStatus}
          />
          <SelectField label="Type" value={type} options={["any", ...scanTypes] as const} onChange={setType} />
        </div>
        <ErrorAlert error={error ?? cancelError} />
        {items === null ? (
          <Skeleton />
        ) : items.length === 0 ? (
          <p>No scans yet.</p>
        ) : (
          <table className="data scans">
            <caption className="sr-only">Scan history, newest first</caption>
            <TableHead cols={["Target", "Status", "Findings", "Requested", "Finished", "Type"]} hidden="Actions" />
            <tbody>
              {items.map((s) => (
                <Fragment key={s.id}>
                <tr data-scan={s.id} data-target={s.target.ref}>
                  <th scope="row">
                    {s.target.kind} <TargetRef ref={s.target.ref} />
                  </th>
                  <td>
                    <ScanStatusTag scan={s} />
                    {s.message !== "" && <span className="muted"> {s.message}</span>}
                  </td>
                  <td>
                    {s.status === "complete" ? (
                      <Link to={`/vulnerabilities?scanId=${encodeURIComponent(s.id)}`}>{s.findings}</Link>
                    ) : (
                      "—"
                    )}
                    {(s.uncovered?.length ?? 0) > 0 && (
                      <span className="tag warn" data-not-judged title={(s.uncovered ?? []).map(uncoveredSentence).join(" ")}>
                        {(s.uncovered ?? []).reduce((n, u) => n + u.packages, 0)} not judged
                      </span>
                    )}
                  </td>
                  <td>
                    <Time iso={s.createdAt} />
                    {s.requestedBy !== undefined && s.requestedBy !== "" && <span className="muted"> by {s.requestedBy}</span>}
                  </td>
                  <td>
                    <Time iso={s.finishedAt} />
                  </td>
                  <td data-type={s.type}>{s.type}</td>
                  <td className="actions">
                    {(s.status === "queued" || s.status === "running") && user.role !== "read-only" && (
                      <button
                        type="button"
                        className="danger"
                        disabled={s.cancelRequested}
                        onClick={() => void cancel(s)}
                        aria-label={`Cancel the scan of ${s.target.ref}`}
                      >
                        {s.cancelRequested ? "Cancelling…" : "Cancel"}
                      </button>
                    )}
                    {s.status === "complete" && (
                      <button
                        type="button"
                        aria-expanded={open === s.id}
                        aria-controls={`scan-details-${s.id}`}
                        onClick={() => setOpen(open === s.id ? null : s.id)}
                        aria-label={`Details: downloads and difference of the scan of ${s.target.ref}`}
                      >
                        Details
                      </button>
                    )}
                  </td>
                </tr>
                {open === s.id && (
                  <tr id={`scan-details-${s.id}`}>
                    <td colSpan={7}>
                      <ScanDetails scan={s} />
                    </td>
                  </tr>
                )}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
        <LoadMore hasMore={hasMore} loading={loading} more={more} />
      </section>
      <Schedules />
    </Page>
  );
}
