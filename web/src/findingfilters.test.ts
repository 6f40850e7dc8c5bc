import { describe, expect, test } from "vitest";
import { findingQueryOf, pick, sortedBy, tri } from "./findingfilters";

const q = (s: string) => findingQueryOf(new URLSearchParams(s));

describe("findingQueryOf", () => {
  test.each([
    ["", {}],
    ["severity=high&kev=yes&fix=no", { severity: "high", kev: "true", fixAvailable: "false" }],
    ["type=secret&decided=yes", { type: "secret", includeSuppressed: "true" }],
    ["decided=no", {}],
    ["sort=package&order=asc", { sort: "package", order: "asc" }],
    ["sort=risk&order=desc", {}],
    ["q=+openssl+", { q: "openssl" }],
    ["q=cve-2024-3094", { q: "cve-2024-3094" }],
    ["q=py-yaml", { q: "py-yaml" }],
  ])("%j", (s, want) => {
    expect(q(s)).toEqual(want);
  });
  test("unknown values in the URL are ignored, not sent", () => {
    expect(q("severity=urgent&type=virus&kev=maybe&fix=")).toEqual({});
  });
});

test("pick falls back to the default", () => {
  expect(pick(tri, "yes", "any")).toBe("yes");
  expect(pick(tri, "YES", "any")).toBe("any");
  expect(pick(tri, null, "no")).toBe("no");
});

describe("sortedBy", () => {
  const s = (from: string, by: string) => sortedBy(new URLSearchParams(from), by).toString();
  test.each([
    ["", "severity", "sort=severity&order=desc"],
    ["", "package", "sort=package&order=asc"],
    ["", "vuln", "sort=vuln&order=asc"],
    ["sort=package&order=asc", "package", "sort=package&order=desc"],
    ["", "risk", "sort=risk&order=asc"],
    ["sort=risk&order=asc", "risk", ""],
    ["severity=high&sort=package&order=desc", "risk", "severity=high"],
  ])("%j then %s gives %j", (from, by, want) => {
    expect(s(from, by)).toBe(want);
  });
  test("keeps the filters", () => {
    expect(s("q=openssl&kev=yes", "severity")).toBe("q=openssl&kev=yes&sort=severity&order=desc");
  });
});
