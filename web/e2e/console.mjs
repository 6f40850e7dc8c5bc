// End-to-end walk through the web console in headless Chromium, started by
// console_test.go against a real `riskmap console`. Every step asserts what a
// user sees; any browser console error, uncaught exception, 5xx response or
// accessibility violation (axe-core, on every screenshotted page) fails the
// run. Screenshots go to $RISKMAP_E2E_ARTIFACTS; what the Go test
// checks afterwards on the API (the keys created here) goes to results.json.
import { chromium } from "playwright-core";
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { axeSource, chromiumFlags, env } from "./browser.mjs";

const base = env("RISKMAP_URL");
const artifacts = env("RISKMAP_E2E_ARTIFACTS");
const profiles = env("RISKMAP_E2E_PROFILES");
const admin = { email: env("RISKMAP_E2E_ADMIN_EMAIL"), password: env("RISKMAP_E2E_ADMIN_PASSWORD"), name: "Ada Admin" };
const reader = { email: env("RISKMAP_E2E_READER_EMAIL"), password: env("RISKMAP_E2E_READER_PASSWORD"), name: "Rita Reader" };
const pin = env("RISKMAP_E2E_PIN");
const registry = {
  url: env("RISKMAP_E2E_REGISTRY_URL"),
  username: env("RISKMAP_E2E_REGISTRY_USERNAME"),
  password: env("RISKMAP_E2E_REGISTRY_PASSWORD"),
  ca: env("RISKMAP_E2E_REGISTRY_CA"),
};
mkdirSync(artifacts, { recursive: true });

const problems = [];
let expectedHTTPError = null; // {path, status: RegExp}: a failing request the current step provokes on purpose

function watch(page, who) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = m.location().url ?? "";
    if (
      expectedHTTPError !== null &&
      m.text().startsWith("Failed to load resource") &&
      url.includes(expectedHTTPError.path) &&
      expectedHTTPError.status.test(m.text())
    ) {
      return;
    }
    problems.push(`[${who}] console error: ${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => problems.push(`[${who}] uncaught exception: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 500) problems.push(`[${who}] ${r.request().method()} ${r.url()} answered ${r.status()}`);
  });
  page.on("requestfailed", (r) => {
    // A navigation cancels the fetches of the page it leaves: not a failure.
    if (r.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`[${who}] ${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`);
  });
}

async function open(who) {
  const ctx = await chromium.launchPersistentContext(join(profiles, who), {
    executablePath: env("RISKMAP_E2E_CHROMIUM"),
    headless: true,
    args: chromiumFlags(env("RISKMAP_E2E_SPKI")),
    viewport: { width: 1280, height: 820 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  ctx.setDefaultTimeout(15_000);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  watch(page, who);
  return { ctx, page };
}

let stepNo = 0;
async function step(page, name, fn) {
  stepNo++;
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    const shot = join(artifacts, `FAILED-${String(stepNo).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    throw new Error(`step ${stepNo} "${name}" failed (screenshot ${shot}): ${e instanceof Error ? e.stack : e}`);
  }
  console.log(`ok   ${String(stepNo).padStart(2, " ")} ${name} (${Date.now() - t0} ms)`);
}

/**
 * Screenshot, and an accessibility audit of the page as shown (axe-core:
 * WCAG 2.1 A/AA and best practices; labels, names, contrast, landmarks).
 * Every violation is a problem of the run.
 */
async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true, timeout: 60_000 }); // an artifact: a loaded machine may take its time
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return r.violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 4).join(", ")})`);
  });
  for (const v of violations) problems.push(`[accessibility of ${name}] ${v}`);
  audited++;
}
let audited = 0;

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

/** A link the console made, opened on the console under test (same path, query and fragment). */
function onConsole(link) {
  const u = new URL(link);
  return base + u.pathname + u.search + u.hash;
}

async function heading(page, name) {
  await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
}

/** After a submit: the expected page, or fail at once with the problem the UI shows. */
async function arrive(page, name) {
  const h = page.getByRole("heading", { level: 1, name, exact: true });
  const alert = page.getByRole("alert").first();
  await h.or(alert).first().waitFor();
  if (await alert.isVisible()) throw new Error(`expected the page "${name}", the UI shows: ${await alert.textContent()}`);
}

/** After an action: its confirmation, or fail at once with the problem the UI shows. */
async function notice(page, text) {
  const ok = page.getByRole("status").filter({ hasText: text });
  const alert = page.getByRole("alert").first();
  await ok.or(alert).first().waitFor();
  if (await alert.isVisible()) throw new Error(`expected "${text}", the UI shows: ${await alert.textContent()}`);
}

/** After navigation the page's heading has the focus (screen readers announce it). */
async function focusOnHeading(page, name) {
  await page.waitForFunction(
    (n) => document.activeElement?.tagName === "H1" && document.activeElement.textContent === n,
    name,
  );
}

async function expectingHTTPError(path, status, fn) {
  expectedHTTPError = { path, status };
  try {
    await fn();
  } finally {
    expectedHTTPError = null;
  }
}

async function resetKey(page, previous = "") {
  const first = page.getByRole("button", { name: "Create an API key" });
  if (previous === "") await page.locator("[data-api-key]").waitFor(); // whether a key exists is said until one is shown
  if (previous === "" && (await first.count()) > 0) {
    // The first key replaces nothing: created at once, without the warning that a current key stops working.
    check((await page.locator('[data-api-key="none"]').count()) === 1, "no key yet is not said");
    await first.click();
    check((await page.getByText("Anything using your current key stops working").count()) === 0, "the first key warns about a current key");
  } else {
    await page.getByRole("button", { name: /Create (a new|another) API key/ }).click();
    // The confirmation takes the focus on its safe choice.
    await page.waitForFunction(() => document.activeElement?.textContent === "Cancel");
    await page.getByRole("button", { name: "Yes, create a new key" }).click();
  }
  await page.waitForFunction((prev) => {
    const el = document.querySelector(".secret input[readonly]");
    return el !== null && el.value !== "" && el.value !== prev;
  }, previous);
  return page.getByLabel("Your new API key").inputValue();
}

const results = {};
const adminSide = await open("admin");
const a = adminSide.page;

await step(a, "first visit goes to registration", async () => {
  await a.goto(base + "/");
  await heading(a, "Create the first account");
  check(new URL(a.url()).pathname === "/setup", `URL is ${a.url()}, want /setup`);
  await shot(a, "01-register");
});

await step(a, "register the first admin", async () => {
  await a.getByLabel("Organisation").fill("Example Security");
  await a.getByLabel("Your name").fill(admin.name);
  await a.getByLabel("Email").fill(admin.email);
  await a.getByLabel("Password", { exact: true }).fill(admin.password);
  await a.getByLabel("Confirm password").fill(admin.password);
  await a.getByRole("button", { name: "Create account" }).click();
  await arrive(a, "Overview");
  await a.getByText(`Signed in as ${admin.email} with the admin role.`).waitFor();
  for (const link of ["Users", "Invitations", "Audit log", "My account"]) {
    await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).waitFor();
  }
  await shot(a, "02-overview");
});

