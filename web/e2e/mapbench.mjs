// Map figures for bench/web.sh (not a test: it prints, it asserts nothing
// timed). It signs in to a console the load generator feeds (the file
// bench/loadgen -hold writes) and opens the topology map in headless
// Chromium:
//
//   interactive  navigation start → the graph is drawn (the app marks
//                "riskmap:map-drawn") → a click on a drawn node → its
//                detail panel opens with that node's name. The time printed
//                is the panel's appearance, in the page's clock
//                (performance.now(), 0 = navigation start); "panel facts"
//                is when the node's details have come from the API too.
//                "graph asked/answered" separate the console's share.
//   risk         how many drawn nodes carry findings (counts and colour:
//                the status line's data-risk-nodes) and the riskiest
//                node's fill, checked in the canvas pixels.
//   freeze       the longest main-thread task (PerformanceObserver
//                "longtask") and the longest gap between animation frames
//                from navigation start until 2 s after the map is drawn.
//
// Runs: the hosts view RUNS times (the first with a cold cache for the
// map's chunk), then the processes view (the whole estate's processes: the
// console aggregates them into groups, which must be what is drawn).
//
//   node web/e2e/mapbench.mjs HOLD_FILE   (env RISKMAP_E2E_CHROMIUM, RUNS)
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { chromiumFlags } from "./browser.mjs";

const hold = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8"));
const runs = Number(process.env.RUNS ?? "5");
const chromiumPath = process.env.RISKMAP_E2E_CHROMIUM ?? "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumFlags(hold.spki),
});
const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: "en-GB", timezoneId: "UTC" });
ctx.setDefaultTimeout(60_000);
// The probes start before any page script: long tasks and animation-frame gaps.
await ctx.addInitScript(() => {
  const w = window;
  w.__probe = { longest: 0, longtasks: 0, blocking: 0, gap: 0, stop: Infinity };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.startTime > w.__probe.stop) continue;
        w.__probe.longtasks++;
        w.__probe.longest = Math.max(w.__probe.longest, e.duration);
        w.__probe.blocking += Math.max(0, e.duration - 50);
      }
    }).observe({ type: "longtask", buffered: true });
  } catch {
    w.__probe.noLongtask = true;
  }
  let last = performance.now();
  const tick = (t) => {
    if (t <= w.__probe.stop) w.__probe.gap = Math.max(w.__probe.gap, t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});
const errors = [];
const page = await ctx.newPage();
page.on("console", (m) => {
  if (m.type() === "error") errors.push(m.text());
});
page.on("pageerror", (e) => errors.push(e.message));

await page.goto(hold.url + "/login");
await page.getByLabel("Email").fill(hold.email);
await page.getByLabel("Password").fill(hold.password);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();

// The renderer main thread's CPU time (CDP Performance metrics): what the
// page itself costs, whatever else the machine runs (a loaded machine
// stretches the wall-clock figures, not this one).
const cdp = await ctx.newCDPSession(page);
await cdp.send("Performance.enable");
async function threadTime() {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return (metrics.find((m) => m.name === "ThreadTime")?.value ?? NaN) * 1000;
}

async function measure(view, click) {
  const cpu0 = await threadTime();
  await page.goto(`${hold.url}/topology?view=${view}`);
  const canvas = page.locator(".canvas[data-ready]");
  await canvas.waitFor({ state: "attached" });
  const cpu1 = await threadTime();
  const cpuDrawn = cpu1 >= cpu0 ? cpu1 - cpu0 : cpu1; // a navigation may start a new renderer process, its clock from 0
  const drawn = await page.evaluate(() => {
    const m = performance.getEntriesByName("riskmap:map-drawn").at(-1);
    const r = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/v1/topology/graph")).at(-1);
    return { at: m?.startTime ?? NaN, nodes: m?.detail?.nodes ?? 0, edges: m?.detail?.edges ?? 0, graphResponse: r?.responseEnd ?? NaN, graphStart: r?.startTime ?? NaN, graphBytes: r?.encodedBodySize ?? 0 };
  });
  const status = (await page.locator(".graph-status").textContent()) ?? "";
  const riskNodes = Number((await page.locator(".graph-status").getAttribute("data-risk-nodes")) ?? "0");
  // The riskiest node's colour is on the canvas (the map draws risk, not only the list says it).
  const coloured = await canvas.evaluate((el) => {
    const colour = el.dataset.riskyColour ?? "";
    if (colour === "") return null;
    const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
    const x = Number(el.dataset.riskyX);
    const y = Number(el.dataset.riskyY);
    for (const c of el.querySelectorAll("canvas")) {
      const g = c.getContext("2d");
      if (g === null || c.width === 0) continue;
      const d = g.getImageData(x - 3, y - 3, 7, 7).data;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && want.every((w, j) => Math.abs(d[i + j] - w) <= 12)) return true;
    }
    return false;
  });
  let interactive = NaN;
  let loaded = NaN;
  let clicked = "";
  if (click) {
    const box = await canvas.boundingBox();
    const probe = await canvas.evaluate((el) => ({ x: Number(el.dataset.probeX), y: Number(el.dataset.probeY), label: el.dataset.probeLabel ?? "" }));
    clicked = probe.label;
    await page.mouse.click(box.x + probe.x, box.y + probe.y);
    await page.waitForFunction(
      (label) => {
        const a = document.querySelector("aside[data-detail]");
        return a !== null && a.getAttribute("data-detail") === label;
      },
      probe.label,
      { polling: "raf" },
    );
    interactive = await page.evaluate(() => performance.now());
    await page.locator('aside[data-detail][data-loaded="true"]').waitFor();
    loaded = await page.evaluate(() => performance.now());
  }
  // Keep probing for 2 s after the map is drawn (the map settles, the refresh timer fires).
  await page.waitForTimeout(2000);
  const probe = await page.evaluate(() => {
    window.__probe.stop = performance.now();
    return window.__probe;
  });
  return { ...drawn, status, riskNodes, coloured, interactive, loaded, clicked, cpuDrawn, ...probe };
}

