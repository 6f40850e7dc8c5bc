// Session state shared by every page: whether the console has its first
// user yet, who is signed in, and which API routes this console serves.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, api, hasSessionHint, sessionEndedEvent, type User } from "./api";

export type SessionState =
  | { status: "loading" }
  | { status: "error"; error: ApiError }
  | { status: "unregistered" }
  | { status: "anonymous" }
  | { status: "user"; user: User };

interface SessionContext {
  state: SessionState;
  /** Paths of the console API (from its OpenAPI document); null until known. */
  apiPaths: ReadonlySet<string> | null;
  /** Re-reads /setup and /me (after login, logout, registration). */
  refresh: () => Promise<void>;
  signedIn: (user: User) => void;
  signedOut: () => void;
}

const Ctx = createContext<SessionContext | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });
  const [apiPaths, setApiPaths] = useState<ReadonlySet<string> | null>(null);

  const refresh = useCallback(async () => {
    try {
      const setup = await api.setup();
      if (!setup.registered) {
        setState({ status: "unregistered" });
        return;
      }
      // The session cookie is HttpOnly; its readable CSRF twin tells us
      // whether asking /me can succeed, so a signed-out visit makes no
      // failing request.
      if (!hasSessionHint()) {
        setState({ status: "anonymous" });
        return;
      }
      try {
        setState({ status: "user", user: await api.me() });
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) setState({ status: "anonymous" });
        else throw e;
      }
    } catch (e) {
      setState({ status: "error", error: e instanceof ApiError ? e : new ApiError(0, "Unexpected error", String(e)) });
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => {
    const ended = () => setState((s) => (s.status === "user" ? { status: "anonymous" } : s));
    window.addEventListener(sessionEndedEvent, ended);
    return () => window.removeEventListener(sessionEndedEvent, ended);
  }, []);

  const signedIn = state.status === "user";
  useEffect(() => {
    if (!signedIn) return;
    api.apiPaths().then(setApiPaths, () => setApiPaths(null));
  }, [signedIn]);

  const value = useMemo<SessionContext>(
    () => ({
      state,
      apiPaths,
      refresh,
      signedIn: (user) => setState({ status: "user", user }),
      signedOut: () => setState({ status: "anonymous" }),
    }),
    [state, apiPaths, refresh],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionContext {
  const c = useContext(Ctx);
  if (c === null) throw new Error("useSession outside SessionProvider");
  return c;
}

/** The signed-in user; only for pages behind RequireUser. */
export function useUser(): User {
  const { state } = useSession();
  if (state.status !== "user") throw new Error("useUser without a signed-in user");
  return state.user;
}
