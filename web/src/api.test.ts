// The API client against fetch answers built as the console sends them
// (RFC 9457 problem documents, huma's validation errors, 204s).
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, ApiError, request, sessionEndedEvent } from "./api";

let sent: { url: string; init: RequestInit }[] = [];
let answer: () => Response;
let events: string[] = [];

beforeEach(() => {
  sent = [];
  events = [];
  const win = new EventTarget();
  win.addEventListener(sessionEndedEvent, (e) => events.push(e.type));
  vi.stubGlobal("window", win);
  vi.stubGlobal("document", { cookie: "other=1; riskmap_csrf=tok%3D1" });
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    sent.push({ url, init });
    return answer();
  });
});
afterEach(() => vi.unstubAllGlobals());

const problem = (status: number, body: object, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/problem+json", ...headers } });

describe("request", () => {
  test("GET: JSON answer, no CSRF header", async () => {
    answer = () => new Response(JSON.stringify({ id: "u1" }), { headers: { "Content-Type": "application/json" } });
    expect(await request("GET", "/me")).toEqual({ id: "u1" });
    expect(sent[0]?.url).toBe("/api/v1/me");
    expect((sent[0]?.init.headers as Record<string, string>)["X-CSRF-Token"]).toBeUndefined();
  });
  test("POST echoes the CSRF cookie and sends JSON", async () => {
    answer = () => new Response(null, { status: 204 });
    expect(await request("POST", "/auth/logout", { a: 1 })).toBeUndefined();
    const h = sent[0]?.init.headers as Record<string, string>;
    expect(h["X-CSRF-Token"]).toBe("tok=1");
    expect(h["Content-Type"]).toBe("application/json");
    expect(sent[0]?.init.body).toBe('{"a":1}');
  });
  test("a problem document becomes an ApiError with its detail", async () => {
    answer = problem(409, { title: "Conflict", detail: "the last admin cannot be demoted", type: "about:blank" });
    const e = await request("PATCH", "/users/1", {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 409, title: "Conflict", message: "the last admin cannot be demoted" });
  });
  test("validation errors name their fields", async () => {
    answer = problem(422, {
      title: "Unprocessable Entity",
      detail: "validation failed",
      errors: [{ message: "expected length >= 12", location: "body.password" }, { message: "bad" }],
    });
    const e = (await request("POST", "/auth/register", {}).catch((x: unknown) => x)) as ApiError;
    expect(e.detail).toBe("validation failed: password: expected length >= 12; bad");
  });
  test("429 says when to try again", async () => {
    answer = problem(429, { title: "Too Many Requests", detail: "slow down." }, { "Retry-After": "30" });
    const e = (await request("POST", "/auth/login", {}).catch((x: unknown) => x)) as ApiError;
    expect(e.detail).toBe("slow down. Try again in 30 s.");
  });
  test("a non-JSON error keeps the start of its body", async () => {
    answer = () => new Response("upstream broke\n", { status: 502, statusText: "Bad Gateway" });
    const e = (await request("GET", "/me").catch((x: unknown) => x)) as ApiError;
    expect(e).toMatchObject({ status: 502, title: "Bad Gateway", detail: "upstream broke" });
  });
  test("an unreachable console is status 0", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    const e = (await request("GET", "/me").catch((x: unknown) => x)) as ApiError;
    expect(e).toMatchObject({ status: 0, title: "The console could not be reached", detail: "Failed to fetch" });
  });
  test("a 401 on a signed-in call ends the session; on sign-in it does not", async () => {
    answer = problem(401, { title: "Unauthorized" });
    await request("GET", "/me").catch(() => {});
    expect(events).toEqual([sessionEndedEvent]);
    await request("POST", "/auth/login", {}).catch(() => {});
    expect(events).toEqual([sessionEndedEvent]);
  });
});

test("list calls put their filters in the query, drop empty ones", async () => {
  answer = () => new Response(JSON.stringify({ items: [], total: 0 }), { headers: { "Content-Type": "application/json" } });
  await api.findings({ severity: "high", kev: "true", package: "", limit: 50 });
  const u = new URL(sent[0]?.url ?? "", "https://console.example");
  expect(u.pathname).toBe("/api/v1/findings");
  expect(Object.fromEntries(u.searchParams)).toEqual({ severity: "high", kev: "true", limit: "50" });
});

test("paginated lists accept a bare array too, and keep the next cursor", async () => {
  answer = () => new Response(JSON.stringify([{ id: "u1" }]), { headers: { "Content-Type": "application/json" } });
  expect(await api.users()).toEqual({ items: [{ id: "u1" }] });
  answer = () => new Response(JSON.stringify({ items: [{ id: "u2" }], nextCursor: "c2" }), { headers: { "Content-Type": "application/json" } });
  expect(await api.users("c1")).toEqual({ items: [{ id: "u2" }], nextCursor: "c2" });
  expect(new URL(sent[1]?.url ?? "", "https://console.example").searchParams.get("cursor")).toBe("c1");
});
