// Settings → Sensors: the sensors that report, and ready-to-copy install
// commands for a new one (Docker, Kubernetes manifest, Helm chart, binary
// with the systemd unit; the files are under deploy/ in the repository),
// filled in with this console's public URL, its certificate pin (SHA-256,
// GET /api/v1/console-info) and an API key. The key is the user's own:
// pasted, or created here (which replaces the user's current key).
import { useEffect, useId, useState } from "react";
import { api, type ApiError, type ConsoleInfo, type SensorInfo } from "../api";
import { ErrorAlert, Field, Page, TableHead, Time, toApiError } from "../components";

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

export function installCommands(info: ConsoleInfo, key: string): { id: string; title: string; text: string }[] {
  const k = key === "" ? "<API key>" : key;
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
        `  -e RISKMAP_API_KEY=${sh(k)} \\`,
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
        `  --from-literal=api-key=${sh(k)} \\`,
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
        `  --set apiKey=${sh(k)}`,
      ].join("\n"),
    },
    {
      id: "systemd",
      title: "Binary with systemd",
      text: [
        `sudo install -m 0755 riskmap /usr/local/bin/riskmap`,
        `sudo install -d -m 0700 /etc/riskmap`,
        `printf '%s\\n' ${sh(k)} | sudo tee /etc/riskmap/sensor.key >/dev/null && sudo chmod 0600 /etc/riskmap/sensor.key`,
        `printf 'RISKMAP_CONSOLE=%s\\nRISKMAP_CONSOLE_CA_SHA256=%s\\n' ${sh(info.url)} ${sh(info.fingerprint)} | sudo tee /etc/riskmap/sensor.env >/dev/null`,
        `sudo install -m 0644 deploy/systemd/riskmap-sensor.service /etc/systemd/system/`,
        `sudo systemctl daemon-reload && sudo systemctl enable --now riskmap-sensor`,
      ].join("\n"),
    },
  ];
}

export default function SensorsPage() {
  const [info, setInfo] = useState<ConsoleInfo | null>(null);
  const [sensors, setSensors] = useState<SensorInfo[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const warnId = useId();
  useEffect(() => {
    Promise.all([api.consoleInfo(), api.sensors()])
      .then(([i, s]) => (setInfo(i), setSensors(s)))
      .catch((e: unknown) => setError(toApiError(e)));
  }, []);
  const newKey = async () => {
    setBusy(true);
    try {
      setKey((await api.resetApiKey()).apiKey);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title="Sensors">
      <ErrorAlert error={error} />
      <section aria-labelledby="reporting-h" className="wide">
        <h2 id="reporting-h">Reporting</h2>
        {sensors === null ? (
          error === null && <p aria-busy="true">Loading…</p>
        ) : sensors.length === 0 ? (
          <p>No sensor has reported yet.</p>
        ) : (
          <table className="data sensors">
            <caption className="sr-only">Sensors that have reported</caption>
            <TableHead cols={["Host", "Version", "Nodes", "Last report", "State"]} />
            <tbody>
              {sensors.map((s) => (
                <tr key={s.id} data-sensor={s.hostname}>
                  <th scope="row">{s.hostname}</th>
                  <td>{s.version}</td>
                  <td>{s.nodes}</td>
                  <td>
                    <Time iso={s.lastReport} />
                  </td>
                  <td>
                    {s.silent ? <span className="tag status-error">silent</span> : <span className="tag status-complete">reporting</span>}
                    {s.probeErrors !== undefined && s.probeErrors !== "" && <span className="muted"> {s.probeErrors}</span>}
                  </td>
                </tr>
              ))}
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
            The URL is the console&apos;s public URL (<code>--public-url</code>); sensors must reach it. A sensor signs in with the API key of a
            user of role standard or admin.
          </p>
          <div className="filters">
            <Field
              label="API key for the sensors"
              value={key}
              onChange={setKey}
              spellCheck={false}
              autoComplete="off"
              placeholder="rmk_…"
              hint="Paste a key, or create one. It goes only into the commands below."
            />
            <div className="field">
              <button type="button" onClick={() => void newKey()} disabled={busy} aria-describedby={warnId}>
                {busy ? "Creating…" : "Create a new API key for me"}
              </button>
              <p className="hint" id={warnId}>
                Replaces your current API key: anything using it must switch to the new one.
              </p>
            </div>
          </div>
          {installCommands(info, key).map((c) => (
            <Command key={c.id} id={c.id} title={c.title} text={c.text} />
          ))}
        </section>
      )}
    </Page>
  );
}
