// The signed-in user's own account: profile, password, API key.
import { useEffect, useState } from "react";
import { ApiError, api } from "../api";
import { CopyField, ErrorAlert, Field, Notice, Page, Time, minPasswordLength, passwordHint, useSubmit } from "../components";
import { useUser } from "../session";

export default function AccountPage() {
  const user = useUser();
  return (
    <Page title="My account">
      <section aria-labelledby="profile-h">
        <h2 id="profile-h">Profile</h2>
        <dl className="facts">
          <dt>Name</dt>
          <dd>{user.name}</dd>
          <dt>Email</dt>
          <dd>{user.email}</dd>
          <dt>Role</dt>
          <dd>
            <span className={`role role-${user.role}`}>{user.role}</span>
          </dd>
          <dt>Member since</dt>
          <dd>
            <Time iso={user.createdAt} />
          </dd>
        </dl>
      </section>
      <ChangePassword />
      <ApiKey />
    </Page>
  );
}

function ChangePassword() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, setError, onSubmit } = useSubmit(async () => {
    setDone(false);
    if (next !== confirm) {
      setError(new ApiError(0, "The two new passwords differ", "Type the same new password twice."));
      return;
    }
    await api.changePassword({ currentPassword: current, newPassword: next });
    setCurrent("");
    setNext("");
    setConfirm("");
    setDone(true);
  });
  return (
    <section aria-labelledby="password-h">
      <h2 id="password-h">Change password</h2>
      <form onSubmit={onSubmit} className="narrow">
        <ErrorAlert error={error} />
        {done && <Notice>Your password is changed.</Notice>}
        <Field label="Current password" type="password" autoComplete="current-password" required value={current} onChange={setCurrent} />
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          minLength={minPasswordLength}
          hint={passwordHint}
          value={next}
          onChange={setNext}
        />
        <Field label="Confirm new password" type="password" autoComplete="new-password" required value={confirm} onChange={setConfirm} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : "Change password"}
        </button>
      </form>
    </section>
  );
}

function ApiKey() {
  const [key, setKey] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  // Whether a key exists already (its hint): only then does a new one replace anything.
  const [existing, setExisting] = useState<{ prefix: string; createdAt: string } | null | undefined>(undefined);
  useEffect(() => {
    api
      .me()
      .then((m) => setExisting(m.apiKey ?? null))
      .catch(() => setExisting(undefined));
  }, []);
  const { busy, error, onSubmit } = useSubmit(async () => {
    const r = await api.resetApiKey();
    setKey(r.apiKey);
    setExisting({ prefix: r.apiKey.slice(0, 8), createdAt: new Date().toISOString() });
    setConfirming(false);
  });
  // The first key replaces nothing: no warning, no confirmation.
  const start = () => (existing === null ? void onSubmit() : setConfirming(true));
  return (
    <section aria-labelledby="apikey-h">
      <h2 id="apikey-h">API key</h2>
      <p>
        Your API key carries your role. Use it as <code>Authorization: Bearer KEY</code> with the API or give it to a
        sensor. Riskmap stores only a hash of it, so it is shown once, when you create it; creating a new one stops the
        old one from working.
      </p>
      {existing !== undefined && key === null && (
        <p data-api-key={existing === null ? "none" : "set"}>
          {existing === null ? (
            "You have no API key yet."
          ) : (
            <>
              You have an API key (<code>{existing.prefix}</code>), created <Time iso={existing.createdAt} />.
            </>
          )}
        </p>
      )}
      <ErrorAlert error={error} />
      {key !== null && (
        <div className="secret">
          <CopyField label="Your new API key" value={key} hint="Copy it now: it will not be shown again." />
        </div>
      )}
      {confirming ? (
        <div className="confirm" role="group" aria-label="Confirm API key reset">
          <p>Anything using your current key stops working. Create a new key?</p>
          <button type="button" className="danger" disabled={busy} onClick={() => void onSubmit()}>
            {busy ? "Creating…" : "Yes, create a new key"}
          </button>
          <button type="button" onClick={() => setConfirming(false)} autoFocus>
            Cancel
          </button>
        </div>
      ) : (
        <button type="button" onClick={start} disabled={busy}>
          {existing === null ? "Create an API key" : key === null ? "Create a new API key" : "Create another API key"}
        </button>
      )}
    </section>
  );
}
