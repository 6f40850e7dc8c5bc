// The signed-in frame: skip link, navigation built from views.ts, the user's menu.
import { Suspense, startTransition } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { api } from "./api";
import { Skeleton } from "./components";
import { useSession, useUser } from "./session";
import { views, visible, type View } from "./views";

function NavList({ items, label }: { items: View[]; label: string }) {
  if (items.length === 0) return null;
  return (
    <>
      <h2 className="nav-h">{label}</h2>
      <ul>
        {items.map((v) => (
          <li key={v.path}>
            <NavLink to={v.path} end={v.path === "/"}>
              {v.label}
            </NavLink>
          </li>
        ))}
      </ul>
    </>
  );
}

export function Layout() {
  const user = useUser();
  const { apiPaths, signedOut } = useSession();
  const navigate = useNavigate();
  const shown = views.filter((v) => visible(v, user.role, apiPaths));
  const logout = async () => {
    try {
      await api.logout();
    } catch {
      // The session may already be gone; signing out locally is what matters.
    }
    // One transition for both, so the gate never sees the signed-out state on an app route.
    startTransition(() => {
      signedOut();
      navigate("/login?signedout", { replace: true });
    });
  };
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <NavLink to="/" className="brand" aria-label="Riskmap overview">
          <img src="/favicon.svg" alt="" width={24} height={24} /> Riskmap
        </NavLink>
        <div className="who">
          <span>
            {user.name} <span className={`role role-${user.role}`}>{user.role}</span>
          </span>
          <button type="button" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="side" aria-label="Main">
        <NavList items={shown.filter((v) => v.section === "main")} label="Console" />
        <NavList items={shown.filter((v) => v.section === "settings")} label="Settings" />
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <Suspense fallback={<Skeleton label="Loading the page" />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}
