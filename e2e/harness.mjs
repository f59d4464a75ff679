// harness.mjs starts what the browser tests need: maestro dev on a project folder (a fresh
// state folder, a free loopback port) and Debian's Chromium through playwright-core, which
// downloads no browser of its own. scripts/test-e2e builds the maestro binary and names it
// in MAESTRO_BIN.
import { spawn } from "node:child_process";
import { cpSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// freePort asks the kernel for a port nobody listens on.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// copyQuickstart copies examples/quickstart for one test run: its export callback goes to this
// dev's port, the hourly schedule cannot fall due mid-test, a failed table is not retried, and
// pricing is on so that the costs page has prices.
export function copyQuickstart(repo, dir, port) {
  cpSync(join(repo, "examples", "quickstart"), dir, { recursive: true });
  const sidecar = join(dir, "marts", "daily_revenue.yaml");
  writeFileSync(sidecar, readFileSync(sidecar, "utf8").replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`));
  const yaml = join(dir, "maestro.yaml");
  let text = readFileSync(yaml, "utf8");
  text = text.replace('cron: "15 * * * *"', 'cron: "15 6 1 1 *"').replace("default_retries: 2", "default_retries: 0");
  text += "\npricing:\n  model: on_demand\n  usd_per_tib: 6.25\n";
  writeFileSync(yaml, text);
}

// startDev runs `maestro dev DIR` and waits until it answers /healthz. Its log goes to
// logPath. The returned stop() ends it (and only it).
export async function startDev({ bin, projectDir, stateDir, logPath, port }) {
  mkdirSync(stateDir, { recursive: true });
  const log = createWriteStream(logPath);
  const proc = spawn(bin, ["dev", projectDir, "--state", stateDir, "--addr", `127.0.0.1:${port}`, "--log-format", "json"],
    { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.on("exit", (code, signal) => { exited = { code, signal }; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`maestro dev exited (${JSON.stringify(exited)}) before answering; see ${logPath}`);
    try {
      const res = await fetch(url + "/healthz");
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`maestro dev did not answer ${url}/healthz in 120 s; see ${logPath}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const token = readFileSync(join(stateDir, "api-token"), "utf8").trim();
  const stop = async () => {
    if (exited) return;
    const done = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    await done;
    clearTimeout(timer);
  };
  return { url, token, stop };
}

// api calls the JSON API with dev's admin token.
export async function api(dev, method, path, body) {
  const res = await fetch(dev.url + "/api/v1" + path, {
    method,
    headers: { Authorization: `Bearer ${dev.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// waitRun polls a run until it is no longer running.
export async function waitRun(dev, id, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rn = await api(dev, "GET", `/runs/${id}`);
    if (rn.state !== "running") return rn;
    if (Date.now() > deadline) throw new Error(`run ${id} still running after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// launchBrowser starts Debian's Chromium headless with a fresh profile, nothing phoning home.
export function launchBrowser(profileDir) {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Timings collects each page's server render time from its Server-Timing header.
export class Timings {
  constructor() { this.rows = []; }
  watch(page, label) {
    page.on("response", async (res) => {
      if (res.request().resourceType() !== "document") return;
      const st = (await res.allHeaders())["server-timing"] || "";
      // page: the handler's reads and its template; render: the template alone.
      const m = /page;dur=([\d.]+)/.exec(st) || /render;dur=([\d.]+)/.exec(st);
      if (m) this.rows.push({ label, path: new URL(res.url()).pathname + new URL(res.url()).search, ms: Number(m[1]) });
    });
  }
  report() {
    return this.rows.map((r) => `${r.ms.toFixed(2).padStart(8)} ms  ${r.label.padEnd(10)} ${r.path}`).join("\n");
  }
}
