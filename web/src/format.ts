// The one way the console writes numbers, sizes, dates and times: Intl, in
// the user's locale (the browser's), so a page never mixes "1,234" with
// "1234" or two styles of date. Pages format through these, never through
// toLocaleString or toFixed of their own (data-* attributes, which tests and
// scripts read, keep plain machine values).

/** undefined: the browser's locale. Tests pin one with setLocale. */
let locale: string | undefined;

/** Pins the locale (tests); undefined goes back to the browser's. */
export function setLocale(l: string | undefined): void {
  locale = l;
}

/** An integer or a decimal, grouped as the locale groups; fractionDigits fixes the decimals (a score's 1). */
export function formatNumber(n: number, fractionDigits?: number): string {
  const opts: Intl.NumberFormatOptions =
    fractionDigits === undefined ? { maximumFractionDigits: 2 } : { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits };
  return new Intl.NumberFormat(locale, opts).format(n);
}

/** A share (0.5 → "50%"), with at most one decimal. */
export function formatPercent(ratio: number): string {
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(ratio);
}

const byteUnits = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte", "petabyte"] as const;

/** A size in decimal units (1 kB = 1,000 bytes, as registries and disks count): "1.5 MB"; "—" when unknown. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return "—";
  let i = 0;
  let v = n;
  while (v >= 1000 && i < byteUnits.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${formatNumber(Math.round(v))} B`; // Intl's short unit spells "byte"
  return new Intl.NumberFormat(locale, { style: "unit", unit: byteUnits[i], unitDisplay: "short", maximumFractionDigits: 1 }).format(v);
}

/** The time of an ISO string, or null when there is none (empty, unparsable, or Go's zero time). */
function parse(iso: string | null | undefined): Date | null {
  if (iso === null || iso === undefined || iso === "") return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return null;
  return d;
}

/** A day: "6 Dec 2026" (en-GB); "never" when there is none. */
export function formatDate(iso: string | null | undefined): string {
  const d = parse(iso);
  return d === null ? "never" : new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(d);
}

/** A moment: "6 Dec 2026, 11:05" (en-GB); "never" when there is none. */
export function formatDateTime(iso: string | number | Date | null | undefined): string {
  const d = iso instanceof Date ? iso : typeof iso === "number" ? new Date(iso) : parse(iso);
  if (d === null || Number.isNaN(d.getTime())) return "never";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

const steps: [Intl.RelativeTimeFormatUnit, number][] = [
  ["second", 60],
  ["minute", 60],
  ["hour", 24],
  ["day", 30],
  ["month", 12],
  ["year", Infinity],
];

/** How long ago (or in how long) from now: "5 minutes ago", "in 2 days", "now"; "never" when there is none. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  const d = parse(iso);
  if (d === null) return "never";
  let v = (d.getTime() - now) / 1000;
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of steps) {
    if (Math.abs(v) < size) return rtf.format(Math.round(v), unit);
    v /= size; // a month is 30 days here
  }
  return rtf.format(Math.round(v), "year");
}
/** A runtime id (container, image: 64 hex digits, maybe "sha256:"): true when a person would rather see its first 12 digits. */
export function isLongId(s: string): boolean {
  const id = s.replace(/^sha256:/, "");
  return id.length > 24 && /^[0-9a-f]+$/.test(id);
}

/** A name as shown: a long runtime id cut to 12 hex digits (the full id goes on hover or a copy button). */
export function shortName(s: string): string {
  return isLongId(s) ? s.replace(/^sha256:/, "").slice(0, 12) : s;
}

/** A metadata key in words: "memoryBytes" → "memory", "kernelVersion" → "kernel version". */
export function metaLabel(key: string): string {
  return key
    .replace(/Bytes$/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[._]/g, " ")
    .toLowerCase();
}

/** A metadata value as shown: byte sizes ("…Bytes" keys) in binary units, counts in the locale. */
export function metaValue(key: string, value: string): string {
  if (/Bytes$/.test(key) && /^\d+$/.test(value)) return formatBytes(Number(value));
  if (/(Count|Cpus|CPUs)$/.test(key) && /^\d+$/.test(value)) return formatNumber(Number(value));
  return shortName(value);
}