const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : "n/a");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`console ${hold.url}, ${hold.sensors} simulated hosts; Chromium ${browser.version()} headless, 1400x900`);
const hostRuns = [];
for (let i = 0; i < runs; i++) {
  const r = await measure("hosts", true);
  hostRuns.push(r);
  console.log(
    `hosts view run ${i + 1}${i === 0 ? " (cold map chunk)" : ""}: graph asked ${ms(r.graphStart)}, answered ${ms(r.graphResponse)} (${(r.graphBytes / 1024).toFixed(0)} kB), ` +
      `drawn ${ms(r.at)} (${r.nodes} nodes, ${r.edges} edges), interactive (clicked "${r.clicked}", its panel open) ${ms(r.interactive)}, panel facts from the API ${ms(r.loaded)}; ` +
      `longest task ${ms(r.longest)}, longest frame gap ${ms(r.gap)}, blocking ${ms(r.blocking)}; main-thread CPU until drawn ${ms(r.cpuDrawn)}`,
  );
  console.log(`   status: ${r.status}`);
  console.log(`   risk: ${r.riskNodes} nodes with findings (counts and colour); the riskiest node's colour drawn: ${r.coloured === null ? "no node has findings" : r.coloured}`);
}
const warm = hostRuns.slice(runs > 1 ? 1 : 0);
console.log(
  `hosts view, median of ${runs}: graph answer ${ms(median(hostRuns.map((r) => r.graphResponse)))}, drawn ${ms(median(hostRuns.map((r) => r.at)))}, ` +
    `interactive ${ms(median(hostRuns.map((r) => r.interactive)))}   [goal <= 1500 ms], panel facts ${ms(median(hostRuns.map((r) => r.loaded)))}; ` +
    `longest task ${ms(Math.max(...hostRuns.map((r) => r.longest)))} (warm runs ${ms(Math.max(...warm.map((r) => r.longest)))})   [goal <= 100 ms]; ` +
    `main-thread CPU until drawn ${ms(median(hostRuns.map((r) => r.cpuDrawn)))} (load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`,
);

const procRuns = [];
for (let i = 0; i < Math.min(runs, 3); i++) {
  const r = await measure("processes", false);
  procRuns.push(r);
  console.log(
    `processes view run ${i + 1}: graph answer ${ms(r.graphResponse)} (${(r.graphBytes / 1024).toFixed(0)} kB), drawn ${ms(r.at)} (${r.nodes} nodes, ${r.edges} edges); ` +
      `longest task ${ms(r.longest)}, longest frame gap ${ms(r.gap)}, blocking ${ms(r.blocking)}; main-thread CPU until drawn ${ms(r.cpuDrawn)}`,
  );
  console.log(`   status: ${r.status}`);
}
const worst = Math.max(...procRuns.map((r) => Math.max(r.longest, r.gap)));
console.log(`processes view: aggregated ${procRuns.every((r) => r.status.startsWith("Aggregated view"))}, worst main-thread stall ${ms(worst)}   [no freeze: the page answers within a second]`);
if (errors.length > 0) console.log(`browser errors: ${errors.join(" | ")}`);
await browser.close();
