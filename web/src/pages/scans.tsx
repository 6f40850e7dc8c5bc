// Scans: start scans on selected nodes (hosts, containers, images), the
// history newest first with live status (polled while any scan is queued or
// running), and cancel.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { api, type ApiError, type NodeSummary, type Scan } from "../api";
import { ErrorAlert, Field, LoadMore, Notice, Page, SelectField, Time, toApiError } from "../components";
import { TargetRef } from "../findings";
import { usePaged } from "../paged";
import { useUser } from "../session";

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
      const r = await api.startScans([...picked]);
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
        <Field label="Find nodes" type="search" value={q} onChange={setQ} />
      </div>
      <ErrorAlert error={error} />
      {nodes === null ? (
        <p aria-busy="true">Loading…</p>
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

export default function ScansPage() {
  const user = useUser();
  const [status, setStatus] = useState<"any" | "queued" | "running" | "complete" | "error" | "cancelled">("any");
  const [started, setStarted] = useState<number | null>(null);
  const [cancelError, setCancelError] = useState<ApiError | null>(null);
  const load = useCallback(
    (cursor?: string) => api.scans({ status: status === "any" ? undefined : status, limit: 50, cursor }),
    [status],
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
        </div>
        <ErrorAlert error={error ?? cancelError} />
        {items === null ? (
          <p aria-busy="true">Loading…</p>
        ) : items.length === 0 ? (
          <p>No scans yet.</p>
        ) : (
          <table className="data scans">
            <caption className="sr-only">Scan history, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Status</th>
                <th scope="col">Findings</th>
                <th scope="col">Requested</th>
                <th scope="col">Finished</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id} data-scan={s.id} data-target={s.target.ref}>
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
                  </td>
                  <td>
                    <Time iso={s.createdAt} />
                    {s.requestedBy !== undefined && s.requestedBy !== "" && <span className="muted"> by {s.requestedBy}</span>}
                  </td>
                  <td>
                    <Time iso={s.finishedAt} />
                  </td>
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
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <LoadMore hasMore={hasMore} loading={loading} more={more} />
      </section>
    </Page>
  );
}
