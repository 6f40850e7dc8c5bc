// End-to-end walk through the risk pages in headless Chromium, started by
// up_test.go against a real `riskmap up` (console + local sensor) whose
// knowledge base holds the real feeds and beside which a container with
// vulnerable packages runs. Every step asserts what a user sees; any
// browser console error, uncaught exception, 5xx response or accessibility
// violation (axe-core, on every screenshotted page) fails the run.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { inflateRawSync, inflateSync } from "node:zlib";
import { join } from "node:path";
import { axeSource, chromiumFlags, env, readmeShot } from "./browser.mjs";

const base = env("RISKMAP_URL");
const artifacts = env("RISKMAP_E2E_ARTIFACTS");
const hostname = env("RISKMAP_E2E_HOSTNAME");
const container = env("RISKMAP_E2E_CONTAINER");
const image = env("RISKMAP_E2E_IMAGE");
// The fake secrets planted in the container's image (JSON list of {rule, path, secret}): found by a secret scan, never shown.
const planted = JSON.parse(env("RISKMAP_E2E_SECRETS"));
const admin = { email: env("RISKMAP_E2E_ADMIN_EMAIL"), password: env("RISKMAP_E2E_ADMIN_PASSWORD"), name: "Ada Admin" };
mkdirSync(artifacts, { recursive: true });

const problems = [];
const ctx = await chromium.launchPersistentContext(join(env("RISKMAP_E2E_PROFILES"), "admin"), {
  acceptDownloads: true,
  executablePath: env("RISKMAP_E2E_CHROMIUM"),
  headless: true,
  args: chromiumFlags(env("RISKMAP_E2E_SPKI")),
  viewport: { width: 1400, height: 900 },
  locale: "en-GB",
  timezoneId: "UTC",
});
ctx.setDefaultTimeout(15_000);
const p = ctx.pages()[0] ?? (await ctx.newPage());
p.on("console", (m) => {
  if (m.type() === "error") problems.push(`console error: ${m.text()} (${m.location().url ?? ""})`);
});
p.on("pageerror", (e) => problems.push(`uncaught exception: ${e.message}`));
p.on("response", (r) => {
  if (r.status() >= 500) problems.push(`${r.request().method()} ${r.url()} answered ${r.status()}`);
});
p.on("requestfailed", (r) => {
  if (r.failure()?.errorText === "net::ERR_ABORTED") return; // a navigation cancels the fetches of the page it leaves
  problems.push(`${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`);
});

let stepNo = 0;
async function step(name, fn) {
  stepNo++;
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    const file = join(artifacts, `FAILED-up-${String(stepNo).padStart(2, "0")}-${name}.png`);
    await p.screenshot({ path: file, fullPage: true }).catch(() => {});
    throw new Error(`step ${stepNo} "${name}" failed (screenshot ${file}): ${e instanceof Error ? e.stack : e}`);
  }
  console.log(`ok   ${String(stepNo).padStart(2, " ")} ${name} (${Date.now() - t0} ms)`);
}

let audited = 0;
async function shot(name) {
  await p.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true, timeout: 60_000 }); // an artifact: a loaded machine may take its time
  await p.evaluate(axeSource);
  const violations = await p.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return r.violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 4).join(", ")})`);
  });
  for (const v of violations) problems.push(`[accessibility of ${name}] ${v}`);
  audited++;
}

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function heading(name) {
  await p.getByRole("heading", { level: 1, name, exact: true }).waitFor();
}

async function nav(name) {
  await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
  await heading(name);
}

await step("register the first admin", async () => {
  await p.goto(base + "/");
  await heading("Create the first account");
  await p.getByLabel("Organisation").fill("Example Security");
  await p.getByLabel("Your name").fill(admin.name);
  await p.getByLabel("Email").fill(admin.email);
  await p.getByLabel("Password", { exact: true }).fill(admin.password);
  await p.getByLabel("Confirm password").fill(admin.password);
  await p.getByRole("button", { name: "Create account" }).click();
  await heading("Overview");
  for (const link of ["Dashboard", "Topology", "Vulnerabilities", "Scans"]) {
    await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).waitFor();
  }
});

await step("the local sensor reports this host on the map", async () => {
  await nav("Topology");
  await p.getByLabel("Show as").selectOption("table");
  // The local sensor starts after the registration and reports within about 30 s; the page refreshes every 10 s.
  await p.locator(`tr[data-node="${hostname}"]`).waitFor({ timeout: 90_000 });
  await p.getByRole("button", { name: `Details of ${hostname}` }).click();
  await p.locator(`aside[data-detail="${hostname}"]`).waitFor();
  await p.getByRole("heading", { level: 2, name: hostname }).waitFor();
  await p.getByRole("button", { name: `Scan ${hostname}` }).waitFor();
  await shot("23-topology-table");
  await p.getByLabel("Show as").selectOption("map");
  const canvas = p.locator(".canvas[data-nodes]");
  await canvas.waitFor();
  check(Number(await canvas.getAttribute("data-nodes")) >= 1, "the map draws no node");
  // cytoscape drew on its canvases: some pixels are not background.
  await p.waitForFunction(() => {
    for (const c of document.querySelectorAll(".canvas canvas")) {
      const g = c.getContext("2d");
      if (g === null || c.width === 0) continue;
      const d = g.getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
    }
    return false;
  });
  await shot("22-topology-hosts");
  await readmeShot(p, artifacts, "map");
});

let scanned = "";
let scanID = "";
await step("scan the container from the map's detail panel", async () => {
  await p.getByLabel("View", { exact: true }).selectOption("containers");
  await p.getByLabel("Search nodes").fill(container);
  await p.getByLabel("Show as").selectOption("table");
  const row = p.locator("tr[data-node]").filter({ hasText: container }).first();
  await row.waitFor({ timeout: 60_000 });
  scanned = (await row.getAttribute("data-node")) ?? container;
  await row.getByRole("button", { name: /^Details of / }).click();
  await p.locator(`aside[data-detail="${scanned}"]`).waitFor();
  await p.getByRole("button", { name: `Scan ${scanned}` }).click();
  await p.getByRole("status").filter({ hasText: "Scan started." }).waitFor();
  scanID = (await p.locator("[data-scan-started]").getAttribute("data-scan-started")) ?? "";
  check(scanID !== "", "the console returned no scan id");
});

await step("follow the scan until it completes", async () => {
  await p.getByRole("link", { name: "Follow it on the scans page" }).click();
  await heading("Scans");
  const row = p.locator(`table.scans tbody tr[data-scan="${scanID}"]`);
  await row.waitFor();
  // The page polls while a scan is queued or running; a real scan of a container takes seconds to minutes.
  const done = row.locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  const status = await done.getAttribute("data-status");
  check(status === "complete", `the scan ended ${status}: ${await row.textContent()}`);
  const n = Number((await row.locator("td").nth(1).getByRole("link").textContent())?.trim());
  check(n > 0, `the completed scan lists ${n} findings`);
  await shot("25-scans");
  // The findings count opens that scan's findings.
  await row.getByRole("link", { name: String(n) }).click();
  await heading("Vulnerabilities");
  await p.getByText(`Findings of scan ${scanID}.`).waitFor();
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
  const listed = await p.locator("table.findings tbody[data-finding]").count();
  check(listed === n, `the scan's findings page lists ${listed} findings, the scan says ${n}`);
});

