// What the browser scenarios (console.mjs, up.mjs, aggregate.mjs) share:
// reading their settings from the Go test, the axe-core source, and the
// Chromium flags (also used by the map bench, mapbench.mjs).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// env returns a setting the Go test must have passed.
export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`environment variable ${name} is not set`);
  return v;
}

// chromiumFlags are the flags measured to work here (DEPENDENCIES.md J),
// plus: trust exactly the key with this SPKI hash (the console's certificate),
// and resolve no name but loopback so nothing leaves the machine. The browser
// tests and bench/web.sh's map bench use them alike.
export function chromiumFlags(spki) {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--ignore-certificate-errors-spki-list=${spki}`,
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  ];
}
