// Rules about the console's source that a reviewer would otherwise have to
// remember: one way to format (format.ts), skeletons instead of "Loading…".
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";

const src = new URL(".", import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && e.name !== "api.gen.ts" ? [p] : [];
  });
}

function offenders(re: RegExp, except: string[] = []): string[] {
  return sources(src)
    .filter((f) => !except.some((x) => f.endsWith(x)))
    .flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .flatMap((line, i) => (re.test(line) ? [`${f.slice(src.length)}:${i + 1}: ${line.trim()}`] : [])),
    );
}

test("dates and numbers are formatted by format.ts only", () => {
  expect(offenders(/\.toLocale(Date|Time)?String\(|new Intl\./, ["format.ts"])).toEqual([]);
});

test('no "Loading…" text: pages show a Skeleton while they load', () => {
  expect(offenders(/\b[Ll]oading\b[^"`]*…/)).toEqual([]);
});