await step("the scan says what it could not judge: on the scan and on the container's panel", async () => {
  // The image holds Debian 12 packages; the shared feeds' Debian export ends at Debian 11.
  const sentence = "3 packages of Debian 12 were not judged: the knowledge base holds no records for Debian 12.";
  await nav("Scans");
  const row = p.locator(`table.scans tbody tr[data-scan="${scanID}"]`);
  await row.locator("[data-not-judged]").filter({ hasText: "3 not judged" }).waitFor();
  await row.getByRole("button", { name: /^Details: downloads and difference of the scan of / }).click();
  const banner = p.locator(`[data-details="${scanID}"]`).getByRole("note", { name: "Packages not judged" });
  await banner.getByText(sentence).waitFor();
  check((await banner.getAttribute("data-uncovered")) === "Debian:12", `the scan's banner names ${await banner.getAttribute("data-uncovered")}`);
  await banner.getByRole("link", { name: "Feeds and diagnosis" }).waitFor();
  await shot("32-scan-not-judged");
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("containers");
  await p.getByLabel("Show as").selectOption("table");
  await p.getByLabel("Search nodes").fill(container);
  const node = p.locator("tr[data-node]").filter({ hasText: container }).first();
  await node.waitFor({ timeout: 60_000 });
  await node.getByRole("button", { name: /^Details of / }).click();
  const panel = p.locator(`aside[data-detail="${scanned}"]`);
  await panel.locator(`[data-last-scan="${scanID}"]`).waitFor();
  await panel.getByRole("note", { name: "Packages not judged" }).getByText(sentence).waitFor();
  await shot("33-node-not-judged");
});

await step("diagnosis: the release the nodes run that the feeds do not cover, and its feed", async () => {
  await nav("Feeds and diagnosis");
  await p.locator('[data-coverage="gaps"]').waitFor();
  const gap = p.locator('table.coverage tr[data-gap="Debian:12"]');
  await gap.waitFor();
  const text = (await gap.textContent()) ?? "";
  check(text.includes("Debian 12") && text.includes("osv.dev Debian export") && text.includes("Update feeds now"), `the coverage row reads ${text}`);
  check(Number(await gap.locator("td").nth(1).textContent()) === 3, `the coverage row counts ${await gap.locator("td").nth(1).textContent()} packages, want 3`);
  // The malware rules the local sensor uses: the built-in set, none imported.
  const rules = p.locator("[data-malware-rules]");
  check((await rules.getAttribute("data-malware-rules")) === "builtin" && ((await rules.textContent()) ?? "").includes("built-in set"), `malware rules: ${await rules.textContent()}`);
  await shot("34-diagnosis-coverage");
  await readmeShot(p, artifacts, "feeds");
});

await step("scan the container's image from the map's detail panel", async () => {
  // An image belongs to no sensor: the console has a sensor that holds it scan it.
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("images");
  await p.getByLabel("Show as").selectOption("table");
  await p.getByLabel("Search nodes").fill(image);
  const row = p.locator("tr[data-node]").filter({ hasText: image }).first();
  await row.waitFor({ timeout: 60_000 });
  const node = (await row.getAttribute("data-node")) ?? image;
  await row.getByRole("button", { name: /^Details of / }).click();
  await p.locator(`aside[data-detail="${node}"]`).waitFor();
  await p.getByRole("button", { name: `Scan ${node}` }).click();
  await p.getByRole("status").filter({ hasText: "Scan started." }).waitFor();
  const id = (await p.locator("[data-scan-started]").getAttribute("data-scan-started")) ?? "";
  check(id !== "", "the console returned no scan id for the image");
  await p.getByRole("link", { name: "Follow it on the scans page" }).click();
  await heading("Scans");
  const done = p.locator(`table.scans tbody tr[data-scan="${id}"]`).locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  check((await done.getAttribute("data-status")) === "complete", `the image scan ended ${await done.getAttribute("data-status")}`);
});

await step("ranked findings with their explanation", async () => {
  await nav("Vulnerabilities");
  const rows = p.locator("table.findings tbody[data-finding]");
  await rows.first().waitFor();
  const scores = await p.locator("table.findings td.score").allTextContents();
  check(scores.length > 0, "no findings listed");
  for (let i = 1; i < scores.length; i++) check(Number(scores[i - 1]) >= Number(scores[i]), `findings are not ranked: ${scores.join(" ")}`);
  // Advisory ids are links to their public advisory (not followed: nothing leaves the machine).
  const adv = rows.first().locator("a[data-advisory]");
  const id = await adv.getAttribute("data-advisory");
  check((await adv.getAttribute("href")) === `https://osv.dev/vulnerability/${encodeURIComponent(id ?? "")}`, `the advisory link is ${await adv.getAttribute("href")}`);
  await shot("26-vulnerabilities");
  await readmeShot(p, artifacts, "vulnerabilities");
  const why = rows.first().getByRole("button", { name: /^Why / });
  await why.focus();
  await p.keyboard.press("Enter");
  check((await why.getAttribute("aria-expanded")) === "true", "the explanation did not open");
  const factors = p.locator(".explanation table.factors tbody tr");
  await factors.first().waitFor();
  check((await factors.count()) >= 2, "the explanation lists fewer than two factors");
  await shot("27-explanation");
});

await step("the finding's attack path (or node) on the map", async () => {
  const link = p.locator(".explanation").getByRole("link", { name: /^Show the (attack path|node) on the map$/ });
  await link.click();
  await heading("Topology");
  const canvas = p.locator(".canvas[data-ready]");
  await canvas.waitFor();
  const path = (await canvas.getAttribute("data-path")) ?? "";
  check(path !== "", "the map highlights no path");
  await p.getByRole("note").filter({ hasText: /highlighted in red/ }).waitFor();
  // The last node of the path is drawn: clicking it opens its details.
  const box = await canvas.boundingBox();
  const probe = await canvas.evaluate((el) => ({ x: Number(el.dataset.probeX), y: Number(el.dataset.probeY), id: el.dataset.probeId ?? "" }));
  check(path.split(",").includes(probe.id), `the node to click (${probe.id}) is not on the path ${path}`);
  await p.mouse.click(box.x + probe.x, box.y + probe.y);
  await p.locator("aside[data-detail]").waitFor();
  await shot("28-attack-path");
  await p.getByRole("button", { name: "Clear the path" }).click();
  await p.waitForFunction(() => !new URL(location.href).searchParams.has("path"));
  await nav("Vulnerabilities");
});

