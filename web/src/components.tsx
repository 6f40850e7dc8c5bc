// Building blocks shared by the pages: titled pages that take focus on
// navigation, labelled form fields, problem alerts, copyable secrets.
import { useEffect, useId, useRef, useState, type FormEvent, type InputHTMLAttributes, type ReactNode } from "react";
import { api, ApiError, scanTypes, type ScanType, type TypeSensors } from "./api";
import { formatDateTime } from "./format";

/** A page: sets the document title and moves focus to its heading, so screen readers announce navigation. */
export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Riskmap`;
    h1.current?.focus({ preventScroll: false });
  }, [title]);
  return (
    <>
      <div className="page-head">
        <h1 ref={h1} tabIndex={-1}>
          {title}
        </h1>
        {actions}
      </div>
      {children}
    </>
  );
}

/** The centred card used by the signed-out pages. */
export function AuthCard({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <p className="brand" aria-hidden="true">
          <img src="/favicon.svg" alt="" width={28} height={28} /> Riskmap
        </p>
        <Page title={title}>{children}</Page>
      </div>
    </main>
  );
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(0, "Unexpected error", e instanceof Error ? e.message : String(e));
}

/** A problem returned by the console, announced and focused so keyboard users land on it. */
export function ErrorAlert({ error }: { error: ApiError | null }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error !== null) ref.current?.focus();
  }, [error]);
  if (error === null) return null;
  const showDetail = error.detail !== "" && error.detail !== error.title;
  return (
    <div ref={ref} className="alert error" role="alert" tabIndex={-1} data-status={error.status}>
      <strong>{error.title}</strong>
      {showDetail && <span> {error.detail}</span>}
    </div>
  );
}

/** How long an action's banner stays (ms) before it clears itself. */
export const noticeLifetime = 15_000;

/**
 * A status banner. The result of an action (a text) can be dismissed and
 * clears itself after noticeLifetime; a new text shows again.
 */
export function Notice({ children }: { children: ReactNode }) {
  const text = typeof children === "string" ? children : null;
  const [dismissed, setDismissed] = useState<string | null>(null);
  useEffect(() => {
    if (text === null) return;
    setDismissed(null);
    const t = window.setTimeout(() => setDismissed(text), noticeLifetime);
    return () => window.clearTimeout(t);
  }, [text]);
  if (text !== null && dismissed === text) return null;
  return (
    <div className="alert ok" role="status">
      {children}
      {text !== null && (
        <button type="button" className="link dismiss" aria-label="Dismiss this message" onClick={() => setDismissed(text)}>
          ×
        </button>
      )}
    </div>
  );
}

/** The console's password policy (internal/auth): checked there too; here it guides the user before a round trip. */
export const minPasswordLength = 12;
export const passwordHint = `At least ${minPasswordLength} characters. A passphrase of several words is easy to type and hard to guess.`;

type FieldProps = Omit<InputHTMLAttributes<HTMLInputElement>, "onChange" | "value" | "id"> & {
  label: string;
  value: string;
  onChange: (v: string) => void;
  hint?: string;
};

/** A labelled input; the hint is tied to it with aria-describedby. */
export function Field({ label, value, onChange, hint, ...rest }: FieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        {...(hint !== undefined ? { "aria-describedby": `${id}-hint` } : {})}
        {...rest}
      />
      {hint !== undefined && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

export function SelectField<T extends string>({
  label,
  value,
  options,
  onChange,
  words,
}: {
  label: string;
  value: T;
  options: readonly T[];
  onChange: (v: T) => void;
  /** How an option reads (default: its value). */
  words?: (v: T) => string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {words !== undefined ? words(o) : o}
          </option>
        ))}
      </select>
    </div>
  );
}

/** A form that runs an async action, shows its problem and blocks double submits. */
export function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const onSubmit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, onSubmit };
}

/** A secret or link shown once, with a copy button. */
export function CopyField({ label, value, hint }: { label: string; value: string; hint?: string }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      // The clipboard API needs a secure context and permission: fall back to selecting the text.
      input.current?.select();
      document.execCommand("copy");
    }
    setCopied(true);
  };
  return (
    <div className="field copy">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input
          id={id}
          ref={input}
          readOnly
          value={value}
          onFocus={(e) => e.target.select()}
          spellCheck={false}
          {...(hint !== undefined ? { "aria-describedby": `${id}-hint` } : {})}
        />
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
      </div>
      <p className="hint" id={`${id}-hint`} aria-live="polite">
        {copied ? "Copied to the clipboard." : (hint ?? "")}
      </p>
    </div>
  );
}

/** A moment as the console writes it everywhere (format.ts); "never" when there is none. */
export function formatTime(iso: string | null | undefined): string {
  return formatDateTime(iso);
}

export function Time({ iso }: { iso: string | null | undefined }) {
  const text = formatTime(iso);
  return text === "never" ? <span>never</span> : <time dateTime={iso ?? ""}>{text}</time>;
}

/** A data table's header row: the visible column names, then, if hidden is given, a last column named for screen readers only (actions, explanations). */
export function TableHead({ cols, hidden }: { cols: string[]; hidden?: string }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {hidden !== undefined && (
          <th scope="col">
            <span className="sr-only">{hidden}</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/** "Load more" for paginated lists; busy while the next page loads. */
export function LoadMore({ hasMore, loading, more }: { hasMore: boolean; loading: boolean; more: () => Promise<void> }) {
  if (!hasMore) return null;
  return (
    <button type="button" onClick={() => void more()} disabled={loading} aria-busy={loading}>
      {loading ? "Loading more" : "Load more"}
    </button>
  );
}

/**
 * What shows while a page's data loads: grey bars shaped like the table
 * (or cards) to come, marked busy, with its label for screen readers only.
 */
export function Skeleton({ label = "Loading", kind = "table", rows = 4 }: { label?: string; kind?: "table" | "cards"; rows?: number }) {
  return (
    <div className={`skeleton skeleton-${kind}`} role="status" aria-busy="true" data-skeleton={kind}>
      <span className="sr-only">{label}</span>
      {Array.from({ length: rows }, (_, i) => (
        <span key={i} className="skeleton-bar" aria-hidden="true" />
      ))}
    </div>
  );
}

/**
 * The scan type picker: every type listed, those no live sensor runs
 * (GET /scan-types) disabled with why. The engines (secrets, YARA,
 * OpenSCAP) are found by each sensor; a type is offered once one runs it.
 */
export function ScanTypeField({ value, onChange }: { value: ScanType; onChange: (t: ScanType) => void }) {
  const id = useId();
  const hint = useId();
  const [types, setTypes] = useState<TypeSensors[] | null>(null);
  useEffect(() => {
    let live = true;
    api
      .scanTypes()
      .then((p) => live && setTypes(p.items ?? []))
      .catch(() => live && setTypes([]));
    return () => {
      live = false;
    };
  }, []);
  const runs = (t: ScanType) => t === "vulnerability" || (types?.find((x) => x.type === t)?.sensors ?? 0) > 0;
  const missing = scanTypes.filter((t) => !runs(t));
  return (
    <div className="field">
      <label htmlFor={id}>Scan type</label>
      <select id={id} value={value} aria-describedby={hint} onChange={(e) => onChange(e.target.value as ScanType)}>
        {scanTypes.map((t) => (
          <option key={t} value={t} disabled={!runs(t)}>
            {t}
            {!runs(t) && " (no sensor runs it)"}
          </option>
        ))}
      </select>
      <p id={hint} className="hint">
        {missing.length === 0
          ? "Every scan type has a sensor that runs it."
          : `No live sensor runs ${missing.join(", ")} scans: a sensor runs a type when it finds its engine (yara for malware, oscap for compliance).`}
      </p>
    </div>
  );
}
