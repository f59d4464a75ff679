// The web UI end to end, in headless Chromium against a live maestro dev on a copy of the
// quickstart: sign in, write a table whose SQL reads two others and see them as its upstream
// before saving, save it, run it with its upstream's downstream, watch the timeline fill,
// open the failed table's error, and see every page, each saved as a screenshot; then the
// graph of a 2,000-table project. Run by scripts/test-e2e (node --test).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { api, copyQuickstart, freePort, launchBrowser, startDev, Timings, waitRun } from "./harness.mjs";
import { writeBigProject } from "./bigproject.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");
const bin = process.env.MAESTRO_BIN;
const shots = resolve(process.env.E2E_SCREENSHOTS || join(here, "screenshots"));
const work = mkdtempSync(join(tmpdir(), "maestro-e2e-"));
const timings = new Timings();
mkdirSync(shots, { recursive: true });

// The table the test writes: it reads two quickstart tables and fails when it runs (a country
// code is no integer), so the run has a failed table whose error the page must show.
const NEW_TABLE = "marts.e2e_customer_orders";
const NEW_SQL = [
  "SELECT o.order_id, c.customer_id,",
  "  CAST(c.country AS INT64) AS country_number",
  "FROM staging.orders_enriched AS o",
  "JOIN raw.customers AS c USING (customer_id)",
].join("\n");

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// drawing saves the whole graph drawing, which the page shows in a scrolling frame.
async function drawing(page, name) {
  await page.locator(".graph-wrap").evaluate((w) => { w.style.maxHeight = "none"; });
  await page.locator("svg.graph").screenshot({ path: join(shots, `${name}.png`) });
  await page.locator(".graph-wrap").evaluate((w) => { w.style.maxHeight = ""; });
}

// signIn goes through the sign-in page as a person would: the protected page sends the
// browser to /signin, the token is pasted, and the browser comes back signed in.
async function signIn(page, dev, shotName) {
  await page.goto(dev.url + "/runs");
  assert.match(new URL(page.url()).pathname, /^\/signin/, "an anonymous visitor is sent to the sign-in page");
  if (shotName) await shot(page, shotName);
  await page.getByLabel("API token").fill(dev.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === "/runs");
}