await step("sortable columns: by severity, by package, back to risk; the order is in the URL", async () => {
  const rank = { critical: 0, high: 1, medium: 2, low: 3, unknown: 4 };
  await p.locator('th[data-sort="severity"] button').click();
  await p.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "severity");
  await p.locator('th[data-sort="severity"][aria-sort="descending"]').waitFor();
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
  // The URL changes first; the list follows when the console answers.
  await p
    .waitForFunction(() => {
      const rank = { critical: 0, high: 1, medium: 2, low: 3, unknown: 4 };
      const s = [...document.querySelectorAll("table.findings tbody[data-finding] tr:first-child td:nth-child(3) .sev")].map((e) => rank[(e.textContent ?? "").trim()]);
      return s.length > 1 && s.every((v, i) => i === 0 || s[i - 1] <= v);
    })
    .catch(() => {}); // the check below says what is listed
  const sevs = await p.locator("table.findings tbody[data-finding] tr:first-child td:nth-child(3) .sev").allTextContents();
  check(sevs.length > 1, `${sevs.length} severities listed`);
  for (let i = 1; i < sevs.length; i++) check(rank[sevs[i - 1].trim()] <= rank[sevs[i].trim()], `not sorted by severity: ${sevs.join(" ")}`);
  await p.locator('th[data-sort="package"] button').click();
  await p.locator('th[data-sort="package"][aria-sort="ascending"]').waitFor();
  await p.waitForFunction(() => {
    const names = [...document.querySelectorAll("table.findings tbody[data-finding] tr:first-child td:nth-child(4)")].map((td) => (td.textContent ?? "").split(" ")[0]);
    return names.length > 0 && names.every((n, i) => i === 0 || names[i - 1].localeCompare(n, "en", { sensitivity: "base" }) <= 0 || names[i - 1] <= n);
  });
  await p.locator('th[data-sort="risk"] button').click();
  await p.waitForFunction(() => !new URL(location.href).searchParams.has("sort"));
  await p.locator('th[data-sort="risk"][aria-sort="descending"]').waitFor();
});

await step("filter by a package search, kept in the URL: a reload reproduces it", async () => {
  await p.getByLabel("Search", { exact: true }).fill("urllib3");
  await p.getByRole("button", { name: "Apply filters" }).click();
  const onlyUrllib3 = () => {
    const pkgs = [...document.querySelectorAll("table.findings tbody[data-finding] tr:first-child td:nth-child(4)")];
    return pkgs.length > 0 && pkgs.every((td) => td.textContent?.startsWith("urllib3"));
  };
  await p.waitForFunction(onlyUrllib3);
  check(new URL(p.url()).searchParams.get("q") === "urllib3", `the URL does not hold the search: ${p.url()}`);
  const listed = await p.locator("table.findings tbody[data-finding]").count();
  await p.reload();
  await heading("Vulnerabilities");
  await p.waitForFunction(onlyUrllib3);
  check((await p.getByLabel("Search", { exact: true }).inputValue()) === "urllib3", "the search field lost the search on reload");
  check((await p.locator("table.findings tbody[data-finding]").count()) === listed, "the reloaded list differs");
});

let decidedVuln = "";
await step("decide: not affected, with reason and expiry; honoured in the list", async () => {
  await p.getByLabel("Search", { exact: true }).fill("");
  await p.getByRole("button", { name: "Apply filters" }).click();
  const rows = p.locator("table.findings tbody[data-finding]");
  // The unfiltered answer, not the urllib3 page still shown until it comes.
  await p.waitForFunction(() =>
    [...document.querySelectorAll("table.findings tbody[data-finding] tr:first-child td:nth-child(4)")].some(
      (td) => !td.textContent?.startsWith("urllib3"),
    ),
  );
  const before = await rows.count();
  // The list is live (findings are rescored as the sensor reports, and the
  // order may change): the finding is read in one go and found again by
  // its vulnerability, package and target, not by its place.
  const picked = await rows.first().evaluate((tb) => ({
    vuln: tb.getAttribute("data-finding") ?? "",
    pkg: (tb.querySelector("tr:first-child td:nth-child(4)")?.textContent ?? "").split(" ")[0],
    target: tb.querySelector("tr:first-child td:nth-child(5)")?.textContent ?? "",
  }));
  decidedVuln = picked.vuln;
  const pkg = picked.pkg;
  // The same vulnerability is found in the container and in its image: the decision is for this node only.
  const target = picked.target;
  const first = rows
    .filter({ has: p.locator("tr:first-child td:nth-child(5)", { hasText: target }) })
    .filter({ has: p.locator("tr:first-child td:nth-child(4)", { hasText: pkg + " " }) })
    .and(p.locator(`tbody[data-finding="${decidedVuln}"]`))
    .first();
  await first.getByRole("button", { name: /^Why / }).click();
  const form = p.getByRole("form", { name: `Decision on ${decidedVuln} in ${pkg}` });
  await form.getByLabel("Decision").selectOption("not_affected");
  await form.getByLabel("Justification (OpenVEX)").selectOption("vulnerable_code_not_in_execute_path");
  await form.getByLabel("Applies to").selectOption("this node");
  const expires = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  await form.getByLabel("Expires on (optional)").fill(expires);
  // Keyboard: the reason is typed and the form submitted with the keyboard.
  await form.getByLabel("Reason").focus();
  await p.keyboard.type("The vulnerable function is never called by this service (e2e).");
  await p.keyboard.press("Tab");
  await p.keyboard.press("Enter");
  await p.getByRole("status").filter({ hasText: `Decision recorded: ${decidedVuln}` }).waitFor();
  await p.locator(`tr[data-decision="${decidedVuln}"]`).waitFor();
  check(((await p.locator(`tr[data-decision="${decidedVuln}"]`).textContent()) ?? "").includes("not affected"), "the decision row does not say not affected (in words)");
  // Honoured: the decided finding leaves the list (on that node; the image keeps its own)...
  await p.waitForFunction(
    ([v, pk, t]) =>
      ![...document.querySelectorAll(`table.findings tbody[data-finding="${v}"]`)].some(
        (tb) =>
          tb.querySelector("tr:first-child td:nth-child(4)")?.textContent?.startsWith(pk + " ") &&
          tb.querySelector("tr:first-child td:nth-child(5)")?.textContent === t,
      ),
    [decidedVuln, pkg, target],
  );
  check((await rows.count()) < before || before === 50, "the list did not shrink after the decision");
  await shot("29-decision");
  // ...and comes back, marked, when decided findings are included.
  await p.getByLabel("Include decided").selectOption("yes");
  await p.getByRole("button", { name: "Apply filters" }).click();
  await p.locator(`table.findings tbody[data-finding="${decidedVuln}"]`).filter({ hasText: "not affected" }).first().waitFor();
  await p.getByLabel("Include decided").selectOption("no");
  await p.getByRole("button", { name: "Apply filters" }).click();
});

await step("downloads: findings CSV, XLSX and PDF, and the decisions as OpenVEX", async () => {
  const [csv] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "CSV", exact: true }).click()]);
  const text = readFileSync(await csv.path(), "utf8");
  check(text.startsWith("risk,type,vulnerability,"), `the CSV starts ${text.slice(0, 60)}`);
  check(text.split("\n").length > 2, "the CSV has no finding rows");
  // The workbook (parsed back cell by cell in internal/scans' TestScanTypes): an OOXML zip with the findings sheet.
  const [xlsx] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "Excel (XLSX)", exact: true }).click()]);
  const book = readFileSync(await xlsx.path());
  check(book.subarray(0, 2).toString("latin1") === "PK" && book.includes("xl/workbook.xml") && book.includes("xl/worksheets/sheet2.xml"), `the XLSX download is not a workbook (${book.length} bytes)`);
  check(xlsx.suggestedFilename() === "findings.xlsx", `the XLSX download is named ${xlsx.suggestedFilename()}`);
  // The PDF report (its text read back in TestScanTypes with pdftotext).
  const [pdf] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "PDF report", exact: true }).click()]);
  const report = readFileSync(await pdf.path());
  check(report.subarray(0, 5).toString("latin1") === "%PDF-" && report.subarray(-7).toString("latin1").includes("%%EOF"), `the PDF download is not a PDF (${report.length} bytes)`);
  check(pdf.suggestedFilename() === "findings.pdf", `the PDF download is named ${pdf.suggestedFilename()}`);
  const [vex] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "OpenVEX", exact: true }).click()]);
  const doc = JSON.parse(readFileSync(await vex.path(), "utf8"));
  check(String(doc["@context"]).includes("openvex"), `the OpenVEX download has context ${doc["@context"]}`);
  check(JSON.stringify(doc.statements ?? []).includes(decidedVuln), `the OpenVEX statements lack ${decidedVuln}`);
});

