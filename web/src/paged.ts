// Loading a paginated list ({items, nextCursor}) with "load more".
import { useCallback, useEffect, useState } from "react";
import type { ApiError, Page } from "./api";
import { toApiError } from "./components";

export function usePaged<T>(load: (cursor?: string) => Promise<Page<T>>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);

  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const p = await load();
      setItems(p.items);
      setNext(p.nextCursor);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setLoading(false);
    }
  }, [load]);

  const more = useCallback(async () => {
    if (next === undefined) return;
    setLoading(true);
    try {
      const p = await load(next);
      setItems((cur) => [...(cur ?? []), ...p.items]);
      setNext(p.nextCursor);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setLoading(false);
    }
  }, [load, next]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { items, setItems, hasMore: next !== undefined, more, reload, error, loading };
}
