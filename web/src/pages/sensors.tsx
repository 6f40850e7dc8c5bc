// Settings → Sensors (admins): the sensors that report, the enrolled
// sensors with their identity (revocable), the enrolment tokens, and
// ready-to-copy install commands for new sensors (Docker, Kubernetes
// manifest, Helm chart, binary with the systemd unit; the files are under
// deploy/ in the repository), filled in with this console's public URL, its
// certificate pin (GET /api/v1/console-info) and an enrolment token created
// here (shown once). Each sensor enrols with the token and receives a key of
// its own.
import { useEffect, useState } from "react";
import { api, type ApiError, type ConsoleInfo, type CreatedEnrolmentToken, type EnrolledSensor, type EnrolmentToken, type SensorInfo } from "../api";
import { CopyField, ErrorAlert, Field, Notice, Page, Skeleton, TableHead, Time, toApiError } from "../components";

/** A multi-line command with a copy button. */
function Command({ title, text, id }: { title: string; text: string; id: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section aria-labelledby={`${id}-h`} className="command" data-command={id}>
      <h3 id={`${id}-h`}>{title}</h3>
      <pre tabIndex={0} aria-label={`${title} commands`}>
        <code>{text}</code>
      </pre>
      <button type="button" onClick={() => void copy()} aria-label={`Copy the ${title} commands`}>
        Copy
      </button>
      <span className="hint" aria-live="polite">
        {copied ? " Copied." : ""}
      </span>
    </section>
  );
}