/** The API as the signed-in page sees it (its session cookie). */
async function api(path) {
  return p.evaluate(async (u) => {
    const r = await fetch(u);
    if (!r.ok) throw new Error(`GET ${u}: ${r.status}`);
    return r.json();
  }, `${base}/api/v1${path}`);
}

/** The files of a zip (an XLSX workbook): name → contents, read from its central directory. */
function unzip(buf) {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  check(eocd >= 0, "the workbook is not a zip");
  const files = new Map();
  let at = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < buf.readUInt16LE(eocd + 10); i++) {
    check(buf.readUInt32LE(at) === 0x02014b50, "a broken zip central directory");
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const name = buf.toString("utf8", at + 46, at + 46 + nameLen);
    const local = buf.readUInt32LE(at + 42);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + size);
    files.set(name, (method === 8 ? inflateRawSync(data) : data).toString("utf8"));
    at += 46 + nameLen + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
  return files;
}

/** The text a PDF draws: its (Flate) content streams inflated, the strings of their text operators unescaped. */
function pdfText(buf) {
  const s = buf.toString("latin1");
  const out = [];
  for (const m of s.matchAll(/stream\r?\n/g)) {
    const start = m.index + m[0].length;
    const end = s.indexOf("endstream", start);
    let body;
    try {
      body = inflateSync(buf.subarray(start, end)).toString("latin1");
    } catch {
      continue; // not a Flate stream (an image, a font)
    }
    for (const t of body.matchAll(/\(((?:\\.|[^\\)])*)\)\s*Tj/g)) out.push(t[1].replace(/\\(.)/g, "$1"));
  }
  return out.join("\n");
}

await step("workbench: a deep link reproduces a search by node name; views by node and image; an empty list says the filters empty it", async () => {
  const found = await api(`/findings?q=${encodeURIComponent(container)}&limit=1`);
  const every = await api("/findings?limit=1");
  check(found.total > 0 && found.total < every.total, `the search by the container's name finds ${found.total} of ${every.total}`);
  const link = `/vulnerabilities?q=${encodeURIComponent(container)}&sort=package&order=asc`;
  for (const how of ["link", "reload"]) {
    if (how === "link") await p.goto(base + link);
    else await p.reload();
    await heading("Vulnerabilities");
    check((await p.getByLabel("Search").inputValue()) === container, `after the ${how} the search field holds ${await p.getByLabel("Search").inputValue()}`);
    await p.getByRole("status").filter({ hasText: `${found.total} finding${found.total === 1 ? "" : "s"}, by package, ascending.` }).waitFor();
  }
  for (const [view, label] of [
    ["node", "By node"],
    ["image", "By image"],
    ["vulnerability", "By vulnerability"],
  ]) {
    await p.getByRole("button", { name: label, exact: true }).click();
    check(new URL(p.url()).searchParams.get("view") === view && new URL(p.url()).searchParams.get("q") === container, `the ${label} view's URL is ${p.url()}`);
    const groups = await api(`/findings/groups?by=${view}&limit=200&q=${encodeURIComponent(container)}`);
    const rows = p.locator(`table[data-groups="${view}"] tbody tr[data-group]`);
    if (groups.items.length === 0) {
      await p.locator('[data-empty="filters"]').waitFor();
      continue;
    }
    await rows.first().waitFor();
    check((await rows.count()) === groups.items.length, `the ${label} view shows ${await rows.count()} groups, the API ${groups.items.length}`);
    if (view === "node") await shot("31-findings-by-node");
  }
  await p.goto(`${base}/vulnerabilities?q=no-such-thing-anywhere`);
  await p.locator('[data-empty="filters"]').waitFor();
  check((await p.locator('[data-empty="none"]').count()) === 0, "a filtered empty list blames the feeds");
  await p.getByRole("link", { name: "Clear the filters" }).click();
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
  check(new URL(p.url()).search === "", `clearing the filters left ${p.url()}`);
});

await step("a vulnerability's page: description, references, severity sources, fixed versions and every node it is on", async () => {
  const first = p.locator("table.findings a[data-vuln-page]").first();
  const id = (await first.getAttribute("data-vuln-page")) ?? "";
  await first.click();
  const rows = p.locator("table[data-affected-nodes] tbody tr[data-node]");
  await rows.first().waitFor();
  check(new URL(p.url()).pathname === `/vulnerabilities/${encodeURIComponent(id)}`, `the id led to ${p.url()}`);
  const all = await api(`/findings?vulnId=${encodeURIComponent(id)}&includeSuppressed=true&limit=1000`);
  const want = new Set(all.items.map((f) => (f.nodeId !== undefined && f.nodeId !== "" ? f.nodeId : f.target.ref)));
  const got = new Set(await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-node"))));
  check(want.size > 0 && want.size === got.size && [...want].every((n) => got.has(n)), `the page lists nodes ${[...got]}, the findings are on ${[...want]}`);
  for (const h of ["Description", "References", "Severity sources", "Fixed versions"]) await p.getByRole("heading", { level: 2, name: h }).waitFor();
  await readmeShot(p, artifacts, "vulnerability");
  const refs = await p.locator("ul.refs a").evaluateAll((as) => as.map((a) => a.getAttribute("href") ?? ""));
  check(refs.every((r) => /^https?:\/\//.test(r)), `reference links ${refs.slice(0, 3)}`);
  check((await p.locator("#sev-h + table tbody tr").count()) > 0, "no severity source");
  await shot("32-vulnerability");
});

await step("reports: the filtered XLSX and a node's PDF hold exactly what is filtered, with scope, summary and charts (parsed back)", async () => {
  const found = await api(`/findings?q=${encodeURIComponent(container)}&limit=1`);
  await p.goto(`${base}/vulnerabilities?q=${encodeURIComponent(container)}`);
  await p.getByRole("status").filter({ hasText: new RegExp(`^${found.total} findings?,`) }).waitFor();
  const [xlsx] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "Excel (XLSX)", exact: true }).click()]);
  const book = unzip(readFileSync(await xlsx.path()));
  const sheets = [...book.keys()].filter((n) => n.startsWith("xl/worksheets/sheet")).sort();
  const findingsSheet = book.get("xl/worksheets/sheet2.xml") ?? "";
  const rowsInBook = (findingsSheet.match(/<row /g) ?? []).length;
  check(rowsInBook === found.total + 1, `the workbook holds ${rowsInBook - 1} findings, the filtered list ${found.total} (sheets ${sheets})`);
  const summary = (book.get("xl/sharedStrings.xml") ?? "") + (book.get("xl/worksheets/sheet1.xml") ?? "");
  check(summary.includes(`q=${container}`) && summary.includes("scope"), "the workbook's summary does not say its filter and scope");
  check([...book.keys()].filter((n) => /^xl\/charts\/chart\d+\.xml$/.test(n)).length === 2, "the workbook's summary has no two charts");

  const nodeId = (await api(`/findings?q=${encodeURIComponent(container)}&limit=1`)).items[0].nodeId;
  const ofNode = await api(`/findings?nodeId=${encodeURIComponent(nodeId)}&limit=1`);
  await p.goto(`${base}/vulnerabilities?nodeId=${encodeURIComponent(nodeId)}`);
  await p.getByRole("status").filter({ hasText: new RegExp(`^${ofNode.total} findings?,`) }).waitFor();
  const [pdf] = await Promise.all([p.waitForEvent("download"), p.getByRole("link", { name: "PDF report", exact: true }).click()]);
  const text = pdfText(readFileSync(await pdf.path()));
  check(text.includes("Riskmap findings report"), `the PDF reads ${text.slice(0, 120)}`);
  check(text.includes(`Scope: node ${container}`) || text.includes(`Scope: node `), `the PDF's scope: ${text.match(/Scope: .*/)?.[0]}`);
  check(text.includes(`${ofNode.total} findings,`), `the PDF's summary does not count ${ofNode.total} findings: ${text.match(/\d+ findings, .*/)?.[0]}`);
  check(text.includes("Findings by severity") && text.includes("Where they are"), "the PDF's summary page lacks its charts");
});

