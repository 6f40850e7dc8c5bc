// The console's quality bar on every page, in headless Chromium (started by
// quality_test.go against a real console whose map holds a few synthetic
// hosts): each page of the navigation passes axe-core with no serious or
// critical violation, does not overflow the window sideways at 800 px (tables
// scroll in their own box, the navigation wraps), and shows a skeleton, not
// "Loading…", while a slow request is pending. Any browser console error,
// uncaught exception or 5xx answer fails the run.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { axeSource, chromiumFlags, env } from "./browser.mjs";

const base = env("RISKMAP_URL");
const artifacts = env("RISKMAP_E2E_ARTIFACTS");
const admin = { email: env("RISKMAP_E2E_ADMIN_EMAIL"), password: env("RISKMAP_E2E_ADMIN_PASSWORD") };
const wide = { width: 1280, height: 800 };
const narrow = { width: 800, height: 900 };
mkdirSync(artifacts, { recursive: true });

const problems = [];
const notes = [];
const browser = await chromium.launch({ executablePath: env("RISKMAP_E2E_CHROMIUM"), headless: true, args: chromiumFlags(env("RISKMAP_E2E_SPKI")) });
const p = await browser.newPage({ viewport: wide, locale: "en-GB", timezoneId: "UTC" });
p.setDefaultTimeout(20_000);
p.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()} (${m.location().url ?? ""})`));
p.on("pageerror", (e) => problems.push(`uncaught exception: ${e.message}`));
p.on("response", (r) => r.status() >= 500 && problems.push(`${r.request().method()} ${r.url()} answered ${r.status()}`));

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}
let n = 0;
async function step(name, fn) {
  n++;
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    await p.screenshot({ path: join(artifacts, `FAILED-quality-${n}.png`), fullPage: true }).catch(() => {});
    throw new Error(`step ${n} "${name}" failed: ${e instanceof Error ? e.stack : e}`);
  }
  console.log(`ok   ${String(n).padStart(2, " ")} ${name} (${Date.now() - t0} ms)`);
}

/** Waits until the page has its heading and nothing on it is busy loading. */
async function settled() {
  await p.getByRole("heading", { level: 1 }).first().waitFor();
  await p.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
}

/** axe-core on the page as shown: serious and critical violations fail the run, the rest are reported. */
async function audit(name) {
  await p.evaluate(axeSource);
  const found = await p.evaluate(async () =>
    (await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })).violations.map(
      (v) => ({ impact: v.impact, text: `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((x) => x.target.join(" ")).slice(0, 3).join(", ")})` }),
    ),
  );
  for (const v of found) (v.impact === "serious" || v.impact === "critical" ? problems : notes).push(`[accessibility of ${name}] ${v.text}`);
}

/** The page must not scroll sideways in a window of this size; on failure, names what sticks out. */
async function fits(name, viewport) {
  await p.setViewportSize(viewport);
  try {
    await p.waitForTimeout(150); // a layout pass after the resize
    const r = await p.evaluate(() => {
      const se = document.scrollingElement;
      const out = [];
      if (se.scrollWidth > innerWidth) {
        for (const el of document.body.querySelectorAll("*")) {
          const b = el.getBoundingClientRect();
          if (b.right > innerWidth + 1 && el.closest("main table, pre, .canvas") === null) {
            out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : ""} right=${Math.round(b.right)}`);
          }
        }
      }
      return { scrollWidth: se.scrollWidth, innerWidth, out: out.slice(0, 6) };
    });
    if (viewport.width === narrow.width || r.scrollWidth > r.innerWidth) await p.screenshot({ path: join(artifacts, `quality-${viewport.width}-${name}.png`) });
    // A problem of the run rather than a failed step, so that one run lists every page that overflows.
    if (r.scrollWidth > r.innerWidth) problems.push(`[layout of ${name}] at ${viewport.width} px the page is ${r.scrollWidth} px wide (window ${r.innerWidth}): ${r.out.join("; ")}`);
  } finally {
    if (viewport !== wide) await p.setViewportSize(wide);
  }
}

/**
 * No sideways scroll at 800 px, nor at 1280 px after the window shrank from
 * 1600 px (the map keeps its drawn size until it redraws: its column must
 * shrink without it).
 */
async function fitsNarrow(name) {
  await fits(name, { width: 1600, height: 900 });
  await fits(name, wide);
  await fits(name, narrow);
}

await step("sign in", async () => {
  await p.goto(base + "/login");
  await p.getByLabel("Email").fill(admin.email);
  await p.getByLabel("Password", { exact: true }).fill(admin.password);
  await p.getByRole("button", { name: "Sign in" }).click();
  // The navigation lists a view once the console's OpenAPI document says it serves its API.
  await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Topology", exact: true }).waitFor();
});

const links = await p
  .getByRole("navigation", { name: "Main" })
  .getByRole("link")
  .evaluateAll((as) => as.map((a) => ({ name: a.textContent.trim(), path: new URL(a.href).pathname })));
