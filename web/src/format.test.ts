import { afterEach, describe, expect, test } from "vitest";
import { formatBytes, formatDate, formatDateTime, formatNumber, formatPercent, formatRelative, setLocale } from "./format";

afterEach(() => setLocale(undefined));

describe("formatNumber", () => {
  test.each([
    ["en-GB", 1234567, undefined, "1,234,567"],
    ["de-DE", 1234567, undefined, "1.234.567"],
    ["fr-FR", 1234.5, undefined, "1\u202f234,5"],
    ["en-GB", 7.25, 1, "7.3"],
    ["de-DE", 7, 1, "7,0"],
    ["en-GB", 0, undefined, "0"],
  ])("%s %d (%s decimals)", (loc, n, digits, want) => {
    setLocale(loc);
    expect(formatNumber(n, digits)).toBe(want);
  });
});

test("formatPercent", () => {
  setLocale("en-GB");
  expect(formatPercent(0.5)).toBe("50%");
  expect(formatPercent(0.1234)).toBe("12.3%");
  setLocale("de-DE");
  expect(formatPercent(0.1234)).toBe("12,3\u00a0%");
});

describe("formatBytes", () => {
  test.each([
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1 kB"],
    [1500000, "1.5 MB"],
    [2_000_000_000, "2 GB"],
    [3.25e12, "3.3 TB"],
    [undefined, "—"],
    [null, "—"],
    [-1, "—"],
    [Number.NaN, "—"],
  ])("%s", (n, want) => {
    setLocale("en-GB");
    expect(formatBytes(n)).toBe(want);
  });
  test("in the locale's decimals", () => {
    setLocale("de-DE");
    expect(formatBytes(1_500_000)).toBe("1,5 MB");
  });
});

describe("dates", () => {
  const iso = "2026-12-06T11:05:00Z";
  test("one style per locale", () => {
    setLocale("en-GB");
    // The time zone is the test process's; pin it with TZ=UTC (vitest.config.ts).
    expect(formatDate(iso)).toBe("6 Dec 2026");
    expect(formatDateTime(iso)).toBe("6 Dec 2026, 11:05");
    setLocale("en-US");
    expect(formatDate(iso)).toBe("Dec 6, 2026");
    expect(formatDateTime(iso)).toBe("Dec 6, 2026, 11:05 AM");
  });
  test("numbers and Date objects too", () => {
    setLocale("en-GB");
    expect(formatDateTime(Date.parse(iso))).toBe("6 Dec 2026, 11:05");
    expect(formatDateTime(new Date(iso))).toBe("6 Dec 2026, 11:05");
  });
  test.each([[""], [null], [undefined], ["not a date"], ["0001-01-01T00:00:00Z"]])("no time %j is never", (v) => {
    expect(formatDate(v)).toBe("never");
    expect(formatDateTime(v)).toBe("never");
    expect(formatRelative(v)).toBe("never");
  });
});

describe("formatRelative", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");
  test.each([
    ["2026-12-06T12:00:00Z", "now"],
    ["2026-12-06T11:59:30Z", "30 seconds ago"],
    ["2026-12-06T11:55:00Z", "5 minutes ago"],
    ["2026-12-06T09:00:00Z", "3 hours ago"],
    ["2026-12-05T12:00:00Z", "yesterday"],
    ["2026-12-01T12:00:00Z", "5 days ago"],
    ["2026-10-07T12:00:00Z", "2 months ago"],
    ["2024-12-06T12:00:00Z", "2 years ago"],
    ["2026-12-08T12:00:00Z", "in 2 days"],
  ])("%s", (iso, want) => {
    setLocale("en-GB");
    expect(formatRelative(iso, now)).toBe(want);
  });
  test("in the locale", () => {
    setLocale("de-DE");
    expect(formatRelative("2026-12-06T11:55:00Z", now)).toBe("vor 5 Minuten");
  });
});