await step("scans page: start a scan of the selected host, then cancel it", async () => {
  await nav("Scans");
  await p.getByLabel("Node kind").selectOption("host");
  await p.getByRole("checkbox", { name: hostname }).check();
  await p.getByRole("button", { name: "Scan 1 selected" }).click();
  await p.getByRole("status").filter({ hasText: "1 scan started." }).waitFor();
  const row = p.locator("table.scans tbody tr").filter({ hasText: /^host/ }).first();
  await row.locator('[data-status="queued"], [data-status="running"]').waitFor();
  await row.getByRole("button", { name: /^Cancel the scan of / }).click();
  // The sensor stops the scan at its next heartbeat; the page keeps polling until it does.
  await row.locator('[data-status="cancelled"]').waitFor({ timeout: 90_000 });
});

await step("scan the container again; the difference and the SBOM and report downloads", async () => {
  await p.getByLabel("Node kind").selectOption("container");
  await p.getByLabel("Find nodes").fill(container);
  await p.getByRole("checkbox", { name: scanned }).check();
  await p.getByRole("button", { name: "Scan 1 selected" }).click();
  await p.getByRole("status").filter({ hasText: "1 scan started." }).waitFor();
  // The history reloads: the newest row becomes the new container scan.
  const second = await (
    await p.waitForFunction((first) => {
      const r = document.querySelector("table.scans tbody tr[data-scan]");
      return r !== null && r.getAttribute("data-scan") !== first && r.textContent?.startsWith("container") ? r.getAttribute("data-scan") : null;
    }, scanID)
  ).jsonValue();
  const row = p.locator(`table.scans tbody tr[data-scan="${second}"]`);
  const done = row.locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  check((await done.getAttribute("data-status")) === "complete", `the second scan ended ${await done.getAttribute("data-status")}`);
  await row.getByRole("button", { name: /^Details: downloads and difference of the scan of / }).click();
  const details = p.locator(`[data-details="${second}"]`);
  await details.getByLabel("Compare with the scan of").waitFor();
  await details.getByRole("button", { name: "Show the difference" }).click();
  const diff = details.getByRole("region", { name: "Difference between the two scans" });
  await diff.waitFor();
  check((await diff.getAttribute("data-diff")) === `${scanID}..${second}`, `the difference compares ${await diff.getAttribute("data-diff")}`);
  const summary = (await diff.locator("p").first().textContent()) ?? "";
  const m = /^(\d+) new, (\d+) fixed, (\d+) unchanged\.$/.exec(summary);
  check(m !== null && Number(m[3]) > 0, `the difference of two scans of an unchanged container reads "${summary}"`);
  await shot("30-scan-diff");
  const [sbom] = await Promise.all([p.waitForEvent("download"), details.getByRole("link", { name: /^SBOM of .* as cyclonedx-json$/ }).click()]);
  const bom = JSON.parse(readFileSync(await sbom.path(), "utf8"));
  check(bom.bomFormat === "CycloneDX" && (bom.components ?? []).length > 0, `the SBOM download is ${JSON.stringify(bom).slice(0, 80)}`);
  const [spdx] = await Promise.all([p.waitForEvent("download"), details.getByRole("link", { name: /^SBOM of .* as spdx-json$/ }).click()]);
  check(String(JSON.parse(readFileSync(await spdx.path(), "utf8")).spdxVersion).startsWith("SPDX-"), "the SPDX download has no spdxVersion");
  const [sarif] = await Promise.all([p.waitForEvent("download"), details.getByRole("link", { name: /^Report of .* as sarif$/ }).click()]);
  check(JSON.parse(readFileSync(await sarif.path(), "utf8")).version === "2.1.0", "the SARIF report is not SARIF 2.1.0");
});

await step("a secret scan of the container from the map's detail panel: the planted secrets, redacted", async () => {
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("containers");
  await p.getByLabel("Show as").selectOption("table");
  await p.getByLabel("Search nodes").fill(container);
  const row = p.locator("tr[data-node]").filter({ hasText: container }).first();
  await row.waitFor({ timeout: 60_000 });
  await row.getByRole("button", { name: /^Details of / }).click();
  const panel = p.locator(`aside[data-detail="${scanned}"]`);
  await panel.waitFor();
  // The local sensor runs secret scans: the type is offered.
  const picker = panel.getByLabel("Scan type");
  await p.waitForFunction(() => {
    const o = document.querySelector('aside[data-detail] option[value="secret"]');
    return o !== null && !o.disabled;
  });
  await picker.selectOption("secret");
  await p.getByRole("button", { name: `Scan ${scanned}` }).click();
  await p.getByRole("status").filter({ hasText: "Scan started." }).waitFor();
  const id = (await p.locator("[data-scan-started]").getAttribute("data-scan-started")) ?? "";
  check(id !== "", "the console returned no id for the secret scan");
  await p.getByRole("link", { name: "Follow it on the scans page" }).click();
  await heading("Scans");
  const scanRow = p.locator(`table.scans tbody tr[data-scan="${id}"]`);
  const done = scanRow.locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  check((await done.getAttribute("data-status")) === "complete", `the secret scan ended ${await done.getAttribute("data-status")}: ${await scanRow.textContent()}`);
  check(((await scanRow.textContent()) ?? "").includes("secret"), `the scan's row does not say its type: ${await scanRow.textContent()}`);
  const n = Number((await scanRow.locator("td").nth(1).getByRole("link").textContent())?.trim());
  check(n === planted.length, `the secret scan lists ${n} findings, ${planted.length} were planted`);
  await scanRow.getByRole("link", { name: String(n) }).click();
  await heading("Vulnerabilities");
  const rows = p.locator("table.findings tbody[data-finding]");
  await rows.first().waitFor();
  const rules = (await rows.evaluateAll((bs) => bs.map((b) => b.getAttribute("data-finding")))).sort();
  const want = planted.map((x) => x.rule).sort();
  check(JSON.stringify(rules) === JSON.stringify(want), `the secret findings are ${rules.join(", ")}, want ${want.join(", ")}`);
  for (const t of await p.locator("table.findings td[data-type]").allTextContents()) check(t.startsWith("secret"), `a finding of the secret scan has type ${t}`);
  const excerpts = await p.locator("table.findings td[data-type]").allTextContents();
  check(excerpts.some((t) => t.includes("[REDACTED]")), `no redacted excerpt shown: ${excerpts.join(" | ")}`);
  // The secret, or any 10 characters of it, is nowhere on the page.
  const html = await p.content();
  for (const x of planted)
    for (const line of x.secret.split("\n").filter((l) => l.length >= 14))
      check(!html.includes(line) && !html.includes(line.slice(4, 14)), `the page shows the secret of ${x.path}`);
  // The explanation of a secret's risk names the node's exposure.
  const why = rows.first().getByRole("button", { name: /^Why / });
  await why.click();
  await p.locator(".explanation table.factors tbody tr").first().waitFor();
  await shot("35-secrets");
});

