import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { allowed, served, views, visible, type View } from "./views";

// The paths the console serves, from the OpenAPI document it serves
// (web/openapi.json, kept equal to it by internal/console TestOpenAPIWebCopy),
// relative to /api/v1 as views.ts names them.
const doc = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8")) as { paths: Record<string, unknown> };
const apiPaths = new Set(Object.keys(doc.paths).map((p) => p.replace(/^\/api\/v1/, "")));

const view = (path: string): View => {
  const v = views.find((x) => x.path === path);
  if (v === undefined) throw new Error(`no view ${path}`);
  return v;
};

test("every API path a view requires is one the console serves", () => {
  const missing = views.flatMap((v) => v.requires.filter((p) => !apiPaths.has(p)).map((p) => `${v.path} requires ${p}`));
  expect(missing).toEqual([]);
});

test("view paths and labels are unique", () => {
  expect(new Set(views.map((v) => v.path)).size).toBe(views.length);
  expect(new Set(views.map((v) => v.label)).size).toBe(views.length);
});

describe("served", () => {
  test("while the document is unknown only the foundation counts", () => {
    expect(served(view("/settings/users"), null)).toBe(true);
    expect(served(view("/topology"), null)).toBe(false);
  });
  test("a view shows when the console serves all it requires", () => {
    expect(served(view("/topology"), apiPaths)).toBe(true);
    expect(served(view("/topology"), new Set(["/topology/graph"]))).toBe(false);
  });
});

describe("allowed and visible", () => {
  test.each([
    ["/settings/users", "admin", true],
    ["/settings/users", "standard", false],
    ["/settings/users", "read-only", false],
    ["/vulnerabilities", "read-only", true],
    ["/settings/integrations", "read-only", true],
  ] as const)("%s for %s: %s", (path, role, want) => {
    expect(allowed(view(path), role)).toBe(want);
    expect(visible(view(path), role, apiPaths)).toBe(want);
  });
  test("a view without a page is never visible", () => {
    expect(visible({ path: "/planned", label: "Planned", section: "main", requires: [] }, "admin", apiPaths)).toBe(false);
  });
});
