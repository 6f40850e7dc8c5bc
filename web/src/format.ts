// Formatters shared by the pages, in the user's locale (Intl): byte sizes,
// counts, long runtime ids, node names and metadata values.

const byteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** A number in the user's locale: 25,276 (en-GB), 25 276 (fr). */
export function formatNumber(n: number, maxFractionDigits = 0): string {
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: maxFractionDigits }).format(n);
}

/** A size in bytes, binary units, one decimal, in the user's locale: 25276182528 → "23.5 GiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return String(bytes);
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < byteUnits.length - 1) {
    v /= 1024;
    u++;
  }
  return `${formatNumber(v, u === 0 ? 0 : 1)} ${byteUnits[u]}`;
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