await step("a malware scan of the container from the map: the EICAR test file planted in its image", async () => {
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("containers");
  await p.getByLabel("Show as").selectOption("table");
  await p.getByLabel("Search nodes").fill(container);
  const row = p.locator("tr[data-node]").filter({ hasText: container }).first();
  await row.waitFor({ timeout: 60_000 });
  await row.getByRole("button", { name: /^Details of / }).click();
  const panel = p.locator(`aside[data-detail="${scanned}"]`);
  await panel.waitFor();
  await p.waitForFunction(() => {
    const o = document.querySelector('aside[data-detail] option[value="malware"]');
    return o !== null && !o.disabled;
  });
  await panel.getByLabel("Scan type").selectOption("malware");
  await p.getByRole("button", { name: `Scan ${scanned}` }).click();
  await p.getByRole("status").filter({ hasText: "Scan started." }).waitFor();
  const id = (await p.locator("[data-scan-started]").getAttribute("data-scan-started")) ?? "";
  await p.getByRole("link", { name: "Follow it on the scans page" }).click();
  await heading("Scans");
  const scanRow = p.locator(`table.scans tbody tr[data-scan="${id}"]`);
  const done = scanRow.locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  check((await done.getAttribute("data-status")) === "complete", `the malware scan ended ${await done.getAttribute("data-status")}: ${await scanRow.textContent()}`);
  const n = Number((await scanRow.locator("td").nth(1).getByRole("link").textContent())?.trim());
  check(n === 1, `the malware scan lists ${n} findings, want the EICAR file`);
  await scanRow.getByRole("link", { name: String(n) }).click();
  await heading("Vulnerabilities");
  const f = p.locator("table.findings tbody[data-finding]").first();
  await f.waitFor();
  check((await f.getAttribute("data-finding")) === "EICAR-Test-File", `the malware finding is ${await f.getAttribute("data-finding")}`);
  check(((await f.textContent()) ?? "").includes("/srv/eicar.com"), `the malware finding does not name its file: ${await f.textContent()}`);
  await shot("36-malware");
});

/** Whether a map canvas shows colour (#rrggbb) within 3 px of (x, y), canvas coordinates. */
async function mapShows(x, y, colour) {
  return p.evaluate(
    ({ x, y, colour }) => {
      const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
      for (const c of document.querySelectorAll(".canvas canvas")) {
        const g = c.getContext("2d");
        if (g === null || c.width === 0) continue;
        const k = c.width / c.getBoundingClientRect().width;
        const d = g.getImageData(Math.round((x - 3) * k), Math.round((y - 3) * k), Math.round(7 * k), Math.round(7 * k)).data;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 200 && want.every((w, j) => Math.abs(d[i + j] - w) <= 12)) return true;
        }
      }
      return false;
    },
    { x, y, colour },
  );
}

