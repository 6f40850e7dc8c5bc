/// <reference types="vite/client" />
// Entry point: routes, and the gate that sends people to registration,
// sign-in or the app depending on the console's state.
import { StrictMode, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import "./style.css";
import { AuthCard, ErrorAlert, Page, Skeleton } from "./components";
import { Layout } from "./layout";
import { AcceptInvitePage, LoginPage, RegisterPage, ResetPasswordPage } from "./pages/auth";
import { SessionProvider, useSession, useUser } from "./session";
import { allowed, served, views, type View } from "./views";

type Access = "setup" | "signed-out" | "public" | "user";

/** Routes by the session: first run → /setup, signed out → /login, signed in → the app. */
function Gate({ access, children }: { access: Access; children: ReactNode }) {
  const { state, refresh } = useSession();
  const location = useLocation();
  switch (state.status) {
    case "loading":
      return (
        <main id="main" className="auth">
          <Skeleton label="Loading the console" rows={2} />
        </main>
      );
    case "error":
      return (
        <AuthCard title="The console is not answering">
          <ErrorAlert error={state.error} />
          <button type="button" onClick={() => void refresh()}>
            Try again
          </button>
        </AuthCard>
      );
    case "unregistered":
      return access === "setup" ? <>{children}</> : <Navigate to="/setup" replace />;
    case "anonymous":
      if (access === "user") {
        const next = location.pathname + location.search;
        return <Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />;
      }
      return access === "setup" ? <Navigate to="/login" replace /> : <>{children}</>;
    case "user":
      if (access === "setup" || access === "signed-out") return <Navigate to="/" replace />;
      return <>{children}</>;
  }
}

/** A view's page, after checking the user's role and that this console serves its API. */
function ViewPage({ view }: { view: View }) {
  const user = useUser();
  const { apiPaths } = useSession();
  if (!allowed(view, user.role)) {
    const only = view.roles?.length === 1 && view.roles[0] === "admin";
    return (
      <Page title={only ? "Administrators only" : "Not for your role"}>
        <p>
          {view.label} is for the {view.roles?.join(" or ")} role. You are signed in with the{" "}
          <strong>{user.role}</strong> role.
        </p>
      </Page>
    );
  }
  if (apiPaths !== null && !served(view, apiPaths)) {
    return (
      <Page title={`${view.label} is not available`}>
        <p>This console does not serve the API {view.label.toLowerCase()} needs.</p>
      </Page>
    );
  }
  const P = view.page;
  return P === undefined ? <NotFound /> : <P />;
}

function NotFound() {
  return (
    <Page title="Page not found">
      <p>There is nothing at this address.</p>
    </Page>
  );
}

function App() {
  return (
    <Routes>
      <Route path="/setup" element={<Gate access="setup"><RegisterPage /></Gate>} />
      <Route path="/login" element={<Gate access="signed-out"><LoginPage /></Gate>} />
      {/* The console's links carry the token in the fragment (/invite#token=…); path tokens work too. */}
      <Route path="/invite" element={<Gate access="public"><AcceptInvitePage /></Gate>} />
      <Route path="/invite/:token" element={<Gate access="public"><AcceptInvitePage /></Gate>} />
      <Route path="/reset-password" element={<Gate access="public"><ResetPasswordPage /></Gate>} />
      <Route path="/reset-password/:token" element={<Gate access="public"><ResetPasswordPage /></Gate>} />
      <Route path="/reset/:token" element={<Gate access="public"><ResetPasswordPage /></Gate>} />
      <Route element={<Gate access="user"><Layout /></Gate>}>
        {views.map((v) =>
          v.page === undefined ? null : <Route key={v.path} path={v.path} element={<ViewPage view={v} />} />,
        )}
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root element");
createRoot(root).render(
  <StrictMode>
    <BrowserRouter>
      <SessionProvider>
        <App />
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
