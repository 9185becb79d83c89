// End-to-end test of the simulator's console page (GET /_sim/console) in headless
// Chromium, driven by playwright-core. Run by scripts/test-sim-console.sh, which
// starts the simulator and applies for a refund with the real client first:
//   SIM_URL=http://127.0.0.1:PORT REFUND_NO=... SHOT_DIR=target/console node --test
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const SIM_URL = process.env.SIM_URL;
const REFUND_NO = process.env.REFUND_NO;
const SHOT_DIR = process.env.SHOT_DIR || "target/console";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(SIM_URL && REFUND_NO, "SIM_URL and REFUND_NO must be set");

let browser;
let page;
const problems = [];

async function state() {
  const response = await fetch(SIM_URL + "/_sim/state");
  assert.equal(response.status, 200);
  return response.json();
}

function findRefund(s, no) {
  for (const family of Object.values(s.refunds)) {
    for (const r of family) if (r.out_refund_no === no) return r;
  }
  return undefined;
}

// Polls `check` (async, returns truthy when done) for up to `ms`.
async function eventually(what, check, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await new Promise(r => setTimeout(r, 100));
  }
  assert.fail("timed out waiting for " + what);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10000);
  page.on("pageerror", e => problems.push("page error: " + e.message));
  // Resource failures are checked by URL below (the browser's own /favicon.ico is a 404).
  page.on("console", m => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push("console error: " + m.text());
    }
  });
  page.on("response", r => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) {
      problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    }
  });
  page.on("dialog", d => { problems.push("dialog: " + d.message()); d.dismiss(); });
});

after(async () => {
  if (browser) await browser.close();
});

test("the console is served as HTML under a strict CSP", async () => {
  const response = await fetch(SIM_URL + "/_sim/console");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/html/);
  const csp = response.headers.get("content-security-policy");
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /https?:|\*/, "no external origins");
  const html = await response.text();
  assert.doesNotMatch(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//, "no external assets");
  const post = await fetch(SIM_URL + "/_sim/console", { method: "POST" });
  assert.equal(post.status, 405);
});

test("shows the refund and settles it ABNORMAL from its row", async () => {
  // A hostile order id is shown as text, never as markup.
  const hostile = "<img src=x onerror=alert(1)>";
  const added = await fetch(SIM_URL + "/_sim/orders", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ family: "domestic", out_trade_no: hostile, transaction_id: "4200009999", total: 500 }),
  });
  await page.goto(SIM_URL + "/_sim/console");
  const row = page.locator(`tr[data-refund="${REFUND_NO}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /PROCESSING/);
  if (added.status === 201) {
    await page.getByText(hostile, { exact: true }).waitFor();
    assert.equal(await page.locator("main img").count(), 0, "markup from data was rendered");
  }

  await row.locator('button[data-settle="ABNORMAL"]').click();
  const refund = await eventually("the refund to be ABNORMAL in /_sim/state", async () => {
    const r = findRefund(await state(), REFUND_NO);
    return r && r.status === "ABNORMAL" ? r : null;
  });
  assert.equal(refund.status, "ABNORMAL");
  await eventually("the page to show ABNORMAL", async () => /ABNORMAL/.test(
    await row.locator("td").nth(5).innerText()));
  await page.locator("#message").filter({ hasText: "done" }).waitFor();
});

test("injects a fault from the form", async () => {
  await page.selectOption("#fault-kind", "RATE_LIMITED");
  await page.fill("#fault-count", "3");
  await page.click("#fault-submit");
  await eventually("RATE_LIMITED x3 queued in /_sim/state", async () =>
    (await state()).faults.some(f => f.kind === "RATE_LIMITED" && f.count === 3));
  await page.locator("#faults td", { hasText: "RATE_LIMITED" }).waitFor();
});

test("refreshes by itself and looks right", async () => {
  // A change made behind the page's back shows up within a few refreshes.
  await fetch(SIM_URL + "/_sim/faults", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ kind: "SYSTEM_ERROR", count: 2 }),
  });
  await page.locator("#faults td", { hasText: "SYSTEM_ERROR" }).waitFor({ timeout: 6000 });

  mkdirSync(SHOT_DIR, { recursive: true });
  const path = join(SHOT_DIR, "console.png");
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  assert.ok(png.length > 20000, `screenshot is only ${png.length} bytes`);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString("latin1", 12, 16), "IHDR");
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.ok(width >= 1000 && height >= 600, `screenshot is ${width}x${height}`);
  assert.deepEqual(problems, []);
});