let hostId = "";
await step("risk on the map: the scanned container's counts and colour, rolled up to its host; keyboard; a deep link", async () => {
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("containers");
  await p.getByLabel("Show as").selectOption("map");
  // The keyboard list, riskiest first: the scanned container with its counts (vulnerabilities, the planted secrets, the EICAR file).
  const opt = p.locator('.node-list [role="option"]').filter({ hasText: scanned }).first();
  await opt.waitFor({ timeout: 30_000 });
  // The map's risk is up to 5 s old (the console caches it) and the page refreshes every 10 s: the malware scan just completed.
  let badge = "";
  for (let i = 0; i < 60 && !(/\dS\b/.test(badge) && /\dX\b/.test(badge)); i++) {
    if (i > 0) await p.waitForTimeout(500);
    badge = (await opt.getAttribute("data-badge")) ?? "";
  }
  const worst = (await opt.getAttribute("data-worst")) ?? "";
  const id = (await opt.getAttribute("data-node-id")) ?? "";
  check(["critical", "high", "medium", "low", "unknown"].includes(worst), `the scanned container's worst finding on the map is ${worst}`);
  check(/\dS\b/.test(badge) && /\dX\b/.test(badge), `the container's badge "${badge}" lacks its secrets (S) or malware (X)`);
  check(/\d+ secrets?/.test((await opt.textContent()) ?? ""), `the list does not say the container's counts in words: ${await opt.textContent()}`);
  // The map: the riskiest node drawn is the container, filled with its worst finding's colour.
  const canvas = p.locator(".canvas[data-ready]");
  await canvas.waitFor();
  await p.waitForFunction((id) => document.querySelector(".canvas[data-ready]")?.getAttribute("data-risky-id") === id, id);
  const risky = await canvas.evaluate((el) => ({ x: Number(el.dataset.riskyX), y: Number(el.dataset.riskyY), colour: el.dataset.riskyColour ?? "" }));
  const legend = p.getByRole("group", { name: "Map legend" });
  await legend.locator(`[data-legend="${worst}"]`).waitFor();
  let filled = false;
  for (let i = 0; i < 20 && !filled; i++) {
    filled = await mapShows(risky.x, risky.y, risky.colour);
    if (!filled) await p.waitForTimeout(250);
  }
  check(filled, `the map does not fill ${scanned} with ${risky.colour} at ${risky.x},${risky.y}`);
  // Keyboard: Tab to the list, Home to the riskiest, Enter opens its panel.
  const list = p.getByRole("listbox", { name: /^Nodes on the map/ });
  await list.focus();
  await p.keyboard.press("End");
  await p.keyboard.press("Home");
  await p.keyboard.press("Enter");
  const panel = p.locator(`aside[data-detail="${scanned}"][data-loaded="true"]`);
  await panel.waitFor();
  check((await panel.locator("[data-risk-worst]").getAttribute("data-risk-worst")) === worst, "the panel's risk differs from the map's");
  check(new URL(p.url()).searchParams.get("node") === id, `the selected node is not in the URL: ${p.url()}`);
  // Connections: the panel counts the edges the map draws at the node.
  const conns = Number(await panel.locator("[data-connections]").getAttribute("data-connections"));
  const listed = await panel.locator("[data-map-connections] li").count();
  check(conns === listed, `the panel says ${conns} connections and lists ${listed}`);
  await shot("24-topology-risk");
  // A deep link reproduces the view and the selection.
  const link = p.url();
  const q = await ctx.newPage();
  q.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error (deep link): ${m.text()}`);
  });
  await q.goto(link);
  await q.locator(`aside[data-detail="${scanned}"][data-loaded="true"]`).waitFor();
  check((await q.getByLabel("View", { exact: true }).inputValue()) === "containers", "the deep link lost the view");
  await q.locator(`.node-list [role="option"][aria-selected="true"][data-node-id="${id}"]`).waitFor();
  await q.close();

  // The hosts view: the host sums its containers' findings.
  await p.getByLabel("View", { exact: true }).selectOption("hosts");
  const host = p.locator('.node-list [role="option"]').filter({ hasText: hostname }).first();
  await host.waitFor();
  hostId = (await host.getAttribute("data-node-id")) ?? "";
  const order = ["none", "unknown", "low", "medium", "high", "critical"];
  const hostWorst = (await host.getAttribute("data-worst")) ?? "";
  check(order.indexOf(hostWorst) >= order.indexOf(worst), `the host's colour on the map is ${hostWorst}, its container's ${worst}`);
  // Its counts are the sum of its containers' (the host itself was not
  // scanned; other containers of the image on this machine may have
  // adopted the image's scan), as the API answers both views.
  const sums = await p.evaluate(async (host) => {
    const get = async (q) => (await (await fetch(`/api/v1/topology/graph?${q}`)).json()).nodes;
    const sum = {};
    for (const n of await get(`view=containers&host=${encodeURIComponent(host)}`))
      for (const [k, v] of Object.entries(n.risk ?? {})) if (typeof v === "number" && k !== "maxScore") sum[k] = (sum[k] ?? 0) + v;
    const h = (await get("view=hosts")).find((n) => n.id === host);
    const own = Object.fromEntries(Object.entries(h?.risk ?? {}).filter(([k, v]) => typeof v === "number" && k !== "maxScore"));
    return { containers: JSON.stringify(Object.entries(sum).sort()), host: JSON.stringify(Object.entries(own).sort()) };
  }, hostId);
  check(sums.host === sums.containers, `the host's counts ${sums.host} are not the sum of its containers' ${sums.containers}`);
  await host.click();
  const hp = p.locator(`aside[data-detail="${hostname}"][data-loaded="true"]`);
  await hp.waitFor();
  // Names and units, not raw numbers: no fact is a bare number of 7 digits or more.
  for (const dd of await hp.locator("dl.facts dd").allTextContents()) check(!/^\d{7,}$/.test(dd.trim()), `a fact shows a raw number: ${dd}`);
  // The child list says how much of it is shown, and pages through it.
  const total = Number(await hp.locator("[data-children-total]").getAttribute("data-children-total"));
  const shown = Number(await hp.locator("[data-children-shown]").getAttribute("data-children-shown"));
  check(shown === Math.min(30, total), `the panel shows ${shown} of ${total} children`);
  if (total > 30) {
    await hp.getByText(`Showing 30 of ${total}`).waitFor();
    await hp.getByRole("button", { name: /^Show \d+ more$/ }).click();
    check(Number(await hp.locator("[data-children-shown]").getAttribute("data-children-shown")) === Math.min(60, total), "Show more did not show more");
  }
  // Expand the host in place: its containers and processes join the map, the URL keeps it.
  const before = Number(await p.locator(".canvas[data-nodes]").getAttribute("data-nodes"));
  await hp.getByRole("button", { name: "Expand its containers and processes on the map" }).click();
  await p.waitForFunction((n) => Number(document.querySelector(".canvas[data-ready]")?.getAttribute("data-nodes")) > n, before);
  await p.locator('.node-list [role="option"]').filter({ hasText: scanned }).first().waitFor();
  check((new URL(p.url()).searchParams.get("expand") ?? "").split(",").includes(hostId), `the expanded host is not in the URL: ${p.url()}`);
  await shot("24-topology-expanded");
  // A process carries the findings of what it runs in: the scanned container's processes its counts (docs/topology.md).
  const carried = await p.evaluate(
    async ({ host, container }) => {
      const get = async (q) => (await (await fetch(`/api/v1/topology/graph?${q}`)).json()).nodes;
      const c = (await get(`view=containers&host=${encodeURIComponent(host)}`)).find((n) => n.id === container);
      const procs = (await get(`view=processes&host=${encodeURIComponent(host)}`)).filter((n) => n.parent === container);
      return { container: JSON.stringify(c?.risk ?? null), procs: procs.map((n) => JSON.stringify(n.risk ?? null)), first: procs[0]?.id ?? "" };
    },
    { host: hostId, container: id },
  );
  check(carried.procs.length > 0 && carried.procs.every((r) => r === carried.container), `the scanned container's processes carry ${carried.procs.join(" ")}; its findings are ${carried.container}`);
  // Its panel says whose findings they are.
  const withProc = new URL(p.url());
  withProc.searchParams.set("node", carried.first);
  await p.goto(withProc.toString());
  await p.locator(`[data-risk-from="${id}"]`).waitFor();
  withProc.searchParams.set("node", hostId);
  await p.goto(withProc.toString());
  await hp.waitFor();
  await hp.getByRole("button", { name: "Collapse its containers and processes" }).click();
  await p.waitForFunction(() => !new URL(location.href).searchParams.has("expand"));
  // Grouping: by cluster (a host outside any cluster stays itself), in the URL.
  await p.getByLabel("Group by").selectOption("cluster");
  await p.waitForFunction(() => new URL(location.href).searchParams.get("group") === "cluster");
  await p.locator(".graph-status").filter({ hasText: "Aggregated view" }).waitFor();
  await p.getByLabel("Group by").selectOption("auto");
});

await step("a compliance scan of this host from the map (CIS Docker benchmark): results on the Compliance page and the host's panel", async () => {
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("hosts");
  await p.getByLabel("Show as").selectOption("table");
  await p.locator(`tr[data-node="${hostname}"]`).waitFor({ timeout: 60_000 });
  await p.getByRole("button", { name: `Details of ${hostname}` }).click();
  const panel = p.locator(`aside[data-detail="${hostname}"]`);
  await panel.waitFor();
  await panel.getByLabel("Compliance profile", { exact: true }).selectOption("cis-docker");
  await panel.getByRole("button", { name: `Compliance scan of ${hostname}` }).click();
  await p.getByRole("status").filter({ hasText: "Scan started." }).waitFor();
  const id = (await p.locator("[data-scan-started]").getAttribute("data-scan-started")) ?? "";
  await p.getByRole("link", { name: "Follow it on the scans page" }).click();
  await heading("Scans");
  const scanRow = p.locator(`table.scans tbody tr[data-scan="${id}"]`);
  const done = scanRow.locator('[data-status="complete"], [data-status="error"], [data-status="cancelled"]');
  await done.waitFor({ timeout: 180_000 });
  check((await done.getAttribute("data-status")) === "complete", `the compliance scan ended ${await done.getAttribute("data-status")}: ${await scanRow.textContent()}`);
  await nav("Compliance");
  // One row per section of the benchmark (daemon, files, container runtime...), and the host's overall rate.
  const bench = p.locator('tr[data-benchmark="cis-docker"]');
  await bench.first().waitFor({ timeout: 30_000 });
  check((await bench.count()) >= 2, `${await bench.count()} CIS Docker sections listed`);
  const overall = p.locator("[data-compliance-overall]");
  await overall.waitFor();
  const rate = Number(await overall.getAttribute("data-compliance-overall"));
  check(rate > 0 && rate < 1, `the CIS Docker pass rate of this host is ${rate}`);
  await p.locator("tr[data-control]").first().waitFor();
  await shot("37-compliance");
  await readmeShot(p, artifacts, "compliance");
  await nav("Topology");
  await p.getByLabel("View", { exact: true }).selectOption("hosts");
  await p.getByLabel("Show as").selectOption("table");
  await p.getByRole("button", { name: `Details of ${hostname}` }).click();
  const nc = p.locator(`aside[data-detail="${hostname}"] [data-node-compliance]`);
  await nc.waitFor();
  check(Number(await nc.getAttribute("data-node-compliance")) === rate, `the host's panel shows ${await nc.getAttribute("data-node-compliance")}, the page ${rate}`);
});

