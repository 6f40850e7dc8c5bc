// Signed-out pages: first-run registration, login, accepting an invitation,
// and setting a new password from a one-time reset link.
import { startTransition, useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { ApiError, api, type InvitationInfo } from "../api";
import { AuthCard, ErrorAlert, Field, Notice, formatTime, minPasswordLength, passwordHint, toApiError, useSubmit } from "../components";
import { useSession } from "../session";

/**
 * The one-time token of an invitation or reset link: in the fragment
 * (/invite#token=…, which browsers never send to servers or in Referer)
 * or, for links built by hand, in the path (/invite/…).
 */
function useLinkToken(): string {
  const { token } = useParams();
  const { hash } = useLocation();
  if (token !== undefined && token !== "") return token;
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

/** Only same-origin client paths may be redirect targets. */
function safeNext(next: string | null): string {
  return next !== null && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function PasswordPair({
  password,
  confirm,
  setPassword,
  setConfirm,
  label = "Password",
}: {
  password: string;
  confirm: string;
  setPassword: (v: string) => void;
  setConfirm: (v: string) => void;
  label?: string;
}) {
  return (
    <>
      <Field
        label={label}
        type="password"
        autoComplete="new-password"
        required
        minLength={minPasswordLength}
        hint={passwordHint}
        value={password}
        onChange={setPassword}
      />
      <Field
        label={`Confirm ${label.toLowerCase()}`}
        type="password"
        autoComplete="new-password"
        required
        value={confirm}
        onChange={setConfirm}
      />
    </>
  );
}

function mismatch(a: string, b: string, setError: (e: ApiError) => void): boolean {
  if (a === b) return false;
  setError(new ApiError(0, "The two passwords differ", "Type the same password twice."));
  return true;
}

export function RegisterPage() {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [organisation, setOrganisation] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const { busy, error, setError, onSubmit } = useSubmit(async () => {
    if (mismatch(password, confirm, setError)) return;
    const user = await api.register({ email, password, name, organisation });
    // One transition for both, so the gate never sees the new session on the old route.
    startTransition(() => {
      signedIn(user);
      navigate("/", { replace: true });
    });
  });
  return (
    <AuthCard title="Create the first account">
      <p>
        Welcome to Riskmap. This console has no users yet: the account you create now is the organisation's
        administrator. Everyone else joins by invitation.
      </p>
      <form onSubmit={onSubmit} noValidate={false}>
        <ErrorAlert error={error} />
        <Field label="Organisation" autoComplete="organization" required value={organisation} onChange={setOrganisation} />
        <Field label="Your name" autoComplete="name" required value={name} onChange={setName} />
        <Field label="Email" type="email" autoComplete="email" required value={email} onChange={setEmail} />
        <PasswordPair password={password} confirm={confirm} setPassword={setPassword} setConfirm={setConfirm} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Creating…" : "Create account"}
        </button>
      </form>
    </AuthCard>
  );
}

export function LoginPage() {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, onSubmit } = useSubmit(async () => {
    const user = await api.login({ email, password });
    startTransition(() => {
      signedIn(user);
      navigate(safeNext(params.get("next")), { replace: true });
    });
  });
  return (
    <AuthCard title="Sign in">
      {params.get("signedout") !== null && <Notice>You are signed out.</Notice>}
      <form onSubmit={onSubmit}>
        <ErrorAlert error={error} />
        <Field label="Email" type="email" autoComplete="username" required value={email} onChange={setEmail} />
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={setPassword} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="hint">
        Forgot your password? Ask an administrator for a reset link, or run{" "}
        <code>riskmap console reset-password EMAIL</code> on the console host.
      </p>
    </AuthCard>
  );
}

export function AcceptInvitePage() {
  const token = useLinkToken();
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [info, setInfo] = useState<InvitationInfo | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  useEffect(() => {
    if (token === "") {
      setLoadError(new ApiError(0, "This link has no invitation token", "Open the whole link you were sent."));
      return;
    }
    api.invitation(token).then(setInfo, (e: unknown) => setLoadError(toApiError(e)));
  }, [token]);
  const { busy, error, setError, onSubmit } = useSubmit(async () => {
    if (mismatch(password, confirm, setError)) return;
    const user = await api.acceptInvitation(token, { name, password });
    // One transition for both, so the gate never sees the new session on the old route.
    startTransition(() => {
      signedIn(user);
      navigate("/", { replace: true });
    });
  });
  return (
    <AuthCard title="Join Riskmap">
      {loadError !== null && (
        <>
          <ErrorAlert error={loadError} />
          <p>
            This invitation cannot be used. Invitations are single-use and expire after 48 hours: ask an administrator
            for a new one. <Link to="/login">Sign in</Link> if you already have an account.
          </p>
        </>
      )}
      {info === null && loadError === null && <p aria-busy="true">Checking the invitation…</p>}
      {info !== null && (
        <form onSubmit={onSubmit}>
          <p>
            You are invited as <strong>{info.email}</strong> with the <strong>{info.role}</strong> role. The invitation
            expires {formatTime(info.expiresAt)}.
          </p>
          <ErrorAlert error={error} />
          <Field label="Your name" autoComplete="name" required value={name} onChange={setName} />
          <PasswordPair password={password} confirm={confirm} setPassword={setPassword} setConfirm={setConfirm} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Joining…" : "Accept invitation"}
          </button>
        </form>
      )}
    </AuthCard>
  );
}

export function ResetPasswordPage() {
  const token = useLinkToken();
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, setError, onSubmit } = useSubmit(async () => {
    if (mismatch(password, confirm, setError)) return;
    await api.resetPassword({ token, newPassword: password });
    setDone(true);
  });
  return (
    <AuthCard title="Choose a new password">
      {done ? (
        <>
          <Notice>Your password is changed.</Notice>
          <p>
            <Link to="/login">Sign in</Link> with your new password.
          </p>
        </>
      ) : (
        <form onSubmit={onSubmit}>
          <ErrorAlert error={error} />
          <PasswordPair
            label="New password"
            password={password}
            confirm={confirm}
            setPassword={setPassword}
            setConfirm={setConfirm}
          />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Saving…" : "Set password"}
          </button>
        </form>
      )}
    </AuthCard>
  );
}
