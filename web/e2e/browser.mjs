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

// The README's screenshots of the main pages (docs/screenshots/NAME.png,
// copied there by the Go test after every passing run, so they follow the
// UI): the window as a user sees it at 1280×800, not the whole page, so the
// files stay small; the page must not scroll sideways there. The page's own viewport is put back afterwards.
export const readmeViewport = { width: 1280, height: 800 };
export async function readmeShot(page, artifacts, name) {
  const before = page.viewportSize();
  await page.setViewportSize(readmeViewport);
  try {
    await page.waitForTimeout(400); // layout (and the map's redraw) after the resize
    await page.screenshot({ path: `${artifacts}/readme-${name}.png`, timeout: 60_000 });
    // With real data in it, the page must not scroll sideways at this size either.
    const w = await page.evaluate(() => ({
      scroll: document.scrollingElement.scrollWidth,
      inner: innerWidth,
      out: [...document.body.querySelectorAll("*")]
        .filter((el) => el.getBoundingClientRect().right > innerWidth + 1)
        .slice(-4)
        .map((el) => `${el.tagName.toLowerCase()}.${String(el.className).split(" ").join(".")} right=${Math.round(el.getBoundingClientRect().right)}`),
    }));
    if (w.scroll > w.inner) throw new Error(`the ${name} page is ${w.scroll} px wide at ${w.inner} px (readme-${name}.png): ${w.out.join("; ")}`);
  } finally {
    if (before !== null) await page.setViewportSize(before);
  }
}
