// Scheduled findings reports (internal/reports): the report of the list as
// filtered now (its scope and filters), as PDF, XLSX or CSV, daily or
// weekly at an hour (UTC), to an email or S3 destination of the
// integrations; the schedules with their last outcome, run now or removed.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api, type Destination, type ReportSchedule } from "./api";
import { ErrorAlert, Field, Notice, SelectField, TableHead, Time, toApiError } from "./components";

const formats = ["pdf", "xlsx", "csv"] as const;
const cadences = ["weekly", "daily"] as const;
const hours = Array.from({ length: 24 }, (_, h) => String(h));
const weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] as const;

/** When a schedule runs, in words. */
function when(s: Pick<ReportSchedule, "cadence" | "hour" | "weekday">): string {
  const at = `${String(s.hour).padStart(2, "0")}:00 UTC`;
  return s.cadence === "weekly" ? `every ${weekdays[s.weekday ?? 0]} at ${at}` : `every day at ${at}`;
}

/** The schedules, and (for admins) a form to schedule the report of the current filters. */
export function ReportSchedules({ query, canChange }: { query: string; canChange: boolean }) {
  const [items, setItems] = useState<ReportSchedule[] | null>(null);
  const [dests, setDests] = useState<Destination[]>([]);
  const [error, setError] = useState<ReturnType<typeof toApiError> | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [name, setName] = useState("Weekly findings report");
  const [format, setFormat] = useState<(typeof formats)[number]>("pdf");
  const [cadence, setCadence] = useState<(typeof cadences)[number]>("weekly");
  const [hour, setHour] = useState("7");
  const [weekday, setWeekday] = useState<(typeof weekdays)[number]>("Monday");
  const [dest, setDest] = useState("");
  const load = useCallback(() => {
    api
      .reportSchedules()
      .then((p) => setItems(p.items))
      .catch((e: unknown) => setError(toApiError(e)));
    api
      .destinations()
      .then((p) => {
        const fileDests = p.items.filter((d) => d.kind === "email" || d.kind === "s3");
        setDests(fileDests);
        setDest((cur) => (cur === "" ? (fileDests[0]?.id ?? "") : cur));
      })
      .catch(() => setDests([]));
  }, []);
  useEffect(load, [load]);
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
  const create = (e: FormEvent) => {
    e.preventDefault();
    void act(
      () =>
        api.createReportSchedule({
          name,
          query,
          format,
          cadence,
          hour: Number(hour),
          weekday: weekdays.indexOf(weekday),
          destinationId: dest,
        }),
      `Scheduled "${name}".`,
    );
  };
  const destName = (id: string) => dests.find((d) => d.id === id)?.name ?? id;
  return (
    <section aria-labelledby="schedules-h" className="wide">
      <h2 id="schedules-h">Scheduled reports</h2>
      <ErrorAlert error={error} />
      {notice !== null && <Notice>{notice}</Notice>}
      {items !== null && items.length > 0 && (
        <table className="data" data-schedules>
          <caption className="sr-only">Scheduled findings reports</caption>
          <TableHead cols={["Name", "Scope and filters", "Format", "When", "To", "Next", "Last"]} hidden="Actions" />
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-schedule={s.name}>
                <th scope="row">{s.name}</th>
                <td>
                  {s.scope}
                  {s.query !== undefined && s.query !== "" && <code> {s.query}</code>}
                </td>
                <td>{s.format.toUpperCase()}</td>
                <td>{when(s)}</td>
                <td>{destName(s.destinationId)}</td>
                <td>
                  <Time iso={s.nextRunAt} />
                </td>
                <td data-last={s.lastStatus ?? ""}>
                  {s.lastRunAt !== undefined ? (
                    <>
                      {s.lastStatus} <Time iso={s.lastRunAt} />
                      {s.lastError !== undefined && s.lastError !== "" && <span className="muted"> {s.lastError}</span>}
                    </>
                  ) : (
                    "not yet"
                  )}
                </td>
                <td className="actions">
                  {canChange && (
                    <>
                      <button type="button" onClick={() => void act(() => api.runReportSchedule(s.id), `Ran "${s.name}".`)} aria-label={`Run now: ${s.name}`}>
                        Run now
                      </button>
                      <button type="button" className="danger" onClick={() => void act(() => api.deleteReportSchedule(s.id), `Removed "${s.name}".`)} aria-label={`Remove ${s.name}`}>
                        Remove
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canChange &&
        (dests.length === 0 ? (
          <p className="hint">
            Reports are delivered to an email or S3 destination: <Link to="/settings/integrations">add one in Integrations</Link>, then schedule the
            report of these findings here.
          </p>
        ) : (
          <form className="filters" onSubmit={create} aria-label="Schedule the report of these findings">
            <Field label="Report name" value={name} onChange={setName} required maxLength={200} />
            <SelectField label="Format" value={format} options={formats} onChange={setFormat} words={(f) => f.toUpperCase()} />
            <SelectField label="Cadence" value={cadence} options={cadences} onChange={setCadence} />
            {cadence === "weekly" && <SelectField label="Day" value={weekday} options={weekdays} onChange={setWeekday} />}
            <SelectField label="Hour (UTC)" value={hour} options={hours} onChange={setHour} words={(h) => `${h.padStart(2, "0")}:00`} />
            <SelectField label="Deliver to" value={dest} options={dests.map((d) => d.id)} onChange={setDest} words={destName} />
            <button type="submit" className="primary" disabled={dest === ""}>
              Schedule this report
            </button>
          </form>
        ))}
    </section>
  );
}
