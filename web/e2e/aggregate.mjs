// The map above its size threshold, in headless Chromium (started by
// aggregate_test.go against a console fed with more processes than the map
// draws one by one): the processes view is the aggregated view, its groups
// drawn; clicking a group opens it; "Show its members" drills
// into that host, whose processes the map draws again; the hosts grouped
// by cloud drill into a cloud's regions, then a region's hosts. No browser console
// errors; the pages pass the accessibility audit.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { axeSource, chromiumFlags, env } from "./browser.mjs";

const base = env("RISKMAP_URL");
const artifacts = env("RISKMAP_E2E_ARTIFACTS");
const total = Number(env("RISKMAP_E2E_PROCESSES"));
const perHost = Number(env("RISKMAP_E2E_PER_HOST"));
mkdirSync(artifacts, { recursive: true });

const problems = [];
const browser = await chromium.launch({ executablePath: env("RISKMAP_E2E_CHROMIUM"), headless: true, args: chromiumFlags(env("RISKMAP_E2E_SPKI")) });
const p = await browser.newPage({ viewport: { width: 1280, height: 820 }, locale: "en-GB", timezoneId: "UTC" });
p.setDefaultTimeout(15_000);
p.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
p.on("pageerror", (e) => problems.push(`uncaught exception: ${e.message}`));
p.on("response", (r) => r.status() >= 500 && problems.push(`${r.url()} answered ${r.status()}`));

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}
let n = 0;
async function step(name, fn) {
  n++;
  try {
    await fn();
  } catch (e) {
    await p.screenshot({ path: join(artifacts, `FAILED-aggregate-${n}.png`), fullPage: true }).catch(() => {});
    throw new Error(`step ${n} "${name}" failed: ${e instanceof Error ? e.stack : e}`);
  }
  console.log(`ok   ${n} ${name}`);
}
async function audit(name) {
  await p.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  await p.evaluate(axeSource);
  const v = await p.evaluate(async () =>
    (await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })).violations.map(
      (x) => `${x.id}: ${x.help}`,
    ),
  );
  for (const x of v) problems.push(`[accessibility of ${name}] ${x}`);
}
/** Clicks the node the map names in its data-probe-* attributes; returns its label. */
async function clickProbe() {
  const canvas = p.locator(".canvas[data-ready]");
  await canvas.waitFor();
  const box = await canvas.boundingBox();
  const probe = await canvas.evaluate((el) => ({ x: Number(el.dataset.probeX), y: Number(el.dataset.probeY), label: el.dataset.probeLabel ?? "" }));
  await p.mouse.click(box.x + probe.x, box.y + probe.y);
  return probe.label.replace(/ \(\d+\)$/, ""); // a group is labelled "NAME (members)"
}

await step("sign in", async () => {
  await p.goto(base + "/login");
  await p.getByLabel("Email").fill(env("RISKMAP_E2E_ADMIN_EMAIL"));
  await p.getByLabel("Password").fill(env("RISKMAP_E2E_ADMIN_PASSWORD"));
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
});

await step("the processes view above the threshold is aggregated into groups", async () => {
  await p.goto(base + "/topology?view=processes");
  const canvas = p.locator(".canvas[data-ready]");
  await canvas.waitFor();
  const status = (await p.locator(".graph-status").textContent()) ?? "";
  // Numbers in the browser's locale (en-GB: 1,800).
  const m = /^Aggregated view: ([\d,]+) nodes drawn as ([\d,]+) groups/.exec(status.replaceAll(",", ""));
  check(m !== null, `the status reads "${status}", want the aggregated view`);
  check(Number(m[1]) >= total, `the aggregated view stands for ${m[1]} nodes, want ${total}`);
  check(Number(m[2]) < 1500, `${m[2]} groups drawn`);
  check(Number(await canvas.getAttribute("data-nodes")) === Number(m[2]), "the map does not draw the groups");
  // Drawn: some pixels of the map's canvases are not background (cytoscape
  // draws up to 300 nodes, the plain canvas more: bench/web.sh runs that one).
  await p.waitForFunction(() =>
    [...document.querySelectorAll(".canvas canvas")].some((c) => c.width > 0 && c.getContext("2d")?.getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v !== 0)),
  );
  await audit("31-topology-aggregated");
});

await step("a click on a group opens it; its members are one host's processes", async () => {
  const label = await clickProbe();
  await p.getByRole("heading", { level: 2, name: label }).waitFor();
  await p.getByText(`A group of ${perHost} nodes.`).waitFor();
  await p.getByRole("button", { name: "Show its members" }).click();
  await p.locator("[data-members]").waitFor();
  await p.locator(".graph-status").filter({ hasText: `${perHost} processes` }).waitFor();
  // Few enough now for cytoscape, and one of them opens its detail panel from the table.
  await p.getByLabel("Show as").selectOption("table");
  const rows = p.locator("tr[data-node]");
  await rows.first().waitFor();
  check((await rows.count()) === perHost, `the host's table lists ${await rows.count()} processes, want ${perHost}`);
  await rows.first().getByRole("button", { name: /^Details of / }).click();
  await p.locator("aside[data-detail]").filter({ hasText: "process" }).waitFor();
  await p.getByRole("button", { name: "Show everything" }).click();
  await p.locator(".graph-status").filter({ hasText: "Aggregated view" }).waitFor();
});

await step("hosts grouped by cloud: a cloud opens to its regions, a region to its hosts, the state in the URL", async () => {
  // syntheticHost: host i in aws/eu-west-1, aws/us-east-1, gcp/europe-west4 by i % 3.
  const hosts = Number(env("RISKMAP_E2E_HOSTS"));
  const inAWS = Math.ceil(hosts / 3) + Math.ceil((hosts - 1) / 3);
  const inEU = Math.ceil(hosts / 3);
  await p.goto(base + "/topology?view=hosts&group=cloud&show=table");
  await p.locator(".graph-status").filter({ hasText: `Aggregated view: ${hosts} nodes drawn as 2 groups` }).waitFor();
  await p.locator('tr[data-node="aws"]').getByRole("button", { name: "Details of aws" }).click();
  await p.getByRole("heading", { level: 2, name: "aws" }).waitFor();
  await p.getByRole("button", { name: "Show its members" }).click();
  await p.locator('[data-members-by="cloud"][data-members="aws"]').waitFor();
  await p.locator(".graph-status").filter({ hasText: `Aggregated view: ${inAWS} nodes drawn as 2 groups` }).waitFor();
  check(new URL(p.url()).searchParams.get("in") === "cloud:aws", `the URL ${p.url()} does not hold the cloud drilled into`);
  await p.locator('tr[data-node="aws/eu-west-1"]').getByRole("button", { name: "Details of aws/eu-west-1" }).click();
  await p.getByRole("button", { name: "Show its members" }).click();
  await p.locator('[data-members-by="region"][data-members="aws/eu-west-1"]').waitFor();
  await p.locator(".graph-status").filter({ hasText: `${inEU} hosts` }).waitFor();
  const rows = p.locator("tr[data-node]");
  check((await rows.count()) === inEU, `the region's table lists ${await rows.count()} hosts, want ${inEU}`);
  // A link reproduces it.
  await p.goto(p.url());
  await p.locator('[data-members-by="region"]').waitFor();
  await p.locator(".graph-status").filter({ hasText: `${inEU} hosts` }).waitFor();
  await audit("32-topology-region");
});

await browser.close();
if (problems.length > 0) {
  console.error(`browser problems during the run:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("ok   no browser console errors; the pages pass the accessibility audit");