describe("the web UI on the quickstart", { timeout: 600_000 }, () => {
  let dev, ctx, page;

  before(async () => {
    assert.ok(bin, "MAESTRO_BIN names the maestro binary (scripts/test-e2e builds it)");
    const port = await freePort();
    const project = join(work, "quickstart");
    copyQuickstart(repo, project, port);
    dev = await startDev({ bin, projectDir: project, stateDir: join(work, "state"), logPath: join(work, "dev.log"), port });
    // The pipeline runs once first, so that the tables the new one reads exist.
    const rn = await api(dev, "POST", "/runs", { schedule: "daily" });
    const done = await waitRun(dev, rn.id);
    assert.equal(done.state, "succeeded", `the quickstart's first run ${rn.id} ${done.state}; see ${join(work, "dev.log")}`);
    ctx = await launchBrowser(join(work, "profile"));
    page = ctx.pages()[0] || (await ctx.newPage());
    timings.watch(page, "quickstart");
  });

  after(async () => {
    await ctx?.close();
    await dev?.stop();
  });

  test("signs in with the token maestro dev keeps", async () => {
    await signIn(page, dev, "01-signin");
    await shot(page, "02-runs-first");
    await assert.doesNotReject(page.getByRole("link", { name: "Graph" }).waitFor());
  });

  test("lists the tables", async () => {
    await page.goto(dev.url + "/tables");
    await page.getByRole("heading", { name: "Tables" }).waitFor();
    assert.ok(await page.getByRole("link", { name: "marts.customer_ltv" }).isVisible());
    await shot(page, "03-tables");
  });

  test("a new table's upstream shows while its SQL is typed, before saving", async () => {
    await page.goto(dev.url + "/tables/new");
    await page.getByLabel("Name").fill(NEW_TABLE);
    const sql = page.locator("#e-sql");
    await sql.click();
    // A broken start first: the editor names the error and where it is.
    await sql.pressSequentially("SELEC order_id", { delay: 5 });
    await page.locator("#check-errors").getByText(/line 1, column 1/i).first().waitFor();
    await shot(page, "04-editor-parse-error");
    await sql.fill("");
    await sql.pressSequentially(NEW_SQL, { delay: 2 });
    const upstream = page.locator("#check-upstream");
    await upstream.getByText("staging.orders_enriched").waitFor();
    await upstream.getByText("raw.customers").waitFor();
    assert.equal(await page.locator("#check-errors li").count(), 0, "the finished SQL parses");
    await shot(page, "05-editor-upstream");
    await page.locator("#e-message").fill("e2e: orders with the customer's country as a number");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL((u) => u.pathname === `/tables/${NEW_TABLE}`);
    await page.getByText("e2e: orders with the customer's country as a number").first().waitFor();
    await shot(page, "06-table");
  });

  let runURL;
  test("runs a table with its downstream and the timeline fills", async () => {
    await page.goto(dev.url + "/tables/staging.orders_enriched");
    await shot(page, "07-table-upstream-of-new");
    await page.getByRole("button", { name: "Run with downstream" }).click();
    await page.waitForURL((u) => /^\/runs\/[^/]+$/.test(u.pathname));
    runURL = page.url();
    const live = page.locator("#run-live");
    // Every table of the run has its row from the start; the rows keep their place as it goes.
    const rows = page.locator("table.gantt tbody tr");
    await rows.first().waitFor();
    const names = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.name));
    assert.ok(names.includes(NEW_TABLE) && names.includes("staging.orders_enriched"), `rows: ${names}`);
    const before = await rows.evaluateAll((trs) => trs.map((tr) => tr.getBoundingClientRect().top));
    await shot(page, "08-run-started");
    await page.waitForFunction(() => document.querySelector("#run-live")?.dataset.state !== "running", null, { timeout: 240_000 });
    await page.locator("#run-state").getByText("failed").waitFor();
    const afterTops = await rows.evaluateAll((trs) => trs.map((tr) => tr.getBoundingClientRect().top));
    const afterNames = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.name));
    assert.deepEqual(afterNames, names, "rows kept their order while the run went on");
    assert.deepEqual(afterTops, before, "rows kept their place while the run went on");
    assert.equal(await live.locator(".bar").count() >= names.length - 1, true, "every table that ran has a bar");
    assert.ok(await page.locator("table.gantt tr.crit").count() >= 2, "the critical path is marked");
    await shot(page, "09-run-finished");
  });

  test("the failed table's error opens inline", async () => {
    const row = page.locator(`table.gantt tr[data-name="${NEW_TABLE}"]`);
    assert.equal(await row.getAttribute("data-state"), "failed");
    await row.locator(".node-error summary").click();
    const pre = row.locator(".node-error pre");
    await pre.waitFor();
    assert.match(await pre.innerText(), /convert|cast|int/i, "the error says what went wrong");
    await shot(page, "10-run-error");
    // The run failed: resuming it makes a new run of the failed table, which links back.
    await page.getByRole("button", { name: /resume/i }).click();
    await page.waitForURL((u) => /^\/runs\/[^/]+$/.test(u.pathname) && u.href !== runURL);
    const first = new URL(runURL).pathname.split("/").pop();
    await page.locator("#run-live").getByRole("link", { name: first }).waitFor();
    // Only the failed table runs again; the others' successes are kept from the first run.
    assert.equal(await page.locator(`table.gantt tr[data-name="${NEW_TABLE}"] .bar`).count(), 1, "the failed table runs again");
    assert.equal(await page.locator('table.gantt tr[data-name="staging.orders_enriched"] .bar').count(), 0, "a success is not run again");
    await page.locator('table.gantt tr[data-name="staging.orders_enriched"]').getByText("succeeded in").waitFor();
    await page.waitForFunction(() => document.querySelector("#run-live")?.dataset.state !== "running", null, { timeout: 120_000 });
    await shot(page, "10b-run-resumed");
  });

  test("lists runs", async () => {
    await page.goto(dev.url + "/runs");
    await page.getByRole("heading", { name: "Runs" }).waitFor();
    const id = new URL(runURL).pathname.split("/").pop();
    const row = page.locator("table.grid tr", { has: page.getByRole("link", { name: id, exact: true }) });
    await row.getByText("failed").first().waitFor();
    await shot(page, "11-runs");
  });

  test("the graph shows the new table, coloured by its last run, with its upstream", async () => {
    await page.goto(dev.url + "/graph");
    const box = page.locator(`svg.graph [data-id="${NEW_TABLE}"]`);
    assert.equal(await box.getAttribute("data-state"), "failed");
    await shot(page, "12-graph");
    await page.goto(dev.url + `/graph?table=${NEW_TABLE}&depth=1`);
    for (const up of ["staging.orders_enriched", "raw.customers"]) {
      assert.equal(await page.locator(`svg.graph [data-id="${up}"]`).count(), 1, `${up} is in the neighbourhood`);
    }
    // Focusing a box (keyboard) brings out its edges: here, the new table's two reads.
    await page.locator(`svg.graph a[data-id="${NEW_TABLE}"]`).focus();
    assert.equal(await page.locator("svg.graph path.e.on").count(), 2, "the focused table's two edges stand out");
    await shot(page, "13-graph-neighbourhood");
    await page.locator(`svg.graph a[data-id="raw.customers"]`).click();
    await page.waitForURL((u) => u.pathname === "/tables/raw.customers");
  });

  test("the costs page", async () => {
    await page.goto(dev.url + "/costs");
    await page.getByRole("heading", { name: /costs/i }).first().waitFor();
    await shot(page, "14-costs");
  });

  test("the admin pages", async () => {
    for (const [path, name] of [["/admin/schedules", "15-schedules"], ["/admin/connections", "16-connections"],
      ["/admin/users", "17-users"], ["/admin/tokens", "18-tokens"], [`/tables/${NEW_TABLE}`, "19-table-new"]]) {
      const res = await page.goto(dev.url + path);
      assert.equal(res.status(), 200, `${path} answers 200`);
      await shot(page, name);
    }
  });
});