/** Single-quoted for a POSIX shell. */
function sh(s: string): string {
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

export function installCommands(info: ConsoleInfo, token: string): { id: string; title: string; text: string }[] {
  const k = token === "" ? "<enrolment token>" : token;
  const image = `riskmap/riskmap:${info.version === "" ? "dev" : info.version}`;
  return [
    {
      id: "docker",
      title: "Docker",
      text: [
        `# Image: docker build -f deploy/Dockerfile -t ${image} .`,
        `docker run -d --name riskmap-sensor --restart unless-stopped \\`,
        `  --pid host --network host --uts host \\`,
        `  --read-only --cap-drop ALL \\`,
        `  --cap-add SYS_PTRACE --cap-add DAC_READ_SEARCH --cap-add NET_ADMIN \\`,
        `  --security-opt no-new-privileges \\`,
        `  -v /:/host:ro -v /var/run/docker.sock:/var/run/docker.sock -v /run/containerd:/run/containerd \\`,
        `  -v riskmap-sensor-state:/var/lib/riskmap-sensor \\`,
        `  -e RISKMAP_ENROLMENT_TOKEN=${sh(k)} \\`,
        `  ${image} sensor --host-root /host \\`,
        `    --console ${sh(info.url)} --console-ca-sha256 ${sh(info.fingerprint)}`,
      ].join("\n"),
    },
    {
      id: "kubernetes",
      title: "Kubernetes (manifest)",
      text: [
        `kubectl create namespace riskmap`,
        `kubectl -n riskmap create secret generic riskmap-sensor \\`,
        `  --from-literal=enrolment-token=${sh(k)} \\`,
        `  --from-literal=console-ca-sha256=${sh(info.fingerprint)}`,
        `kubectl apply -f deploy/kubernetes/daemonset.yaml`,
        `kubectl -n riskmap set env daemonset/riskmap-sensor RISKMAP_CONSOLE=${sh(info.url)}`,
      ].join("\n"),
    },
    {
      id: "helm",
      title: "Helm",
      text: [
        `helm install riskmap-sensor deploy/helm/riskmap-sensor \\`,
        `  --namespace riskmap --create-namespace \\`,
        `  --set console.url=${sh(info.url)} \\`,
        `  --set console.caSHA256=${sh(info.fingerprint)} \\`,
        `  --set enrolmentToken=${sh(k)}`,
      ].join("\n"),
    },
    {
      id: "systemd",
      title: "Binary with systemd",
      text: [
        `sudo install -m 0755 riskmap /usr/local/bin/riskmap`,
        `sudo install -d -m 0700 /etc/riskmap`,
        `printf '%s\\n' ${sh(k)} | sudo tee /etc/riskmap/enrolment-token >/dev/null && sudo chmod 0600 /etc/riskmap/enrolment-token`,
        `printf 'RISKMAP_CONSOLE=%s\\nRISKMAP_CONSOLE_CA_SHA256=%s\\n' ${sh(info.url)} ${sh(info.fingerprint)} | sudo tee /etc/riskmap/sensor.env >/dev/null`,
        `sudo install -m 0644 deploy/systemd/riskmap-sensor.service /etc/systemd/system/`,
        `sudo systemctl daemon-reload && sudo systemctl enable --now riskmap-sensor`,
      ].join("\n"),
    },
  ];
}

function tokenState(t: EnrolmentToken, now: number): string {
  if (t.revokedAt !== undefined) return "revoked";
  if (Date.parse(t.expiresAt) <= now) return "expired";
  if (t.maxSensors > 0 && t.uses >= t.maxSensors) return "used up";
  return "usable";
}

export default function SensorsPage() {
  const [info, setInfo] = useState<ConsoleInfo | null>(null);
  const [reporting, setReporting] = useState<SensorInfo[] | null>(null);
  const [enrolled, setEnrolled] = useState<EnrolledSensor[] | null>(null);
  const [tokens, setTokens] = useState<EnrolmentToken[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState("");
  const [created, setCreated] = useState<CreatedEnrolmentToken | null>(null);
  const [name, setName] = useState("");
  const [maxSensors, setMaxSensors] = useState("1");
  const [hours, setHours] = useState("24");
  const [busy, setBusy] = useState(false);
  const load = async () => {
    const [i, r, e, t] = await Promise.all([api.consoleInfo(), api.sensors(), api.enrolledSensors(), api.enrolmentTokens()]);
    setInfo(i);
    setReporting(r);
    setEnrolled(e.items);
    setTokens(t.items);
  };
  useEffect(() => {
    load().catch((e: unknown) => setError(toApiError(e)));
  }, []);
  const act = async (what: () => Promise<unknown>, done: string) => {
    setBusy(true);
    try {
      await what();
      await load();
      setError(null);
      setNotice(done);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const create = async () => {
    const max = Number(maxSensors);
    const exp = Number(hours);
    if (name.trim() === "" || !Number.isInteger(max) || max < 0 || !Number.isInteger(exp) || exp < 1) {
      setError(toApiError(new Error("Give the token a name, a whole number of sensors (0 for no cap) and of hours (1 or more).")));
      return;
    }
    await act(async () => setCreated(await api.createEnrolmentToken({ name: name.trim(), maxSensors: max, expiresInHours: exp })), "Enrolment token created.");
  };
  const hostOf = new Map((reporting ?? []).map((s) => [s.id, s]));
  const now = Date.now();
  return (
    <Page title="Sensors">
      <ErrorAlert error={error} />
      {notice !== "" && <Notice>{notice}</Notice>}
      <section aria-labelledby="enrolled-h" className="wide">
        <h2 id="enrolled-h">Enrolled sensors</h2>
        {enrolled === null ? (
          error === null && <Skeleton />
        ) : enrolled.length === 0 ? (
          <p>No sensor has enrolled yet. Create an enrolment token below and install a sensor with it.</p>
        ) : (
          <table className="data sensors">
            <caption className="sr-only">Enrolled sensors</caption>
            <TableHead cols={["Host", "Version", "Nodes", "Last request", "From", "State"]} hidden="Actions" />
            <tbody>
              {enrolled.map((s) => {
                const r = hostOf.get(s.id);
                return (
                  <tr key={s.id} data-sensor={s.hostname} data-sensor-id={s.id}>
                    <th scope="row" title={s.id}>
                      {s.hostname}
                    </th>
                    <td>{s.version ?? ""}</td>
                    <td>{r?.nodes ?? 0}</td>
                    <td>
                      <Time iso={s.lastSeen} />
                    </td>
                    <td>{s.lastAddress ?? ""}</td>
                    <td>
                      {s.revokedAt !== undefined ? (
                        <span className="tag status-error">revoked</span>
                      ) : r === undefined ? (
                        <span className="tag">enrolled</span>
                      ) : r.silent ? (
                        <span className="tag status-error">silent</span>
                      ) : (
                        <span className="tag status-complete">reporting</span>
                      )}
                      {r?.probeErrors !== undefined && r.probeErrors !== "" && <span className="muted"> {r.probeErrors}</span>}
                    </td>
                    <td>
                      {s.revokedAt === undefined && (
                        <button type="button" disabled={busy} onClick={() => void act(() => api.revokeSensor(s.id), `${s.hostname} revoked: its next request is refused.`)}>
                          Revoke <span className="sr-only">{s.hostname}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="tokens-h" className="wide">
        <h2 id="tokens-h">Enrolment tokens</h2>
        <p className="hint">
          A sensor enrols once with a token and then holds a key of its own. Give a fleet (a cluster&apos;s DaemonSet) one token capped near its node
          count; give a single host a single-use token.
        </p>
        <div className="filters">
          <Field label="Token name" value={name} onChange={setName} placeholder="production cluster" />
          <Field label="Sensors it may enrol" value={maxSensors} onChange={setMaxSensors} inputMode="numeric" hint="1: single use; 0: no cap" />
          <Field label="Valid for (hours)" value={hours} onChange={setHours} inputMode="numeric" />
          <div className="field">
            <button type="button" className="primary" disabled={busy} onClick={() => void create()}>
              {busy ? "Creating…" : "Create an enrolment token"}
            </button>
          </div>
        </div>
        {created !== null && (
          <CopyField label={`Enrolment token "${created.name}"`} value={created.token} hint="Shown once: copy it now. The install commands below use it." />
        )}
        {tokens !== null && tokens.length > 0 && (
          <table className="data tokens">
            <caption className="sr-only">Enrolment tokens</caption>
            <TableHead cols={["Name", "Token", "Enrolled", "Expires", "Created by", "State"]} hidden="Actions" />
            <tbody>
              {tokens.map((t) => {
                const state = tokenState(t, now);
                return (
                  <tr key={t.id} data-token={t.name}>
                    <th scope="row">{t.name}</th>
                    <td>
                      <code>{t.prefix}</code>
                    </td>
                    <td>{t.maxSensors > 0 ? `${t.uses} of ${t.maxSensors}` : `${t.uses}`}</td>
                    <td>
                      <Time iso={t.expiresAt} />
                    </td>
                    <td>{t.createdBy}</td>
                    <td>
                      <span className={state === "usable" ? "tag status-complete" : "tag"}>{state}</span>
                    </td>
                    <td>
                      {state === "usable" && (
                        <button type="button" disabled={busy} onClick={() => void act(() => api.revokeEnrolmentToken(t.id), `Token "${t.name}" revoked.`)}>
                          Revoke <span className="sr-only">token {t.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      {info !== null && (
        <section aria-labelledby="install-h" className="wide">
          <h2 id="install-h">Install a sensor</h2>
          <dl className="facts">
            <dt>Console URL</dt>
            <dd data-console-url>{info.url}</dd>
            <dt>Certificate pin (SHA-256)</dt>
            <dd>
              <code data-pin>{info.fingerprint}</code>
            </dd>
          </dl>
          <p className="hint">
            The URL is the console&apos;s public URL (<code>--public-url</code>); sensors must reach it.
            {created === null ? " Create an enrolment token above to fill it into the commands." : ""}
          </p>
          {installCommands(info, created?.token ?? "").map((c) => (
            <Command key={c.id} id={c.id} title={c.title} text={c.text} />
          ))}
        </section>
      )}
    </Page>
  );
}
