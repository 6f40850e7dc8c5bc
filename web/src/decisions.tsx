// Decisions on findings (internal/scans decisions.go): accept a
// vulnerability, or mark it not affected with an OpenVEX justification,
// each with a reason and an optional expiry, for one node or everywhere.
// Findings covered by an unexpired decision leave the ranked list (the
// console honours them in every query) and show their decision when
// decided findings are included.
import { useId, useState } from "react";
import { api, justifications, type Decision, type DecisionInput, type DecisionStatus, type NodeFinding } from "./api";
import { ErrorAlert, Field, SelectField, TableHead, Time, useSubmit } from "./components";

const statuses: readonly DecisionStatus[] = ["not_affected", "accepted"];

/** A decision's status in words (the API's not_affected reads "not affected"). */
export function decisionWords(s: string): string {
  return s === "not_affected" ? "not affected" : s === "accepted" ? "risk accepted" : s.replaceAll("_", " ");
}

/** An OpenVEX justification in words: vulnerable_code_not_in_execute_path reads "vulnerable code not in execute path". */
export function justificationWords(s: string): string {
  return s.replaceAll("_", " ");
}
const scopes = ["this node", "every node"] as const;
type Justification = (typeof justifications)[number];

/** The form under a finding's explanation. */
export function DecisionForm({ f, onDecided }: { f: NodeFinding; onDecided: (d: Decision) => void }) {
  const [status, setStatus] = useState<DecisionStatus>("not_affected");
  const [justification, setJustification] = useState<Justification>("vulnerable_code_not_in_execute_path");
  const [reason, setReason] = useState("");
  const [expires, setExpires] = useState("");
  const [scope, setScope] = useState<(typeof scopes)[number]>(f.nodeId !== undefined && f.nodeId !== "" ? "this node" : "every node");
  const reasonId = useId();
  const vulnerability = (f.type ?? "vulnerability") === "vulnerability";
  const { busy, error, onSubmit } = useSubmit(async () => {
    // A secret or malware decision names this finding (its fingerprint, its
    // file's digest); a vulnerability decision the vulnerability in the package.
    const b: DecisionInput =
      f.secret !== undefined
        ? { type: "secret", vulnId: f.secret.fingerprint, status, reason: reason.trim() }
        : f.malware !== undefined
          ? { type: "malware", vulnId: f.malware.sha256, status, reason: reason.trim() }
          : { vulnId: f.finding.id, package: f.finding.package.name, status, reason: reason.trim() };
    if (status === "not_affected" && vulnerability) b.justification = justification;
    if (scope === "this node" && f.nodeId !== undefined && f.nodeId !== "") b.nodeId = f.nodeId;
    // The date input gives a day: the decision lasts until the end of it (UTC).
    if (expires !== "") b.expiresAt = new Date(`${expires}T23:59:59Z`).toISOString();
    onDecided(await api.decide(b));
  });
  return (
    <form className="decision" onSubmit={onSubmit} aria-label={`Decision on ${f.finding.id} in ${f.finding.package.name}`}>
      <p className="form-title">Decide</p>
      <ErrorAlert error={error} />
      <div className="filters">
        <SelectField label="Decision" value={status} options={statuses} onChange={setStatus} words={decisionWords} />
        {status === "not_affected" && vulnerability && (
          <SelectField label="Justification (OpenVEX)" value={justification} options={justifications} onChange={setJustification} words={justificationWords} />
        )}
        <SelectField label="Applies to" value={scope} options={scopes} onChange={setScope} />
        <Field
          label="Expires on (optional)"
          type="date"
          value={expires}
          onChange={setExpires}
          min={new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}
          hint="After this day the finding counts again."
        />
      </div>
      <div className="field">
        <label htmlFor={reasonId}>Reason</label>
        <textarea id={reasonId} required maxLength={2000} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
      </div>
      <button type="submit" className="primary" disabled={busy || reason.trim() === ""}>
        {busy ? "Recording…" : "Record decision"}
      </button>
    </form>
  );
}

/** The recorded decisions, with revoke for those who may write. */
export function DecisionsTable({ items, canRevoke, onRevoked }: { items: Decision[]; canRevoke: boolean; onRevoked: (id: string) => void }) {
  const [error, setError] = useState<Error | null>(null);
  const revoke = async (d: Decision) => {
    try {
      await api.revokeDecision(d.id);
      onRevoked(d.id);
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  };
  if (items.length === 0) return <p>No decisions recorded.</p>;
  return (
    <>
      {error !== null && (
        <p role="alert" className="alert error">
          {error.message}
        </p>
      )}
      <table className="data decisions">
        <caption className="sr-only">Decisions on findings</caption>
        <TableHead cols={["Vulnerability", "Decision", "Scope", "Reason", "Expires", "By"]} hidden="Actions" />
        <tbody>
          {items.map((d) => (
            <tr key={d.id} data-decision={d.vulnId}>
              <th scope="row">{d.vulnId}</th>
              <td>
                {decisionWords(d.status)}
                {d.justification !== undefined && d.justification !== "" && <span className="muted"> ({justificationWords(d.justification)})</span>}
              </td>
              <td>
                {d.package !== undefined && d.package !== "" ? d.package : "any package"}
                {d.nodeId !== undefined && d.nodeId !== "" ? <span className="muted"> on one node</span> : <span className="muted"> everywhere</span>}
              </td>
              <td>{d.reason}</td>
              <td>{d.expiresAt !== undefined && d.expiresAt !== null ? <Time iso={d.expiresAt} /> : "never"}</td>
              <td>{d.createdBy}</td>
              <td className="actions">
                {canRevoke && (
                  <button type="button" className="danger" onClick={() => void revoke(d)} aria-label={`Revoke the decision on ${d.vulnId}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