await step("dashboard: counts, top findings, sensor health", async () => {
  await nav("Dashboard");
  await p.locator('.card[data-kind="host"] .big').waitFor();
  check(Number(await p.locator('.card[data-kind="host"] .big').textContent()) >= 1, "the dashboard counts no host");
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
  await p.locator(`tr[data-sensor="${hostname}"]`).waitFor();
  // The charts: findings by severity, and the findings after each scan (two complete container scans at least).
  await p.locator('figure[data-chart="severity"] svg[role="group"]').waitFor();
  const bars = await p.locator('figure[data-chart="severity"] table td').allTextContents();
  check(bars.map(Number).reduce((a, b) => a + b, 0) > 0, `the severity chart counts ${bars.join(" ")}`);
  check((await p.locator('figure[data-chart="over-time"] circle').count()) >= 2, "the findings-over-time chart has fewer than two points");
  // One row per vulnerability (GET /findings/groups), and the riskiest nodes by name.
  const vulnRow = p.locator('table.groups[data-group="vulnerability"] tbody tr[data-vuln]').first();
  await vulnRow.waitFor();
  const vulnId = await vulnRow.getAttribute("data-vuln");
  await p.locator('table.groups[data-group="node"] tbody tr[data-node]').first().waitFor();
  const nodeNames = await p.locator('table.groups[data-group="node"] tbody tr[data-node] th').allTextContents();
  check(nodeNames.every((n) => !/^[0-9a-f]{64}$/.test(n.trim())), `the riskiest nodes are named by ids: ${nodeNames}`);
  // The scanned image with its container (scanned itself): one row, both nodes counted.
  const imageRow = p.locator('table.groups[data-group="image"] tbody tr[data-image]').first();
  await imageRow.waitFor();
  const imageNodes = Number(await imageRow.locator("td").first().textContent());
  check(imageNodes >= 2, `the riskiest image counts ${imageNodes} nodes, not the image and its container`);
  await shot("21-dashboard");
  await readmeShot(p, artifacts, "dashboard");
  // Bounded lists say how much they show and lead to the rest.
  for (const list of ["vulnerabilities", "findings", "nodes", "images", "sensors"]) {
    check(/^Showing (\d+ of [\d,]+|all [\d,]+) /.test((await p.locator(`[data-shown="${list}"]`).textContent()) ?? ""), `the dashboard does not say how many ${list} it shows`);
  }
  // The riskiest node opens the map on it.
  const nodeLink = p.locator('table.groups[data-group="node"] tbody tr[data-node] th a').first();
  check(((await nodeLink.getAttribute("href")) ?? "").startsWith("/topology?node="), `the riskiest node links to ${await nodeLink.getAttribute("href")}`);
  // The vulnerability's row leads to its page, its findings on every node one link further.
  await vulnRow.getByRole("link", { name: vulnId }).click();
  await p.locator("table[data-affected-nodes] tbody tr[data-node]").first().waitFor();
  await p.getByRole("link", { name: "Its findings in the list" }).click();
  await p.getByText(`Findings of ${vulnId} on every node.`).waitFor();
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
});

await step("dashboard links: a severity bar opens its findings, a count opens the map", async () => {
  await nav("Dashboard");
  await p.locator('figure[data-chart="severity"] table th').first().waitFor();
  const labels = await p.locator('figure[data-chart="severity"] table th').allTextContents();
  const values = (await p.locator('figure[data-chart="severity"] table td').allTextContents()).map(Number);
  const sev = labels[values.findIndex((v) => v > 0)]?.trim();
  check(sev !== undefined, `no severity with findings: ${labels} ${values}`);
  await p.locator(`figure[data-chart="severity"] a[data-bar="${sev}"]`).click();
  await heading("Vulnerabilities");
  check(new URL(p.url()).searchParams.get("severity") === sev, `the bar led to ${p.url()}`);
  check((await p.getByLabel("Severity", { exact: true }).inputValue()) === sev, "the severity filter is not set from the link");
  await p.locator("table.findings tbody[data-finding]").first().waitFor();
  const shown = await p.locator("table.findings tbody[data-finding] tr:first-child td:nth-child(3) .sev").allTextContents();
  check(shown.length > 0 && shown.every((t) => t.trim() === sev), `the ${sev} bar lists ${shown.join(" ")}`);
  await nav("Dashboard");
  await p.locator('.card[data-kind="host"] a').click();
  await heading("Topology");
  check(new URL(p.url()).searchParams.get("view") === "hosts", `the host count led to ${p.url()}`);
});

await step("the audit log lists every change the scenario made", async () => {
  await nav("Audit log");
  await p.locator("table.audit tbody tr[data-action]").first().waitFor();
  const rows = await p.locator("table.audit tbody tr[data-action]").evaluateAll((trs) =>
    trs.map((tr) => ({ action: tr.getAttribute("data-action"), text: tr.textContent ?? "" })),
  );
  const count = (a) => rows.filter((r) => r.action === a).length;
  const want = {
    register: 1, // the first admin
    "enrolment_token.create": 1, // riskmap up's single-use token for its own sensor
    "sensor.enrol": 1, // the local sensor, as itself
    "scan.start": 7, // the container, its image, the host (cancelled), the container again, its secret and malware scans, the host's compliance scan
    "scan.cancel": 1,
    "finding.decision.create": 1,
  };
  for (const [a, n] of Object.entries(want)) check(count(a) >= n, `the audit log has ${count(a)} ${a} entries, want at least ${n}: ${rows.map((r) => r.action).join(" ")}`);
  const decision = rows.find((r) => r.action === "finding.decision.create");
  check(decision.text.includes(decidedVuln) && decision.text.includes(admin.email), `the decision's entry reads ${decision.text}`);
  const cancel = rows.find((r) => r.action === "scan.cancel");
  check(cancel.text.includes(admin.email), `the cancellation's entry reads ${cancel.text}`);
  const enrol = rows.find((r) => r.action === "sensor.enrol");
  check(enrol.text.includes(hostname), `the enrolment's entry does not name the host: ${enrol.text}`);
  await shot("31-audit");
});

await ctx.close();
if (problems.length > 0) {
  console.error(`browser problems during the run:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`ok   no browser console errors; ${audited} pages pass the accessibility audit; screenshots in ${artifacts}`);
