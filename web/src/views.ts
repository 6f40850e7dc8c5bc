// The one list of the console's views: it makes the routes (main.tsx) and
// the navigation (layout.tsx).
//
// A view is shown only when it has a page, the console serves the API it
// needs (the paths in `requires`, read from the generated
// /api/v1/openapi.json) and the user's role allows it, so the UI never links
// to a page that would be empty, fake or refused. The views of later issues
// are declared here without a page: to build one, write its page under
// src/pages, set `page` (lazy-loaded, so heavy views such as the topology map
// stay out of the shell's bundle) and put the API paths it calls in
// `requires`.
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { Role } from "./api";

export interface View {
  path: string;
  label: string;
  section: "main" | "settings";
  /** API paths (relative to /api/v1, as keys of the OpenAPI document) the view needs. */
  requires: readonly string[];
  /** Roles that may open the view; all when absent. */
  roles?: readonly Role[];
  /** The page; a view without one is planned, not shown. */
  page?: LazyExoticComponent<ComponentType>;
  /** false: a route only (a page reached by links, such as one vulnerability's), not in the navigation. */
  nav?: false;
}

export const views: readonly View[] = [
  { path: "/", label: "Overview", section: "main", requires: [], page: lazy(() => import("./pages/home")) },
  {
    path: "/dashboard",
    label: "Dashboard",
    section: "main",
    requires: ["/topology/nodes", "/topology/sensors", "/findings/top", "/findings/groups", "/diagnosis"],
    page: lazy(() => import("./pages/dashboard")),
  },
  {
    path: "/topology",
    label: "Topology",
    section: "main",
    requires: ["/topology/graph", "/topology/nodes", "/topology/nodes/{id}"],
    page: lazy(() => import("./pages/topology")),
  },
  {
    path: "/threat-graph",
    label: "Threat graph",
    section: "main",
    requires: ["/threat-graph"],
    page: lazy(() => import("./pages/threatgraph")),
  },
  {
    path: "/vulnerabilities",
    label: "Vulnerabilities",
    section: "main",
    requires: ["/findings"],
    page: lazy(() => import("./pages/vulnerabilities")),
  },
  {
    path: "/vulnerabilities/:id",
    label: "Vulnerability",
    section: "main",
    nav: false,
    requires: ["/vulnerabilities/{id}"],
    page: lazy(() => import("./pages/vulnerability")),
  },
  {
    path: "/compliance",
    label: "Compliance",
    section: "main",
    requires: ["/compliance/summary", "/compliance/controls", "/compliance/failures", "/compliance/trend"],
    page: lazy(() => import("./pages/compliance")),
  },
  {
    path: "/registries",
    label: "Registries",
    section: "main",
    requires: ["/registries/accounts", "/registries/kinds", "/registries/repositories", "/registries/tags"],
    page: lazy(() => import("./pages/registries")),
  },
  {
    path: "/scans",
    label: "Scans",
    section: "main",
    requires: ["/scans", "/scans/{id}/cancel", "/topology/nodes"],
    page: lazy(() => import("./pages/scans")),
  },

  { path: "/account", label: "My account", section: "settings", requires: ["/me"], page: lazy(() => import("./pages/account")) },
  {
    path: "/settings/users",
    label: "Users",
    section: "settings",
    requires: ["/users"],
    roles: ["admin"],
    page: lazy(() => import("./pages/users")),
  },
  {
    path: "/settings/invitations",
    label: "Invitations",
    section: "settings",
    requires: ["/invitations"],
    roles: ["admin"],
    page: lazy(() => import("./pages/invitations")),
  },
  {
    path: "/settings/sensors",
    label: "Sensors",
    section: "settings",
    requires: ["/console-info", "/topology/sensors", "/sensors", "/enrolment-tokens"],
    roles: ["admin"],
    page: lazy(() => import("./pages/sensors")),
  },
  {
    path: "/settings/system",
    label: "Feeds and diagnosis",
    section: "settings",
    requires: ["/diagnosis", "/feeds/update", "/feeds/import"],
    roles: ["admin"],
    page: lazy(() => import("./pages/system")),
  },
  {
    path: "/settings/integrations",
    label: "Integrations",
    section: "settings",
    requires: ["/integrations/kinds", "/integrations/destinations", "/integrations/rules"],
    page: lazy(() => import("./pages/integrations")),
  },
  {
    path: "/settings/audit",
    label: "Audit log",
    section: "settings",
    requires: ["/audit"],
    roles: ["admin"],
    page: lazy(() => import("./pages/audit")),
  },
];

/** The API of the console foundation (issue 2), present on every console. */
const foundation: ReadonlySet<string> = new Set(["/me", "/users", "/invitations", "/audit"]);

/** Whether the console serves what the view needs. `apiPaths` is null while unknown: then only the foundation counts. */
export function served(v: View, apiPaths: ReadonlySet<string> | null): boolean {
  return v.requires.every((p) => foundation.has(p) || (apiPaths?.has(p) ?? false));
}

export function allowed(v: View, role: Role): boolean {
  return v.roles === undefined || v.roles.includes(role);
}

/** Whether the view appears in the navigation. */
export function visible(v: View, role: Role, apiPaths: ReadonlySet<string> | null): boolean {
  return v.page !== undefined && v.nav !== false && allowed(v, role) && served(v, apiPaths);
}
