// Administration: the audit log of security-relevant actions.
import { useState } from "react";
import { api, type AuditEntry } from "../api";
import { ErrorAlert, Field, LoadMore, Page, TableHead, Time } from "../components";
import { usePaged } from "../paged";

function detailText(d: unknown): string {
  if (d === null || d === undefined || d === "") return "";
  if (typeof d === "string") return d;
  return JSON.stringify(d);
}

export default function AuditPage() {
  const list = usePaged<AuditEntry>(api.audit);
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  const shown =
    list.items?.filter(
      (e) =>
        f === "" ||
        [e.actor, e.action, e.target, e.clientAddr, detailText(e.detail)].some((s) => (s ?? "").toLowerCase().includes(f)),
    ) ?? null;
  return (
    <Page
      title="Audit log"
      actions={
        <button type="button" onClick={() => void list.reload()} disabled={list.loading}>
          Refresh
        </button>
      }
    >
      <ErrorAlert error={list.error} />
      <div className="toolbar">
        <Field label="Filter loaded entries" type="search" value={filter} onChange={setFilter} placeholder="actor, action, target…" />
      </div>
      {shown === null ? (
        <p aria-busy="true">Loading the audit log…</p>
      ) : (
        <table className="data">
          <TableHead cols={["Time", "Actor", "Action", "Target", "Client address", "Detail"]} />
          <tbody>
            {shown.map((e) => (
              <tr key={String(e.id)}>
                <td>
                  <Time iso={e.time} />
                </td>
                <td>{e.actor}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.target}</td>
                <td>{e.clientAddr}</td>
                <td className="detail">{detailText(e.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
    </Page>
  );
}
