// Settings → Integrations: where notifications go. Every signed-in user
// sees the destinations (their secrets only as "set"), their rules, the
// delivery history and the dead letters; admins add and change them (the
// form is generated from the kind's fields, GET /api/v1/integrations/kinds),
// send a test message, and retry or discard dead letters.
import { useEffect, useId, useState, type FormEvent } from "react";
import {
  api,
  ruleEvents,
  type ApiError,
  type DeadLetter,
  type Delivery,
  type Destination,
  type DestinationInput,
  type DestinationKind,
  type KindField,
  type Rule,
  type RuleFilter,
  type RuleInput,
  type TestResult,
} from "../api";
import { ErrorAlert, Field, Notice, Page, Skeleton, TableHead, Time, toApiError } from "../components";
import { useUser } from "../session";

const eventLabels: Record<string, string> = {
  "finding.new": "New finding",
  "finding.kev_reachable": "Exploited (KEV) finding reachable from the internet",
  "finding.fixed": "Finding fixed",
  "scan.failed": "Scan failed",
  "sensor.offline": "Sensor offline",
  "node.exposed": "Node newly reachable from the internet",
};

function describeFilter(f: RuleFilter): string {
  const parts: string[] = [];
  if (f.minSeverity) parts.push(`${f.minSeverity} or worse`);
  if (f.minRiskScore) parts.push(`risk ≥ ${f.minRiskScore}`);
  if (f.kevOnly) parts.push("KEV only");
  if (f.internetOnly) parts.push("internet-reachable only");
  for (const [k, v] of [
    ["clusters", f.clusters],
    ["namespaces", f.namespaces],
    ["hosts", f.hosts],
    ["registries", f.registries],
  ] as const) {
    if (v && v.length > 0) parts.push(`${k}: ${v.join(", ")}`);
  }
  return parts.length === 0 ? "everything" : parts.join("; ");
}

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