await step(a, "sign out", async () => {
  await a.getByRole("button", { name: "Sign out" }).click();
  await heading(a, "Sign in");
  await a.getByRole("status").filter({ hasText: "You are signed out." }).waitFor();
  // The session is gone: an app URL sends back to sign-in, remembering where to return.
  await a.goto(base + "/settings/audit");
  await heading(a, "Sign in");
  check(new URL(a.url()).searchParams.get("next") === "/settings/audit", `URL ${a.url()} lacks next=/settings/audit`);
  await shot(a, "03-login");
});

await step(a, "sign in with the keyboard only", async () => {
  await focusOnHeading(a, "Sign in");
  await a.keyboard.press("Tab");
  await a.keyboard.type(admin.email);
  await a.keyboard.press("Tab");
  await a.keyboard.type(admin.password);
  await a.keyboard.press("Enter");
  await arrive(a, "Audit log"); // back where the user was going
  await focusOnHeading(a, "Audit log");
});

let inviteURL = "";
await step(a, "invite a read-only user", async () => {
  await a.getByRole("link", { name: "Invitations", exact: true }).click();
  await heading(a, "Invitations");
  await a.getByLabel("Email").fill(reader.email);
  await a.getByLabel("Role").selectOption("read-only");
  await a.getByRole("button", { name: "Create invitation" }).click();
  const link = a.getByLabel(`Invitation link for ${reader.email} (read-only)`);
  await link.waitFor();
  inviteURL = await link.inputValue();
  check(new URL(inviteURL).pathname.startsWith("/invite"), `invitation link ${inviteURL} is not an /invite link`);
  await a.locator(`tr[data-invitation="${reader.email}"]`).waitFor();
  await shot(a, "04-invitations");
});
results.inviteURL = inviteURL;

await step(a, "revoke an invitation", async () => {
  const email = "nobody@example.com";
  await a.getByLabel("Email").fill(email);
  await a.getByLabel("Role").selectOption("standard");
  await a.getByRole("button", { name: "Create invitation" }).click();
  const row = a.locator(`tr[data-invitation="${email}"]`);
  await row.waitFor();
  await a.getByRole("button", { name: `Revoke the invitation of ${email}` }).click();
  await row.waitFor({ state: "detached" });
  // Gone on the console too, not only from the table.
  await a.reload();
  await heading(a, "Invitations");
  await a.locator(`tr[data-invitation="${reader.email}"]`).waitFor();
  check((await row.count()) === 0, "the revoked invitation is listed again after a reload");
});

const readerSide = await open("reader");
const r = readerSide.page;
await step(r, "accept the invitation in a fresh browser", async () => {
  await r.goto(onConsole(inviteURL));
  await heading(r, "Join Riskmap");
  await r.getByText(`You are invited as ${reader.email} with the read-only role.`).waitFor();
  await r.getByLabel("Your name").fill(reader.name);
  await r.getByLabel("Password", { exact: true }).fill(reader.password);
  await r.getByLabel("Confirm password").fill(reader.password);
  await shot(r, "05-accept-invitation");
  await r.getByRole("button", { name: "Accept invitation" }).click();
  await arrive(r, "Overview");
  await r.getByText(`Signed in as ${reader.email} with the read-only role.`).waitFor();
});

await step(r, "read-only user sees no admin pages", async () => {
  const nav = r.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "My account" }).waitFor();
  for (const link of ["Users", "Invitations", "Audit log"]) {
    check((await nav.getByRole("link", { name: link, exact: true }).count()) === 0, `read-only nav shows ${link}`);
  }
  for (const path of ["/settings/users", "/settings/invitations", "/settings/audit"]) {
    await r.goto(base + path);
    await heading(r, "Administrators only");
    check((await r.locator("table").count()) === 0, `${path} shows a table to a read-only user`);
  }
  await shot(r, "06-read-only-refused");
});