describe("the graph of a 2,000-table project", { timeout: 600_000 }, () => {
  let dev, ctx, page;

  before(async () => {
    const project = join(work, "big");
    const n = writeBigProject(project);
    assert.equal(n, 2000);
    dev = await startDev({ bin, projectDir: project, stateDir: join(work, "big-state"), logPath: join(work, "big-dev.log"), port: await freePort() });
    // Colour some of it: the first dataset runs.
    const tables = Array.from({ length: 50 }, (_, t) => `ds00.t${String(t).padStart(3, "0")}`);
    const rn = await api(dev, "POST", "/runs", { tables });
    await waitRun(dev, rn.id);
    ctx = await launchBrowser(join(work, "profile-big"));
    page = ctx.pages()[0] || (await ctx.newPage());
    timings.watch(page, "2000");
    await signIn(page, dev);
  });

  after(async () => {
    await ctx?.close();
    await dev?.stop();
  });

  test("is drawn as one box per dataset, readable on a laptop screen", async () => {
    await page.goto(dev.url + "/graph");
    const boxes = page.locator('svg.graph [data-id^="dataset:"]');
    assert.equal(await boxes.count(), 40, "40 datasets, one box each");
    assert.equal(await page.locator('svg.graph [data-id]:not([data-id^="dataset:"])').count(), 0, "no single table is drawn");
    const width = Number(await page.locator("svg.graph").getAttribute("width"));
    assert.ok(width < 1366, `the collapsed graph is ${width} px wide`);
    assert.equal(await page.locator('svg.graph [data-id="dataset:ds00"]').getAttribute("data-state"), "succeeded");
    await shot(page, "20-graph-2000-tables");
    await drawing(page, "20-graph-2000-tables-drawing");
  });

  test("opens a dataset to show its tables", async () => {
    await page.locator('svg.graph a[data-id="dataset:ds09"]').click();
    await page.waitForURL((u) => u.searchParams.get("expand") === "ds09");
    assert.equal(await page.locator('svg.graph [data-id^="ds09.t"]').count(), 50);
    await shot(page, "21-graph-2000-dataset-open");
    // The frame scrolled to the opened dataset.
    const seen = await page.locator(".graph-wrap").evaluate((w) => {
      const tops = [...w.querySelectorAll('[data-id^="ds09."]')].map((el) => el.getBoundingClientRect());
      const b = tops.reduce((a, c) => (c.top < a.top ? c : a));
      const f = w.getBoundingClientRect();
      return b.top >= f.top && b.bottom <= f.bottom;
    });
    assert.ok(seen, "the opened dataset's topmost table is in view");
    await drawing(page, "21-graph-2000-dataset-open-drawing");
  });
});

after(() => {
  writeFileSync(join(shots, "server-timing.txt"), timings.report() + "\n");
  console.log(`# screenshots: ${shots}`);
  console.log("# server render time per page (Server-Timing):\n" + timings.report().replace(/^/gm, "#   "));
  if (!process.env.E2E_KEEP) rmSync(work, { recursive: true, force: true });
  else console.log(`# work folder kept: ${work}`);
});