/** One setting of a destination kind, rendered from its field description. */
function KindInput({ field, value, isSet, onChange }: { field: KindField; value: string; isSet: boolean; onChange: (v: string) => void }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const hint = [field.help ?? "", field.secret ? (isSet ? "Set; leave empty to keep it." : "Stored encrypted; never shown again.") : ""]
    .filter((x) => x !== "")
    .join(" ");
  const common = { id, "aria-describedby": hintId, required: field.required === true && !isSet };
  let input;
  if (field.type === "bool") {
    return (
      <div className="field">
        <label>
          <input type="checkbox" checked={value === "true"} onChange={(e) => onChange(e.target.checked ? "true" : "false")} /> {field.label}
        </label>
        {hint !== "" && <p className="hint">{hint}</p>}
      </div>
    );
  } else if (field.type === "select") {
    input = (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{field.default ? `default (${field.default})` : "choose…"}</option>
        {(field.options ?? []).map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else if (field.type === "textarea") {
    input = <textarea {...common} rows={3} value={value} onChange={(e) => onChange(e.target.value)} spellCheck={false} autoComplete="off" />;
  } else {
    const type = field.secret ? "password" : field.type === "url" ? "url" : "text";
    input = (
      <input
        {...common}
        type={type}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        inputMode={field.type === "number" ? "numeric" : undefined}
        placeholder={field.secret && isSet ? "•••••• (set)" : (field.default ?? "")}
        autoComplete={field.secret ? "new-password" : "off"}
        spellCheck={false}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>
        {field.label}
        {field.required === true ? "" : " (optional)"}
      </label>
      {input}
      <p className="hint" id={hintId}>
        {hint}
      </p>
    </div>
  );
}

/** Adds a destination, or changes one (existing). */
function DestinationForm({
  kinds,
  existing,
  onSaved,
  onCancel,
}: {
  kinds: DestinationKind[];
  existing?: Destination;
  onSaved: (d: Destination) => void;
  onCancel: () => void;
}) {
  const [kindName, setKindName] = useState(existing?.kind ?? kinds[0]?.name ?? "");
  const [name, setName] = useState(existing?.name ?? "");
  const [values, setValues] = useState<Record<string, string>>(existing?.settings ?? {});
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const [clear, setClear] = useState<Set<string>>(new Set());
  const [caCert, setCaCert] = useState(existing?.caCert ?? "");
  const [rate, setRate] = useState(String(existing?.ratePerMinute ?? 60));
  const [enabled, setEnabled] = useState(existing?.enabled ?? true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const kindId = useId();
  const caId = useId();
  const kind = kinds.find((k) => k.name === kindName);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (kind === undefined) return;
    const settings: Record<string, string> = {};
    const secretValues: Record<string, string> = {};
    for (const f of kind.fields) {
      if (f.secret) {
        if ((secrets[f.name] ?? "") !== "") secretValues[f.name] = secrets[f.name] ?? "";
      } else if (values[f.name] !== undefined) {
        settings[f.name] = values[f.name] ?? "";
      }
    }
    const r = Number(rate);
    const body: DestinationInput = { name: name.trim(), enabled, settings, secrets: secretValues, caCert, ratePerMinute: Number.isInteger(r) ? r : 0 };
    if (clear.size > 0) body.clearSecrets = [...clear];
    setBusy(true);
    setError(null);
    try {
      onSaved(existing === undefined ? await api.createDestination({ ...body, kind: kind.name }) : await api.updateDestination(existing.id, body));
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="destination-form" onSubmit={(e) => void submit(e)} aria-label={existing === undefined ? "Add a destination" : `Change ${existing.name}`}>
      <ErrorAlert error={error} />
      {existing === undefined && (
        <div className="field">
          <label htmlFor={kindId}>Kind</label>
          <select id={kindId} value={kindName} onChange={(e) => setKindName(e.target.value)}>
            {kinds.map((k) => (
              <option key={k.name} value={k.name}>
                {k.title}
              </option>
            ))}
          </select>
        </div>
      )}
      <Field label="Name" value={name} onChange={setName} required maxLength={200} placeholder="SOC webhook" />
      {kind?.fields.map((f) => (
        <div key={f.name}>
          <KindInput
            field={f}
            value={f.secret ? (secrets[f.name] ?? "") : (values[f.name] ?? "")}
            isSet={existing?.secrets[f.name]?.set === true && !clear.has(f.name)}
            onChange={(v) => (f.secret ? setSecrets({ ...secrets, [f.name]: v }) : setValues({ ...values, [f.name]: v }))}
          />
          {f.secret && f.required !== true && existing?.secrets[f.name]?.set === true && (
            <label className="clear-secret">
              <input
                type="checkbox"
                checked={clear.has(f.name)}
                onChange={(e) => {
                  const next = new Set(clear);
                  if (e.target.checked) next.add(f.name);
                  else next.delete(f.name);
                  setClear(next);
                }}
              />{" "}
              Clear {f.label.toLowerCase()}
            </label>
          )}
        </div>
      ))}
      <div className="field">
        <label htmlFor={caId}>Extra CA certificates (optional)</label>
        <textarea
          id={caId}
          rows={3}
          value={caCert}
          onChange={(e) => setCaCert(e.target.value)}
          spellCheck={false}
          placeholder="-----BEGIN CERTIFICATE-----"
          aria-describedby={`${caId}-hint`}
        />
        <p className="hint" id={`${caId}-hint`}>
          PEM certificates trusted for this destination besides the system&apos;s (a private CA). Certificates are always verified.
        </p>
      </div>
      <Field label="Messages per minute" value={rate} onChange={setRate} inputMode="numeric" hint="At most this many messages a minute, in bursts of up to a sixth of it." />
      <div className="field">
        <label>
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
        </label>
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : existing === undefined ? "Add the destination" : "Save the changes"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The rule form's state: a RuleInput whose events, filter and mode are always set. */
type RuleDraft = Omit<RuleInput, "events" | "filter" | "mode"> & { events: string[]; filter: RuleFilter; mode: string };

const emptyRule = (): RuleDraft => ({ name: "", events: ["finding.new"], filter: {}, mode: "immediate" });

/** Adds or changes a rule of a destination. */
function RuleForm({ destination, existing, onSaved, onCancel }: { destination: Destination; existing?: Rule; onSaved: () => void; onCancel: () => void }) {
  const [r, setR] = useState<RuleDraft>(
    existing === undefined
      ? emptyRule()
      : { name: existing.name, events: existing.events, filter: existing.filter, mode: existing.mode, enabled: existing.enabled, ...(existing.digestMinutes ? { digestMinutes: existing.digestMinutes } : {}) },
  );
  const [lists, setLists] = useState({
    clusters: (existing?.filter.clusters ?? []).join(", "),
    namespaces: (existing?.filter.namespaces ?? []).join(", "),
    hosts: (existing?.filter.hosts ?? []).join(", "),
    registries: (existing?.filter.registries ?? []).join(", "),
  });
  const [risk, setRisk] = useState(String(existing?.filter.minRiskScore ?? ""));
  const [minutes, setMinutes] = useState(String(existing?.digestMinutes ?? 60));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const sevId = useId();
  const modeId = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const filter: RuleFilter = {
      ...(r.filter.minSeverity ? { minSeverity: r.filter.minSeverity } : {}),
      ...(risk.trim() !== "" ? { minRiskScore: Number(risk) } : {}),
      ...(r.filter.kevOnly ? { kevOnly: true } : {}),
      ...(r.filter.internetOnly ? { internetOnly: true } : {}),
      clusters: splitList(lists.clusters),
      namespaces: splitList(lists.namespaces),
      hosts: splitList(lists.hosts),
      registries: splitList(lists.registries),
    };
    const body: RuleInput = { name: r.name.trim(), events: r.events, filter, mode: r.mode, enabled: r.enabled ?? true };
    if (r.mode === "digest") body.digestMinutes = Number(minutes);
    setBusy(true);
    setError(null);
    try {
      if (existing === undefined) await api.createRule({ ...body, destinationId: destination.id });
      else await api.updateRule(existing.id, body);
      onSaved();
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  const toggleEvent = (ev: string, on: boolean) => setR({ ...r, events: on ? [...r.events, ev] : r.events.filter((x) => x !== ev) });
  return (
    <form className="rule-form" onSubmit={(e) => void submit(e)} aria-label={existing === undefined ? "Add a rule" : `Change rule ${existing.name}`}>
      <ErrorAlert error={error} />
      <Field label="Rule name" value={r.name} onChange={(v) => setR({ ...r, name: v })} required maxLength={200} placeholder="Critical findings" />
      <fieldset className="settings">
        <legend>Events</legend>
        {ruleEvents.map((ev) => (
          <label key={ev}>
            <input type="checkbox" checked={r.events.includes(ev)} onChange={(e) => toggleEvent(ev, e.target.checked)} /> {eventLabels[ev] ?? ev}
          </label>
        ))}
      </fieldset>
      <fieldset className="settings">
        <legend>Filters</legend>
        <div className="filters">
          <div className="field">
            <label htmlFor={sevId}>Minimum severity</label>
            <select id={sevId} value={r.filter.minSeverity ?? ""} onChange={(e) => setR({ ...r, filter: { ...r.filter, minSeverity: e.target.value } })}>
              <option value="">any</option>
              {["critical", "high", "medium", "low"].map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <Field label="Minimum risk score" value={risk} onChange={setRisk} inputMode="decimal" placeholder="0 to 100" />
          <Field label="Clusters" value={lists.clusters} onChange={(v) => setLists({ ...lists, clusters: v })} placeholder="prod-*, staging" />
          <Field label="Namespaces" value={lists.namespaces} onChange={(v) => setLists({ ...lists, namespaces: v })} />
          <Field label="Hosts" value={lists.hosts} onChange={(v) => setLists({ ...lists, hosts: v })} placeholder="web-*" />
          <Field label="Registries" value={lists.registries} onChange={(v) => setLists({ ...lists, registries: v })} placeholder="ghcr.io, docker.io" />
        </div>
        <label>
          <input type="checkbox" checked={r.filter.kevOnly === true} onChange={(e) => setR({ ...r, filter: { ...r.filter, kevOnly: e.target.checked } })} /> Known
          exploited (CISA KEV) only
        </label>
        <label>
          <input type="checkbox" checked={r.filter.internetOnly === true} onChange={(e) => setR({ ...r, filter: { ...r.filter, internetOnly: e.target.checked } })} />{" "}
          Nodes reachable from the internet only
        </label>
        <p className="hint">Lists are comma-separated; * stands for any characters. Severity, risk and KEV apply to findings; the others to every event with a node.</p>
      </fieldset>
      <div className="filters">
        <div className="field">
          <label htmlFor={modeId}>Delivery</label>
          <select id={modeId} value={r.mode} onChange={(e) => setR({ ...r, mode: e.target.value })}>
            <option value="immediate">at once</option>
            <option value="digest">in a digest</option>
          </select>
        </div>
        {r.mode === "digest" && <Field label="Digest every (minutes)" value={minutes} onChange={setMinutes} inputMode="numeric" hint="From 5 to 10080 (a week)." />}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : existing === undefined ? "Add the rule" : "Save the rule"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function outcomeTag(o: string): string {
  return o === "delivered" || o === "test" ? "tag status-complete" : o === "failed" ? "tag warn" : "tag status-error";
}

/** A destination's rules, test send, history and dead letters. */
function DestinationDetail({ d, kinds, admin, changed }: { d: Destination; kinds: DestinationKind[]; admin: boolean; changed: (notice: string) => void }) {
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [history, setHistory] = useState<Delivery[] | null>(null);
  const [dead, setDead] = useState<DeadLetter[] | null>(null);
  const [editing, setEditing] = useState(false);
  const [ruleForm, setRuleForm] = useState<Rule | "new" | null>(null);
  const [test, setTest] = useState<TestResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const load = async () => {
    const [r, h, x] = await Promise.all([api.rules(d.id), api.deliveries(d.id), api.deadLetters(d.id)]);
    setRules(r.items);
    setHistory(h.items);
    setDead(x.items);
  };
  useEffect(() => {
    load().catch((e: unknown) => setError(toApiError(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [d.id, d.updatedAt, d.status.pending, d.status.dead]);
  const act = async (what: () => Promise<unknown>, notice: string) => {
    setBusy(true);
    setError(null);
    try {
      await what();
      await load();
      changed(notice);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const sendTest = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.testDestination(d.id);
      setTest(r);
      await load();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="detail-h" className="wide destination-detail" data-destination-detail={d.name}>
      <h2 id="detail-h">
        {d.name} <span className="tag">{kinds.find((k) => k.name === d.kind)?.title ?? d.kind}</span>
      </h2>
      <ErrorAlert error={error} />
      <dl className="facts">
        <dt>Settings</dt>
        <dd>
          {Object.entries(d.settings).length === 0 ? "defaults" : Object.entries(d.settings).map(([k, v]) => `${k}: ${v}`).join("; ")}
        </dd>
        <dt>Secrets</dt>
        <dd>
          {Object.entries(d.secrets)
            .map(([k, s]) => `${k}: set${s.hint ? ` (${s.hint})` : ""}`)
            .join("; ") || "none"}
        </dd>
        <dt>Messages per minute</dt>
        <dd>{d.ratePerMinute}</dd>
        <dt>Last delivered</dt>
        <dd>
          <Time iso={d.status.lastSuccessAt} />
        </dd>
        {d.status.failures > 0 && (
          <>
            <dt>Failing</dt>
            <dd>
              {d.status.failures} attempt{d.status.failures === 1 ? "" : "s"} in a row; next <Time iso={d.status.nextAttemptAt} />: {d.status.lastError}
            </dd>
          </>
        )}
      </dl>
      {admin && (
        <div className="form-actions">
          <button type="button" className="primary" disabled={busy} onClick={() => void sendTest()}>
            {busy ? "Sending…" : "Send a test message"}
          </button>
          <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
            Change the settings
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (window.confirm(`Delete ${d.name}, its rules, history and dead letters?`)) void act(() => api.deleteDestination(d.id), `${d.name} deleted.`);
            }}
          >
            Delete <span className="sr-only">{d.name}</span>
          </button>
        </div>
      )}
      {test !== null && (
        <div className={test.delivered ? "alert ok" : "alert error"} role="status" data-test-result={test.delivered ? "delivered" : "failed"}>
          {test.delivered ? `Test message delivered in ${test.durationMs} ms.` : `Test message not delivered${test.status ? ` (HTTP ${test.status})` : ""}: ${test.error ?? ""}`}
        </div>
      )}
      {editing && (
        <DestinationForm
          kinds={kinds}
          existing={d}
          onCancel={() => setEditing(false)}
          onSaved={(x) => {
            setEditing(false);
            changed(`${x.name} saved.`);
          }}
        />
      )}

      <h3>Rules</h3>
      {rules === null ? (
        <Skeleton />
      ) : rules.length === 0 ? (
        <p>No rule yet: nothing is sent here until a rule says what.</p>
      ) : (
        <table className="data rules">
          <caption className="sr-only">Rules of {d.name}</caption>
          <TableHead cols={["Rule", "Events", "Filter", "Delivery"]} hidden="Actions" />
          <tbody>
            {rules.map((r) => (
              <tr key={r.id} data-rule={r.name}>
                <th scope="row">
                  {r.name}
                  {!r.enabled && <span className="tag">disabled</span>}
                </th>
                <td>{r.events.map((e) => eventLabels[e] ?? e).join(", ")}</td>
                <td>{describeFilter(r.filter)}</td>
                <td>
                  {r.mode === "digest" ? (
                    <>
                      digest every {r.digestMinutes} min, next <Time iso={r.nextDigestAt} /> ({r.pendingDigest} waiting)
                    </>
                  ) : (
                    "at once"
                  )}
                </td>
                <td className="actions">
                  {admin && (
                    <>
                      <button type="button" onClick={() => setRuleForm(r)}>
                        Change <span className="sr-only">rule {r.name}</span>
                      </button>
                      <button type="button" className="danger" disabled={busy} onClick={() => void act(() => api.deleteRule(r.id), `Rule ${r.name} deleted.`)}>
                        Delete <span className="sr-only">rule {r.name}</span>
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin && ruleForm === null && (
        <button type="button" onClick={() => setRuleForm("new")}>
          Add a rule
        </button>
      )}
      {ruleForm !== null && (
        <RuleForm
          key={ruleForm === "new" ? "new" : ruleForm.id}
          destination={d}
          {...(ruleForm === "new" ? {} : { existing: ruleForm })}
          onCancel={() => setRuleForm(null)}
          onSaved={() => {
            setRuleForm(null);
            void load();
            changed("Rule saved.");
          }}
        />
      )}

      <div className="section-head">
        <h3>Delivery history</h3>
        <button type="button" onClick={() => void load()}>
          Refresh <span className="sr-only">the history and dead letters</span>
        </button>
      </div>
      {history !== null && history.length === 0 && <p>Nothing sent yet.</p>}
      {history !== null && history.length > 0 && (
        <table className="data history">
          <caption className="sr-only">Delivery history of {d.name}</caption>
          <TableHead cols={["When", "Outcome", "Event", "Messages", "Attempt", "Took", "Error"]} />
          <tbody>
            {history.map((h) => (
              <tr key={h.id} data-outcome={h.outcome}>
                <td>
                  <Time iso={h.at} />
                </td>
                <td>
                  <span className={outcomeTag(h.outcome)}>{h.outcome.replace("_", " ")}</span>
                </td>
                <td>{h.event ?? ""}</td>
                <td title={h.keys.join("\n")}>{h.messages}</td>
                <td>{h.attempt ?? ""}</td>
                <td>{h.durationMs} ms</td>
                <td className="detail">
                  {h.status ? `HTTP ${h.status} ` : ""}
                  {h.error ?? ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Dead letters</h3>
      {dead !== null && dead.length === 0 && <p>None: every message was delivered or is still queued.</p>}
      {dead !== null && dead.length > 0 && (
        <>
          <table className="data dead">
            <caption className="sr-only">Dead letters of {d.name}</caption>
            <TableHead cols={["Failed", "Event", "Message", "Attempts", "Error"]} hidden="Actions" />
            <tbody>
              {dead.map((x) => (
                <tr key={x.id} data-dead={x.key}>
                  <td>
                    <Time iso={x.failedAt} />
                  </td>
                  <td>{x.event}</td>
                  <td>{x.title}</td>
                  <td>{x.attempts}</td>
                  <td className="detail">
                    {x.status ? `HTTP ${x.status} ` : ""}
                    {x.error}
                  </td>
                  <td className="actions">
                    {admin && (
                      <>
                        <button type="button" disabled={busy} onClick={() => void act(() => api.retryDead(d.id, [x.id]), "Queued again.")}>
                          Retry <span className="sr-only">{x.title}</span>
                        </button>
                        <button type="button" className="danger" disabled={busy} onClick={() => void act(() => api.discardDead(d.id, x.id), "Dead letter discarded.")}>
                          Discard <span className="sr-only">{x.title}</span>
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {admin && (
            <button type="button" disabled={busy} onClick={() => void act(() => api.retryDead(d.id), "Every dead letter queued again.")}>
              Retry all
            </button>
          )}
        </>
      )}
    </section>
  );
}

export default function IntegrationsPage() {
  const user = useUser();
  const admin = user.role === "admin";
  const [kinds, setKinds] = useState<DestinationKind[] | null>(null);
  const [dests, setDests] = useState<Destination[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState("");
  const load = async () => {
    const [k, d] = await Promise.all([api.destinationKinds(), api.destinations()]);
    setKinds(k.items);
    setDests(d.items);
  };
  useEffect(() => {
    load().catch((e: unknown) => setError(toApiError(e)));
  }, []);
  const changed = (n: string) => {
    setNotice(n);
    load().catch((e: unknown) => setError(toApiError(e)));
  };
  const current = dests?.find((d) => d.id === selected);
  return (
    <Page title="Integrations">
      <ErrorAlert error={error} />
      {notice !== "" && <Notice>{notice}</Notice>}
      <p className="hint">
        Destinations receive what rules choose: new and fixed findings, exploited vulnerabilities reachable from the internet, failed scans, sensors
        gone offline, nodes newly exposed. Messages wait in order while a destination is down and are retried; those it refuses land in its dead
        letters.
      </p>
      <section aria-labelledby="dest-h" className="wide">
        <h2 id="dest-h">Destinations</h2>
        {dests === null ? (
          error === null && <Skeleton />
        ) : dests.length === 0 ? (
          <p>No destination yet.{admin ? " Add one below." : " An admin can add one."}</p>
        ) : (
          <table className="data destinations">
            <caption className="sr-only">Destinations</caption>
            <TableHead cols={["Name", "Kind", "State", "Queued", "Dead letters", "Last delivered"]} hidden="Actions" />
            <tbody>
              {dests.map((d) => (
                <tr key={d.id} data-destination={d.name} aria-current={d.id === selected ? "true" : undefined}>
                  <th scope="row">{d.name}</th>
                  <td>{kinds?.find((k) => k.name === d.kind)?.title ?? d.kind}</td>
                  <td>
                    {!d.enabled ? (
                      <span className="tag">disabled</span>
                    ) : d.status.failures > 0 ? (
                      <span className="tag status-error" title={d.status.lastError}>
                        failing
                      </span>
                    ) : (
                      <span className="tag status-complete">ok</span>
                    )}
                  </td>
                  <td>{d.status.pending}</td>
                  <td>{d.status.dead}</td>
                  <td>
                    <Time iso={d.status.lastSuccessAt} />
                  </td>
                  <td className="actions">
                    <button type="button" onClick={() => setSelected(d.id === selected ? null : d.id)} aria-expanded={d.id === selected}>
                      {d.id === selected ? "Close" : "Open"} <span className="sr-only">{d.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {admin && kinds !== null && !adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Add a destination
          </button>
        )}
        {adding && kinds !== null && (
          <DestinationForm
            kinds={kinds}
            onCancel={() => setAdding(false)}
            onSaved={(d) => {
              setAdding(false);
              setSelected(d.id);
              changed(`${d.name} added. Add a rule to say what it receives.`);
            }}
          />
        )}
      </section>
      {current !== undefined && kinds !== null && <DestinationDetail key={current.id} d={current} kinds={kinds} admin={admin} changed={changed} />}
    </Page>
  );
}