await step(r, "read-only user cannot start scans: no control, and the API refuses", async () => {
  await r.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Scans", exact: true }).click();
  await heading(r, "Scans");
  await r.getByRole("heading", { level: 2, name: "Schedules" }).waitFor();
  check((await r.getByRole("heading", { name: "Start a scan" }).count()) === 0, "a read-only user is offered to start scans");
  check((await r.getByRole("button", { name: /^Scan \d+ selected$/ }).count()) === 0, "a read-only user sees the scan button");
  check((await r.getByRole("button", { name: "Create schedule" }).count()) === 0, "a read-only user is offered to create schedules");
  check(await r.getByRole("checkbox", { name: /Scan every new host/ }).isDisabled(), "a read-only user may change auto-scan");
  check((await r.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sensors", exact: true }).count()) === 0, "a read-only user sees the sensors page");
  // The same requests the controls would make, sent with the reader's session and CSRF token.
  await expectingHTTPError("/api/v1/scan", /status of 403\b/, async () => {
    const statuses = await r.evaluate(async () => {
      const csrf = decodeURIComponent(document.cookie.split("; ").find((c) => c.startsWith("riskmap_csrf="))?.split("=")[1] ?? "");
      const post = (path, body) =>
        fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) }).then((x) => x.status);
      return [
        await post("/api/v1/scans", { filter: { kind: "host" } }),
        await post("/api/v1/scan-schedules", { name: "sneaky", cron: "@daily", filter: { kind: "host" } }),
      ];
    });
    check(statuses.every((x) => x === 403), `the console answered ${statuses.join(", ")} to a read-only user's scan requests, want 403`);
  });
  await shot(r, "11-scans-read-only");
});

await step(r, "read-only user creates their own API key", async () => {
  await r.getByRole("link", { name: "My account" }).click();
  await heading(r, "My account");
  results.readerKey = await resetKey(r);
});

await step(a, "users: both listed; the last admin cannot be demoted", async () => {
  await a.getByRole("link", { name: "Users", exact: true }).click();
  await heading(a, "Users");
  await a.locator(`tr[data-user="${reader.email}"]`).waitFor();
  await a.locator(`tr[data-user="${admin.email}"]`).waitFor();
  await shot(a, "07-users");
  const role = a.getByLabel(`Role of ${admin.email}`);
  await expectingHTTPError("/api/v1/users/", /status of (409|400|403|422)\b/, async () => {
    await role.selectOption("standard");
    const alert = a.getByRole("alert");
    await alert.waitFor();
    const text = (await alert.textContent()) ?? "";
    check(/admin/i.test(text), `the refusal does not explain itself: "${text}"`);
    // The alert takes the focus so a keyboard user hears it.
    await a.waitForFunction(() => document.activeElement?.getAttribute("role") === "alert");
  });
  check((await role.inputValue()) === "admin", "the role select does not show the stored role after the refusal");
  await shot(a, "08-users-last-admin");
});

await step(a, "admin disables the read-only user", async () => {
  await a.getByRole("button", { name: `Disable ${reader.email}` }).click();
  await notice(a, `${reader.email} is disabled.`);
  await a.locator(`tr[data-user="${reader.email}"]`).getByText("disabled").waitFor();
});

await step(r, "a disabled user is signed out and cannot sign in", async () => {
  // The open session ends: the next page load lands on sign-in.
  await expectingHTTPError("/api/v1/", /status of 40[13]\b/, async () => {
    await r.reload();
    await heading(r, "Sign in");
    await r.getByLabel("Email").fill(reader.email);
    await r.getByLabel("Password").fill(reader.password);
    await r.getByRole("button", { name: "Sign in" }).click();
    await r.getByRole("alert").waitFor();
  });
  const at = new URL(r.url());
  check(at.pathname === "/login" && at.searchParams.get("next") === "/account", `after the refused sign-in the URL is ${r.url()}`);
});

await step(a, "admin enables the user again", async () => {
  await a.getByRole("button", { name: `Enable ${reader.email}` }).click();
  await notice(a, `${reader.email} is enabled.`);
});

await step(r, "the enabled user signs in", async () => {
  await r.getByRole("button", { name: "Sign in" }).click();
  await arrive(r, "My account"); // back on the page the session ended on
});

let resetURL = "";
await step(a, "admin makes a password reset link for the read-only user", async () => {
  await a.getByRole("button", { name: `Password reset link for ${reader.email}` }).click();
  const link = a.getByLabel(`One-time password reset link for ${reader.email}`);
  await link.waitFor();
  resetURL = await link.inputValue();
  check(/^\/reset/.test(new URL(resetURL).pathname), `reset link ${resetURL} is not a /reset link`);
});

await step(r, "read-only user signs out and sets a new password from the link", async () => {
  await r.getByRole("button", { name: "Sign out" }).click();
  await heading(r, "Sign in");
  await r.goto(onConsole(resetURL));
  await heading(r, "Choose a new password");
  reader.password += "-reset";
  await r.getByLabel("New password", { exact: true }).fill(reader.password);
  await r.getByLabel("Confirm new password").fill(reader.password);
  await r.getByRole("button", { name: "Set password" }).click();
  await notice(r, "Your password is changed.");
  await r.getByRole("link", { name: "Sign in" }).click();
  await heading(r, "Sign in");
  await r.getByLabel("Email").fill(reader.email);
  await r.getByLabel("Password").fill(reader.password);
  await r.getByRole("button", { name: "Sign in" }).click();
  await arrive(r, "Overview");
});

