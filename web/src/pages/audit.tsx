// Administration: the audit log of security-relevant actions, filtered by
// the console (action prefix, actor, part of the target, time window; kept
// in the URL query, so a filtered view can be linked and reloaded), each
// change with its state before and after, and the filtered log as CSV or
// JSON downloads.
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { api, downloads, type AuditEntry, type AuditQuery } from "../api";
import { ErrorAlert, Field, LoadMore, Page, Skeleton, TableHead, Time } from "../components";
import { usePaged } from "../paged";

const fields = ["action", "actor", "target", "since", "until"] as const;
type FilterField = (typeof fields)[number];

/** Action prefixes offered as suggestions (the field takes any prefix). */
const actionPrefixes = [
  "login",
  "user.",
  "invitation.",
  "password.",
  "api_key.",
  "token.",
  "finding.decision.",
  "scan.",
  "scan.start",
  "scan.cancel",
  "scan.schedule.",
  "scan.settings.",
  "feeds.",
];

function queryOf(params: URLSearchParams): AuditQuery {
  const q: AuditQuery = {};
  for (const f of fields) {
    const v = params.get(f);
    if (v !== null && v.trim() !== "") q[f] = v.trim();
  }
  return q;
}

function detailText(d: unknown): string {
  if (d === null || d === undefined || d === "") return "";
  if (typeof d === "string") return d;
  return JSON.stringify(d);
}

function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

/** The state before and after a change, folded away until asked for. */
function Change({ e }: { e: AuditEntry }) {
  const has = (v: unknown) => v !== undefined && v !== null;
  if (!has(e.before) && !has(e.after)) return null;
  return (
    <details className="change">
      <summary>{has(e.before) && has(e.after) ? "Before and after" : has(e.after) ? "After" : "Before"}</summary>
      {has(e.before) && (
        <div>
          <p className="hint">Before</p>
          <pre data-before tabIndex={0}>
            {pretty(e.before)}
          </pre>
        </div>
      )}
      {has(e.after) && (
        <div>
          <p className="hint">After</p>
          <pre data-after tabIndex={0}>
            {pretty(e.after)}
          </pre>
        </div>
      )}
    </details>
  );
}

export default function AuditPage() {
  const [params, setParams] = useSearchParams();
  // The applied filter is the URL's; the form edits a copy until applied.
  const applied = useMemo(() => queryOf(params), [params]);
  const [form, setForm] = useState<Record<FilterField, string>>({ action: "", actor: "", target: "", since: "", until: "" });
  useEffect(() => {
    setForm({
      action: applied.action ?? "",
      actor: applied.actor ?? "",
      target: applied.target ?? "",
      since: applied.since ?? "",
      until: applied.until ?? "",
    });
  }, [applied]);
  const set = (f: FilterField) => (v: string) => setForm((cur) => ({ ...cur, [f]: v }));

  const load = useCallback((cursor?: string) => api.audit(applied, cursor), [applied]);
  const list = usePaged<AuditEntry>(load);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const f of fields) if (form[f].trim() !== "") next.set(f, form[f].trim());
    setParams(next);
  };
  const clear = () => setParams(new URLSearchParams());
  const filtered = Object.keys(applied).length > 0;

  return (
    <Page
      title="Audit log"
      actions={
        <button type="button" onClick={() => void list.reload()} disabled={list.loading}>
          Refresh
        </button>
      }
    >
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        <Field label="Action starts with" value={form.action} onChange={set("action")} list="audit-actions" placeholder="scan." />
        <datalist id="audit-actions">
          {actionPrefixes.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <Field label="Actor" value={form.actor} onChange={set("actor")} placeholder="email, system or anonymous" />
        <Field label="Target contains" type="search" value={form.target} onChange={set("target")} placeholder="scan id, schedule name…" />
        <Field label="Since (UTC)" value={form.since} onChange={set("since")} placeholder="2026-12-01" />
        <Field label="Before (UTC)" value={form.until} onChange={set("until")} placeholder="2026-12-02T09:30:00Z" />
        <button type="submit" className="primary">
          Apply filters
        </button>
        {filtered && (
          <button type="button" onClick={clear}>
            Clear filters
          </button>
        )}
      </form>
      <p className="hint">Times are a date (its midnight UTC) or an RFC 3339 time; &quot;since&quot; is included, &quot;before&quot; is not.</p>
      <p className="downloads">
        Download {filtered ? "these entries" : "the log"}:{" "}
        <a href={downloads.audit("csv", applied)} download data-export="csv">
          CSV
        </a>{" "}
        ·{" "}
        <a href={downloads.audit("json", applied)} download data-export="json">
          JSON
        </a>{" "}
        (newest first, at most 100,000 entries).
      </p>
      <ErrorAlert error={list.error} />
      {list.items === null ? (
        <Skeleton label="Loading the audit log" />
      ) : list.items.length === 0 ? (
        <p role="status">{filtered ? "No entries match these filters." : "The audit log is empty."}</p>
      ) : (
        <table className="data audit">
          <caption className="sr-only">Audit log, newest first</caption>
          <TableHead cols={["Time", "Actor", "Action", "Target", "Client address", "Detail"]} />
          <tbody>
            {list.items.map((e) => (
              <tr key={String(e.id)} data-action={e.action}>
                <td>
                  <Time iso={e.time} />
                </td>
                <td>
                  {e.actor}
                  {e.via !== undefined && e.via !== "" && <span className="via"> via {e.via}</span>}
                </td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td className="target">{e.target}</td>
                <td>{e.clientAddr}</td>
                <td className="detail">
                  {detailText(e.detail)}
                  <Change e={e} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
    </Page>
  );
}
