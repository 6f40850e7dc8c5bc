// @vitest-environment happy-dom
// usePaged in a real React root (happy-dom's DOM): the first page on mount,
// "more" appends the next with the cursor, a failed load keeps what was
// shown and says why.
import { act } from "react";
import { createRoot } from "react-dom/client";
import { afterEach, beforeAll, expect, test } from "vitest";
import { ApiError, type Page } from "./api";
import { usePaged } from "./paged";

beforeAll(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
});

type State = ReturnType<typeof usePaged<string>>;
let unmount: (() => void) | undefined;
afterEach(() => unmount?.());

/** Mounts a component using usePaged(load) and returns a function reading its latest state. */
async function mount(load: (cursor?: string) => Promise<Page<string>>): Promise<() => State> {
  let state: State | undefined;
  function Probe() {
    state = usePaged(load);
    return null;
  }
  const root = createRoot(document.createElement("div"));
  await act(async () => root.render(<Probe />));
  unmount = () => act(() => root.unmount());
  return () => {
    if (state === undefined) throw new Error("not rendered");
    return state;
  };
}

test("loads the first page, then appends the next with its cursor", async () => {
  const asked: (string | undefined)[] = [];
  const pages: Record<string, Page<string>> = { "": { items: ["a", "b"], nextCursor: "c2" }, c2: { items: ["c"] } };
  const load = async (cursor?: string) => (asked.push(cursor), pages[cursor ?? ""] as Page<string>);
  const s = await mount(load);
  expect(s().items).toEqual(["a", "b"]);
  expect(s().hasMore).toBe(true);
  await act(() => s().more());
  expect(s().items).toEqual(["a", "b", "c"]);
  expect(s().hasMore).toBe(false);
  expect(asked).toEqual([undefined, "c2"]);
  await act(() => s().more()); // nothing more to load
  expect(asked).toEqual([undefined, "c2"]);
});

test("a failed load says why and keeps what was shown; reload recovers", async () => {
  let fail = false;
  const load = async (cursor?: string) => {
    if (fail) throw new ApiError(503, "Service Unavailable", "the database is restarting");
    return cursor === undefined ? { items: ["a"], nextCursor: "n" } : { items: ["b"] };
  };
  const s = await mount(load);
  fail = true;
  await act(() => s().more());
  expect(s().items).toEqual(["a"]);
  expect(s().error?.message).toBe("the database is restarting");
  expect(s().loading).toBe(false);
  fail = false;
  await act(() => s().reload());
  expect(s().error).toBeNull();
  expect(s().items).toEqual(["a"]);
});

test("a first load that fails leaves no list (the page shows the error, not an empty table)", async () => {
  const s = await mount(async () => {
    throw new TypeError("Failed to fetch");
  });
  expect(s().items).toBeNull();
  expect(s().error?.status).toBe(0);
});

test("an answer to an older load that arrives last is dropped (the filters changed meanwhile)", async () => {
  // The first load (all tags) answers after the second (one repository's).
  const waiting: ((p: Page<string>) => void)[] = [];
  const load = () => new Promise<Page<string>>((resolve) => waiting.push(resolve));
  const s = await mount(load);
  let second: Promise<void> | undefined;
  await act(async () => {
    second = s().reload();
  });
  await act(async () => waiting[1]?.({ items: ["team/web:1.0", "team/web:2.0"] }));
  await act(async () => second);
  await act(async () => waiting[0]?.({ items: ["base/multi:v1", "team/web:1.0", "team/web:2.0"] }));
  expect(s().items).toEqual(["team/web:1.0", "team/web:2.0"]);
  expect(s().loading).toBe(false);
});