check(links.length >= 10, `the navigation lists ${links.length} pages`);
for (const l of links) {
  const slug = l.path.replace(/^\//, "").replaceAll("/", "-") || "overview";
  await step(`${l.name} (${l.path}): axe, no sideways scroll at 1280 and 800 px`, async () => {
    await p.goto(base + l.path);
    await settled();
    await audit(slug);
    await fitsNarrow(slug);
  });
}

/** Holds the answers to requests matching re for ms, so what the page shows while it waits can be checked. */
async function slow(re, ms, fn) {
  const handler = async (route) => {
    await new Promise((r) => setTimeout(r, ms));
    await route.continue().catch(() => {}); // the page may have gone
  };
  await p.route(re, handler);
  try {
    await fn();
  } finally {
    await p.unroute(re, handler);
  }
}

async function skeletonWhileSlow(path, re, kind) {
  await slow(re, 2500, async () => {
    await p.goto(base + path);
    const sk = p.locator(`[data-skeleton="${kind}"][aria-busy="true"][role="status"]`).first();
    await sk.waitFor({ timeout: 2000 });
    check(((await sk.textContent()) ?? "").startsWith("Loading"), "the skeleton has its label for screen readers");
    check(!(await p.locator("body").innerText()).includes("Loading…"), 'the page shows "Loading…"');
    await p.screenshot({ path: join(artifacts, `quality-skeleton${path.replaceAll("/", "-")}.png`) });
    await sk.waitFor({ state: "detached", timeout: 15_000 });
  });
  await settled();
}

await step("skeletons while the findings load: Vulnerabilities (table) and Dashboard (cards)", async () => {
  await skeletonWhileSlow("/vulnerabilities", /\/api\/v1\/findings\?/, "table");
  await skeletonWhileSlow("/dashboard", /\/api\/v1\/findings\/top/, "cards");
});

await step("skeleton while the audit log loads", async () => {
  await skeletonWhileSlow("/settings/audit", /\/api\/v1\/audit\?/, "table");
});

// The console here has no feeds, so no findings: the layout check of the
// findings table gets long ones (the shape GET /api/v1/findings answers,
// NodeFinding in api.ts) from the browser's side.
function wideFinding(i) {
  const pkg = `github.com/example-organisation/a-rather-long-module-name-for-layout-${i}/internal/subpackage`;
  return {
    id: `nf-${i}`,
    type: "vulnerability",
    scanId: "scan-1",
    nodeId: `container:quality-${i}`,
    target: { kind: "container", ref: `registry.example.com/team/service-with-a-long-name-${i}:2026.12.06-build.1234`, nodeId: `container:quality-${i}` },
    subject: `${pkg}@v1.2.${i}`,
    finding: {
      id: `GHSA-abcd-efgh-${String(1000 + i)}`,
      aliases: [`CVE-2026-${10000 + i}`],
      package: { name: pkg, version: `v1.2.${i}`, ecosystem: "Go" },
      fixedVersions: [`v1.2.${i + 1}`],
      severity: "high",
      cvss: { baseScore: 8.1, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", version: "3.1" },
      epss: { score: 0.1234, percentile: 0.9 },
      summary: "A long summary of what goes wrong in this module when a request is crafted in a particular way",
      risk: { score: 71.5, explanation: "" },
    },
    risk: { score: 71.5, factors: [{ name: "severity", value: 8.1, reason: "CVSS 8.1" }], inUse: true, listening: true, internet: false },
  };
}

await step("Vulnerabilities with long findings: the table scrolls in its box at 800 px, the page does not", async () => {
  const re = /\/api\/v1\/findings\?/;
  const handler = (route) =>
    route.fulfill({ contentType: "application/json", body: JSON.stringify({ items: Array.from({ length: 8 }, (_, i) => wideFinding(i)), total: 8 }) });
  await p.route(re, handler);
  try {
    await p.goto(base + "/vulnerabilities");
    await settled();
    await p.locator("table.data tbody tr").first().waitFor();
    await fitsNarrow("vulnerabilities-long-findings");
    await p.setViewportSize(narrow);
    const table = await p.locator("table.data").first().evaluate((t) => ({ scroll: t.scrollWidth, box: t.clientWidth, right: t.getBoundingClientRect().right }));
    await p.setViewportSize(wide);
    check(table.right <= narrow.width, `the findings table ends at ${table.right} px`);
    console.log(`     findings table at 800 px: ${table.box} px box, ${table.scroll} px content`);
  } finally {
    await p.unroute(re, handler);
  }
});

await browser.close();
for (const x of notes) console.log(`note ${x}`);
if (problems.length > 0) {
  console.error(`browser problems during the run:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`ok   ${links.length} pages pass axe (no serious or critical violation) and fit 800 px; no browser console errors`);
