// Loading a paginated list ({items, nextCursor}) with "load more".
import { useCallback, useEffect, useRef, useState } from "react";
import type { ApiError, Page } from "./api";
import { toApiError } from "./components";

export function usePaged<T>(load: (cursor?: string) => Promise<Page<T>>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  // Each reload supersedes the loads before it: an answer that arrives after
  // a newer load started (other filters, a poll) is dropped, not shown.
  const generation = useRef(0);

  const reload = useCallback(async () => {
    const g = ++generation.current;
    setLoading(true);
    try {
      const p = await load();
      if (g !== generation.current) return;
      setItems(p.items);
      setNext(p.nextCursor);
      setError(null);
    } catch (e) {
      if (g === generation.current) setError(toApiError(e));
    } finally {
      if (g === generation.current) setLoading(false);
    }
  }, [load]);

  const more = useCallback(async () => {
    if (next === undefined) return;
    const g = generation.current;
    setLoading(true);
    try {
      const p = await load(next);
      if (g !== generation.current) return;
      setItems((cur) => [...(cur ?? []), ...p.items]);
      setNext(p.nextCursor);
    } catch (e) {
      if (g === generation.current) setError(toApiError(e));
    } finally {
      if (g === generation.current) setLoading(false);
    }
  }, [load, next]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { items, setItems, hasMore: next !== undefined, more, reload, error, loading };
}