await step(r, "an invitation works once", async () => {
  await expectingHTTPError("/api/v1/invitations/", /status of 4\d\d\b/, async () => {
    await r.goto(onConsole(inviteURL));
    await heading(r, "Join Riskmap");
    await r.getByRole("alert").waitFor();
    await r.getByText("This invitation cannot be used.").waitFor();
  });
  check((await r.getByRole("button", { name: "Accept invitation" }).count()) === 0, "a used invitation still offers the form");
});

await step(a, "audit log lists the invitation and sign-ins", async () => {
  await a.getByRole("link", { name: "Audit log", exact: true }).click();
  await heading(a, "Audit log");
  await a.locator("table.data tbody tr").first().waitFor();
  await a.locator("table.data tbody").getByText(reader.email).first().waitFor();
  await shot(a, "09-audit");
});

await step(a, "scans: create a schedule and see it listed", async () => {
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Scans", exact: true }).click();
  await heading(a, "Scans");
  await a.getByLabel("Schedule name").fill("nightly hosts");
  await a.getByLabel("Cron").fill("30 2 * * *");
  await a.getByLabel("Kind of nodes to scan").selectOption("host");
  await a.getByRole("button", { name: "Create schedule" }).click();
  const row = a.locator('tr[data-schedule="nightly hosts"]');
  await row.waitFor();
  check((await row.textContent())?.includes("30 2 * * *"), `the schedule row shows ${await row.textContent()}`);
  // A bad cron is refused with the console's explanation.
  await expectingHTTPError("/api/v1/scan-schedules", /status of 400\b/, async () => {
    await a.getByLabel("Schedule name").fill("broken");
    await a.getByLabel("Cron").fill("every tuesday");
    await a.getByRole("button", { name: "Create schedule" }).click();
    const alert = a.getByRole("alert");
    await alert.waitFor();
    check(/cron/i.test((await alert.textContent()) ?? ""), `the cron refusal does not name the cron: ${await alert.textContent()}`);
  });
  await a.getByLabel("Schedule name").fill("");
  await shot(a, "12-scans-schedules");
});

await step(a, "audit log: filtered to the schedule just made, with its state after, and exported", async () => {
  await a.getByRole("link", { name: "Audit log", exact: true }).click();
  await heading(a, "Audit log");
  await a.getByLabel("Action starts with").fill("scan.schedule");
  await a.getByLabel("Actor", { exact: true }).fill(admin.email);
  await a.getByRole("button", { name: "Apply filters" }).click();
  // The filters are kept in the URL query.
  await a.waitForURL((u) => u.searchParams.get("action") === "scan.schedule" && u.searchParams.get("actor") === admin.email);
  const row = a.locator('tr[data-action="scan.schedule.create"]').filter({ hasText: "nightly hosts" });
  await row.waitFor();
  // The refused cron ("broken") changed nothing and left no entry. (The
  // entry is also in the unfiltered page shown until the filtered answer
  // replaces it: wait for that answer, then count.)
  await a
    .waitForFunction(() => document.querySelectorAll("table.data tbody tr").length === 1, null, { timeout: 10_000 })
    .catch(() => {});
  check((await a.locator("table.data tbody tr").count()) === 1, `the filtered log has ${await a.locator("table.data tbody tr").count()} rows, want 1`);
  check(((await row.textContent()) ?? "").includes(admin.email), `the entry does not name its actor: ${await row.textContent()}`);
  await row.locator("details.change summary").click();
  const after = JSON.parse((await row.locator("pre[data-after]").textContent()) ?? "{}");
  check(after.name === "nightly hosts" && after.cron === "30 2 * * *" && after.filter?.kind === "host", `the entry's after is ${JSON.stringify(after)}`);
  // A reload keeps the filter.
  await a.reload();
  await heading(a, "Audit log");
  check((await a.getByLabel("Action starts with").inputValue()) === "scan.schedule", "the filter is gone after a reload");
  await row.waitFor();
  // The export links carry the filters; the CSV has the entry.
  const href = await a.locator('a[data-export="csv"]').getAttribute("href");
  check(href !== null && href.includes("action=scan.schedule") && href.includes("format=csv"), `the CSV link is ${href}`);
  const [status, text] = await a.evaluate(async (h) => {
    const r = await fetch(h);
    return [r.status, await r.text()];
  }, href);
  check(status === 200, `the CSV export answered ${status}`);
  check(text.startsWith("id,time,actor,action,target") && text.includes("nightly hosts") && !text.includes("broken"), `the CSV export is ${text.slice(0, 400)}`);
  await row.locator("details.change summary").click();
  await row.locator("pre[data-after]").waitFor();
  await shot(a, "15-audit-filtered");
  await a.getByRole("button", { name: "Clear filters" }).click();
  await a.waitForURL((u) => u.search === "");
});

