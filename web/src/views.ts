// The navigation: every view the console can show, and when it is shown.
//
// A view appears only when the console serves the API it needs (read from
// the generated /api/v1/openapi.json) and the user's role allows it, so the
// UI never links to a page that would be empty or refused. To add a view
// (dashboard, topology, vulnerabilities, scans...): write its page under
// src/pages, add an entry here with the API paths it calls in `requires`,
// and add its <Route> in main.tsx (lazy-load heavy pages).
import type { Role } from "./api";

export interface View {
  path: string;
  label: string;
  section: "main" | "settings";
  /** API paths (relative to /api/v1, as keys of the OpenAPI document) the view needs. */
  requires: readonly string[];
  roles?: readonly Role[];
}

export const views: readonly View[] = [
  { path: "/", label: "Overview", section: "main", requires: [] },
  { path: "/account", label: "My account", section: "settings", requires: [] },
  { path: "/settings/users", label: "Users", section: "settings", requires: ["/users"], roles: ["admin"] },
  { path: "/settings/invitations", label: "Invitations", section: "settings", requires: ["/invitations"], roles: ["admin"] },
  { path: "/settings/audit", label: "Audit log", section: "settings", requires: ["/audit"], roles: ["admin"] },
];

/**
 * Whether the view is shown. `apiPaths` is null while the OpenAPI document
 * is loading or when the console does not serve it; the views of the
 * console foundation (issue 2) are then shown by role alone.
 */
export function visible(v: View, role: Role, apiPaths: ReadonlySet<string> | null): boolean {
  if (v.roles !== undefined && !v.roles.includes(role)) return false;
  if (apiPaths === null) return v.requires.every((p) => foundation.has(p));
  return v.requires.every((p) => apiPaths.has(p) || foundation.has(p));
}

/** The API of the console foundation, always present. */
const foundation = new Set(["/users", "/invitations", "/audit", "/me"]);