await step(a, "sensors page: an enrolment token, and install commands with the console URL, the pin and the token", async () => {
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sensors", exact: true }).click();
  await heading(a, "Sensors");
  await a.locator("[data-pin]").waitFor();
  check((await a.locator("[data-pin]").textContent()) === pin, `the page's pin ${await a.locator("[data-pin]").textContent()} is not the console's ${pin}`);
  check((await a.locator("[data-console-url]").textContent()) === base, `the page's URL is ${await a.locator("[data-console-url]").textContent()}, want ${base}`);
  await a.getByLabel("Token name").fill("web test fleet");
  await a.getByLabel("Sensors it may enrol").fill("3");
  await a.getByRole("button", { name: "Create an enrolment token" }).click();
  await a.locator('tr[data-token="web test fleet"]').waitFor();
  const token = (await a.getByLabel('Enrolment token "web test fleet"').inputValue()).trim();
  check(token.startsWith("rme_"), `the page shows the token as ${token}`);
  check(((await a.locator('tr[data-token="web test fleet"]').textContent()) ?? "").includes("0 of 3"), "the token list does not show its cap");
  for (const id of ["docker", "kubernetes", "helm", "systemd"]) {
    const text = (await a.locator(`[data-command="${id}"] pre`).textContent()) ?? "";
    check(text.includes(pin), `the ${id} commands lack the pin: ${text}`);
    check(text.includes(token), `the ${id} commands lack the enrolment token: ${text}`);
    check(id === "kubernetes" || text.includes(base), `the ${id} commands lack the console URL: ${text}`);
  }
  check(((await a.locator('[data-command="kubernetes"] pre').textContent()) ?? "").includes(`RISKMAP_CONSOLE='${base}'`), "the Kubernetes commands do not set the console URL");
  // The command blocks are reachable with the keyboard (scrollable regions).
  await a.locator('[data-command="docker"] pre').focus();
  await shot(a, "13-sensors");
  // Revoking the token leaves it listed as revoked.
  await a.getByRole("button", { name: "Revoke token web test fleet" }).click();
  await a.getByText('Token "web test fleet" revoked.').waitFor();
  check(((await a.locator('tr[data-token="web test fleet"]').textContent()) ?? "").includes("revoked"), "the revoked token is not shown as revoked");
});

await step(a, "threat graph: a sensor's public host is an entry point, what it reaches hop by hop; an attack path highlighted and fitted on the map", async () => {
  // A sensor enrolled and reporting from the page (the sensor protocol, no
  // traffic: the report only describes it): host edge-1 with a
  // documentation-range public address, nginx listening on :443 proxying to
  // an app on loopback.
  const sensorId = await a.evaluate(async () => {
    const csrf = decodeURIComponent(document.cookie.split("; ").find((c) => c.startsWith("riskmap_csrf="))?.split("=")[1] ?? "");
    const json = async (path, init) => {
      const r = await fetch(path, init);
      if (!r.ok) throw new Error(`${init.method} ${path}: ${r.status} ${await r.text()}`);
      return r.json();
    };
    const { token } = await json("/api/v1/enrolment-tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ name: "threat graph", maxSensors: 1 }),
    });
    const en = await json("/api/v1/sensor/enrol", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token, hostname: "edge-1" }),
    });
    const ep = (addr, port) => ({ addr, port });
    const conn = (state, processKey, local, remote) => ({ source: "proc", proto: "tcp", state, local, remote, processKey, netns: 4026531840 });
    const report = {
      version: "1.0",
      sensorId: en.sensorId,
      runId: "browser",
      seq: 1,
      kind: "full",
      time: new Date().toISOString(),
      host: { hostname: "edge-1", os: { id: "debian", name: "Debian GNU/Linux 12" }, interfaces: [{ name: "eth0", up: true, addrs: ["203.0.113.80/24"] }] },
      processes: [
        { pid: 100, ppid: 1, startTicks: 1000, name: "nginx", exe: "/usr/sbin/nginx", uid: 0, cpuPercent: 0, rssBytes: 0, listen: [ep("0.0.0.0", 443)] },
        { pid: 200, ppid: 1, startTicks: 2000, name: "shop-app", exe: "/usr/bin/python3", uid: 1000, cpuPercent: 0, rssBytes: 0, listen: [ep("127.0.0.1", 8080)] },
      ],
      connections: [
        conn("LISTEN", "100:1000", ep("0.0.0.0", 443), ep("0.0.0.0", 0)),
        conn("LISTEN", "200:2000", ep("127.0.0.1", 8080), ep("0.0.0.0", 0)),
        conn("ESTABLISHED", "100:1000", ep("127.0.0.1", 40000), ep("127.0.0.1", 8080)),
        conn("ESTABLISHED", "200:2000", ep("127.0.0.1", 8080), ep("127.0.0.1", 40000)),
      ],
    };
    const gz = await new Response(new Blob([JSON.stringify(report)]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    const r = await fetch("/api/v1/sensor/reports", {
      method: "POST",
      credentials: "omit",
      headers: { Authorization: `Bearer ${en.key}`, "Content-Type": "application/json", "Content-Encoding": "gzip" },
      body: gz,
    });
    if (!r.ok) throw new Error(`report: ${r.status} ${await r.text()}`);
    return en.sensorId;
  });
  check(sensorId !== "", "the sensor was not enrolled");

  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Threat graph", exact: true }).click();
  await heading(a, "Threat graph");
  const entry = a.locator('.threat-col[data-hop="1"] [data-threat-node="edge-1"]');
  await entry.waitFor();
  check((await entry.getAttribute("data-kind")) === "host", "the entry point edge-1 is not a host");
  // nginx behind the host, the app one connection on.
  const app = a.locator('[data-threat-node="shop-app"]');
  await app.waitFor();
  const appHop = Number(await app.getAttribute("data-distance"));
  const nginxHop = Number(await a.locator('[data-threat-node="nginx"]').getAttribute("data-distance"));
  check(nginxHop === 2 && appHop === 3, `nginx at hop ${nginxHop}, shop-app at hop ${appHop}: want 2 and 3`);
  check(((await app.textContent()) ?? "").includes("from nginx"), "shop-app does not say it is reached from nginx");
  check(((await entry.locator("[data-reaches]").getAttribute("data-reaches")) ?? "") === "2", "edge-1 does not lead to its two processes");
  await shot(a, "17-threat-graph");

  // The app's attack path on the map: every hop highlighted and the view fitted to them.
  await app.getByRole("link", { name: "Show the attack path to shop-app on the map" }).click();
  await heading(a, "Topology");
  const canvas = a.locator(".canvas[data-ready][data-onpath]");
  await canvas.waitFor();
  const path = ((await canvas.getAttribute("data-path")) ?? "").split(",");
  const lit = ((await canvas.getAttribute("data-onpath")) ?? "").split(",");
  check(path.length === 4 && path[0]?.startsWith("internet-"), `the map's path is ${path.join(" → ")}: want the internet, edge-1, nginx, shop-app`);
  for (const id of path) check(lit.includes(id), `the path's node ${id} is not highlighted (highlighted: ${lit.join(", ")})`);
  await a.getByRole("note").filter({ hasText: "edge-1 → nginx → shop-app" }).waitFor();
  // The selected node is in the URL and its panel is open.
  check(new URL(a.url()).searchParams.get("node") === path[3], `the URL does not select the app: ${a.url()}`);
  await a.locator('aside[data-detail="shop-app"]').waitFor();
  // The rest of the map fades: every drawn node off the path.
  await a.getByRole("note").filter({ hasText: "everything else faded" }).waitFor();
  const drawnNodes = Number(await canvas.getAttribute("data-nodes"));
  const dimmed = Number(await canvas.getAttribute("data-dimmed"));
  // (nginx and shop-app are nodes of this processes view; the host above them is added to draw the path.)
  check(dimmed >= drawnNodes - lit.length && dimmed <= drawnNodes - 2, `${dimmed} of ${drawnNodes} nodes faded, ${lit.length} on the path`);
  await shot(a, "18-attack-path-map");
  await a.getByRole("button", { name: "Clear the path" }).click();
  await a.waitForFunction(() => !new URL(location.href).searchParams.has("path"));
});

await step(a, "feeds and diagnosis", async () => {
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Feeds and diagnosis", exact: true }).click();
  await heading(a, "Feeds and diagnosis");
  await a.locator("[data-diagnosis]").waitFor();
  await a.getByRole("heading", { level: 2, name: "Vulnerability feeds" }).waitFor();
  await a.getByLabel("A feed file, a bundle or a tar of a feeds folder").waitFor();
  // Offline (the mirror refuses connections): an update fails, and says so for each source.
  await a.getByRole("button", { name: "Update feeds now" }).click();
  const failed = a.locator('[role="alert"][data-feed-run="failed"]');
  await failed.waitFor({ timeout: 60_000 });
  const items = await failed.locator("li[data-failed-source]").evaluateAll((lis) => lis.map((li) => ({ source: li.getAttribute("data-failed-source"), text: li.textContent ?? "" })));
  const lines = items.map((i) => i.text);
  check(lines.length >= 4, `the failure banner lists ${lines.length} sources`);
  for (const i of items) check(i.text.startsWith(`${i.source}: `) && i.text.includes("connection refused") && !i.text.includes("\n"), `a failed source reads "${i.text}"`);
  check((await failed.locator("p").textContent())?.startsWith("Feed update failed: every source"), `the banner reads ${await failed.locator("p").textContent()}`);
  check((await a.locator('[data-feed-run="ok"]').count()) === 0, "a success notice is shown beside the failure");
  const rows = a.locator("table.feeds tbody tr[data-source]");
  check((await rows.count()) === lines.length, `${await rows.count()} source rows, ${lines.length} failed sources`);
  for (const src of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-source")))) check(src !== "", "a source row has no name");
  await a.getByText("never by itself (--feed-interval=0)").waitFor();
  await shot(a, "14-feeds-diagnosis");
});

await step(a, "feeds uploads: a folder in the shared layout (one tar, each file under its path), then one file filed under its source", async () => {
  // A folder laid out as the shared feeds folder: two feeds and the files beside them that are none.
  const shared = env("RISKMAP_E2E_FEEDS");
  const folder = join(mkdtempSync(join(tmpdir(), "riskmap-feeds-")), "feeds");
  for (const rel of ["README.md", "alpine/secdb/edge/main.json", "kev/known_exploited_vulnerabilities.json"]) cpSync(join(shared, rel), join(folder, rel));
  await a.getByLabel("Or a feeds folder").setInputFiles(folder);
  await a.getByRole("button", { name: "Upload feeds-folder.tar" }).click();
  await a.locator('[data-feed-run="ok"]').filter({ hasText: "Feeds imported: 2 of 2 sources changed" }).waitFor({ timeout: 60_000 });
  for (const [source, records] of [
    ["alpine:edge/main", "286"],
    ["kev", "1,662"],
  ]) {
    const row = a.locator(`table.feeds tr[data-source="${source}"]`);
    await row.waitFor();
    check(((await row.locator("td").first().textContent()) ?? "") === records, `${source} holds ${await row.locator("td").first().textContent()} records`);
  }
  // One file under a name that says nothing: filed by its content.
  const one = join(mkdtempSync(join(tmpdir(), "riskmap-feed-")), "download.json");
  cpSync(join(shared, "alpine/secdb/edge/community.json"), one);
  await a.getByLabel("A feed file, a bundle or a tar of a feeds folder").setInputFiles(one);
  await a.getByRole("button", { name: "Upload download.json" }).click();
  await notice(a, "Imported download.json.");
  await a.locator('table.feeds tr[data-source="alpine:edge/community"]').waitFor();
  // The action's banner goes when dismissed.
  await a.getByRole("button", { name: "Dismiss this message" }).first().click();
  await a.getByText("Imported download.json.").waitFor({ state: "detached" });
});

const webhook = { url: env("RISKMAP_E2E_WEBHOOK_URL"), secret: env("RISKMAP_E2E_WEBHOOK_SECRET"), ca: env("RISKMAP_E2E_WEBHOOK_CA") };
await step(a, "integrations: a webhook to the test's receiver, a rule, a test message delivered and in the history", async () => {
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Integrations", exact: true }).click();
  await heading(a, "Integrations");
  await a.getByText("No destination yet. Add one below.").waitFor();
  await a.getByRole("button", { name: "Add a destination" }).click();
  await a.getByLabel("Kind").selectOption("webhook");
  await a.getByLabel("Name", { exact: true }).fill("SOC webhook");
  await a.getByLabel("Endpoint URL").fill(webhook.url);
  await a.getByLabel("Signing secret").fill(webhook.secret);
  await a.getByLabel("Extra CA certificates (optional)").fill(webhook.ca);
  await a.getByRole("button", { name: "Add the destination" }).click();
  await notice(a, "SOC webhook added.");
  const detail = a.locator('[data-destination-detail="SOC webhook"]');
  await detail.waitFor();
  // The secrets are shown as set, never as typed.
  const shown = (await a.locator("main").textContent()) ?? "";
  check(!shown.includes(new URL(webhook.url).pathname) && !shown.includes(webhook.secret), "the page shows a secret of the destination");
  check(shown.includes("url: set (https://127.0.0.1/…)"), `the page does not say the URL is set: ${shown.slice(0, 600)}`);
  await detail.getByRole("button", { name: "Add a rule" }).click();
  await a.getByLabel("Rule name").fill("Critical now");
  await a.getByLabel("Minimum severity").selectOption("critical");
  await a.getByRole("checkbox", { name: "Known exploited (CISA KEV) only" }).check();
  await a.getByRole("button", { name: "Add the rule" }).click();
  const rule = a.locator('tr[data-rule="Critical now"]');
  await rule.waitFor();
  check(((await rule.textContent()) ?? "").includes("critical or worse; KEV only"), `the rule row shows ${await rule.textContent()}`);
  await a.getByRole("button", { name: "Send a test message" }).click();
  await a.locator('[data-test-result="delivered"]').waitFor();
  await detail.locator('table.history tr[data-outcome="test"]').waitFor();
  await shot(a, "16-integrations");
});

await step(r, "integrations: a read-only user sees the destination and its history, with no control", async () => {
  await r.goto(base + "/settings/integrations");
  await heading(r, "Integrations");
  await r.locator('tr[data-destination="SOC webhook"]').waitFor();
  await r.getByRole("button", { name: "Open SOC webhook" }).click();
  await r.locator('table.history tr[data-outcome="test"]').waitFor();
  check((await r.getByRole("button", { name: /Add a destination|Send a test message|Add a rule/ }).count()) === 0, "a read-only user is offered changes");
});

await step(a, "scheduled report: the Vulnerabilities page schedules its report to an email destination; run now mails the PDF", async () => {
  // An email destination to the test's SMTP server (through the API: the integrations page is walked above).
  const smtp = { port: env("RISKMAP_E2E_SMTP_PORT"), ca: env("RISKMAP_E2E_SMTP_CA") };
  const status = await a.evaluate(async (body) => {
    const csrf = decodeURIComponent(document.cookie.split("; ").find((c) => c.startsWith("riskmap_csrf="))?.split("=")[1] ?? "");
    const r = await fetch("/api/v1/integrations/destinations", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    return r.status;
  }, { kind: "email", name: "Security team mail", settings: { host: "127.0.0.1", port: smtp.port, security: "starttls", from: "Riskmap <riskmap@example.com>", to: "sec@example.com", ca: smtp.ca } });
  check(status === 201, `creating the email destination answered ${status}`);
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Vulnerabilities", exact: true }).click();
  await heading(a, "Vulnerabilities");
  const form = a.getByRole("form", { name: "Schedule the report of these findings" });
  await form.getByLabel("Report name").fill("Weekly estate report");
  await form.getByLabel("Deliver to").selectOption({ label: "Security team mail" });
  await form.getByRole("button", { name: "Schedule this report" }).click();
  await notice(a, 'Scheduled "Weekly estate report".');
  const row = a.locator('tr[data-schedule="Weekly estate report"]');
  await row.waitFor();
  check(((await row.textContent()) ?? "").includes("every Monday at 07:00 UTC"), `the schedule reads ${await row.textContent()}`);
  await row.getByRole("button", { name: "Run now: Weekly estate report" }).click();
  await row.locator('td[data-last="delivered"]').waitFor({ timeout: 30_000 });
  await shot(a, "scheduled-report");
});

await step(a, "registries: add a v2 registry (test connection, save), it syncs; repositories, tags and an index's platforms", async () => {
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Registries", exact: true }).click();
  await heading(a, "Registries");
  await a.getByRole("button", { name: "Add a registry" }).click();
  const form = a.locator("form.account-form");
  const offered = await form.getByLabel("Kind").locator("option").evaluateAll((os) => os.map((o) => o.value));
  check(offered.join(",") === "dockerhub,ecr,gar,acr,harbor,quay,gitlab,jfrog,v2", `the registry kinds offered: ${offered}`);
  await form.getByLabel("Kind").selectOption("v2");
  await form.getByLabel("Name", { exact: true }).fill("local registry");
  await form.getByLabel("Registry URL").fill(registry.url);
  await form.getByLabel("Username").fill(registry.username);
  // A wrong password first: the test says the credentials were refused.
  await form.getByLabel("Password or token").fill("not-the-password");
  await form.getByLabel("CA certificates (PEM)").fill(registry.ca);
  await form.getByRole("button", { name: "Test connection" }).click();
  await form.locator("[data-test-failed]").waitFor();
  check(/credentials refused/.test((await form.locator("[data-test-failed]").textContent()) ?? ""), "a wrong password is not reported as refused credentials");
  await form.getByLabel("Password or token").fill(registry.password);
  await form.getByRole("button", { name: "Test connection" }).click();
  await notice(a, "Connection OK");
  await form.getByRole("button", { name: "Save and sync" }).click();
  await notice(a, "Registry local registry added");
  // The sync runs in the console: the row settles as synced.
  const row = a.locator('tr[data-account="local registry"]');
  await row.locator('[data-sync-state="idle"]').waitFor({ timeout: 60_000 });
  check(((await row.locator("[data-catalogue]").textContent()) ?? "").includes("2 repositories, 3 tags"), `the account shows ${await row.locator("[data-catalogue]").textContent()}`);
  check(!((await a.content()).includes(registry.password)), "the page holds the registry password");
  // Repositories → tags.
  await a.locator('tr[data-repository="team/web"]').waitFor();
  await a.getByRole("button", { name: "Show the tags of team/web" }).click();
  await a.getByRole("heading", { level: 3, name: "Tags of team/web" }).waitFor();
  await a.locator('tr[data-tag="team/web:1.0"]').waitFor();
  await a.locator('tr[data-tag="team/web:2.0"]').waitFor();
  check((await a.locator("table.registry-tags tbody tr[data-tag]").count()) === 2, "the repository's tags are not the two pushed");
  // The index: one image per platform, each scanned (auto-scan) in turn.
  await a.getByRole("button", { name: "All repositories" }).click();
  await a.getByLabel("Search repositories and tags").fill("base/multi:v1");
  const multi = a.locator('tr[data-tag="base/multi:v1"]');
  await multi.waitFor();
  // The search keeps the tag and its repository only.
  await a.locator('tr[data-tag="team/web:1.0"]').waitFor({ state: "detached" });
  await a.locator('tr[data-repository="team/web"]').waitFor({ state: "detached" });
  await multi.getByRole("button", { name: /^Details of base\/multi:v1/ }).click();
  await a.locator('[data-tag-details="base/multi:v1"] [data-image]').nth(1).waitFor();
  check((await a.locator('[data-tag-details="base/multi:v1"] [data-image]').count()) === 2, "the index does not show its two platforms");
  check(((await multi.textContent()) ?? "").includes("linux/amd64, linux/arm64"), `the index's platforms: ${await multi.textContent()}`);
  await a.locator('[data-tag-details="base/multi:v1"] [data-scan="complete"]').nth(1).waitFor({ timeout: 60_000 });
  // The history lists the sync.
  await row.getByRole("button", { name: "Sync history of local registry" }).click();
  await a.locator('[data-history="local registry"] tr[data-sync-status="complete"]').first().waitFor();
  await shot(a, "16-registries");
});

await step(a, "admin resets their API key twice", async () => {
  await a.getByRole("link", { name: "My account" }).click();
  await heading(a, "My account");
  results.adminOldKey = await resetKey(a);
  results.adminKey = await resetKey(a, results.adminOldKey);
  check(results.adminKey !== results.adminOldKey, "the second reset returned the same key");
  await shot(a, "10-api-key");
});

await step(a, "change password", async () => {
  const next = admin.password + "-2";
  await a.getByLabel("Current password").fill(admin.password);
  await a.getByLabel("New password", { exact: true }).fill(next);
  await a.getByLabel("Confirm new password").fill(next);
  await a.getByRole("button", { name: "Change password" }).click();
  await notice(a, "Your password is changed.");
  results.adminPassword = next;
});

results.readerPassword = reader.password;
await adminSide.ctx.close();
await readerSide.ctx.close();
writeFileSync(join(artifacts, "results.json"), JSON.stringify(results, null, 2));

if (problems.length > 0) {
  console.error(`browser problems during the run:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`ok   no browser console errors; ${audited} pages pass the accessibility audit; screenshots in ${artifacts}`);
