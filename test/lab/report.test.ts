// The report as a person sees it: written by bin/bm-migrate from the sample journal, opened in
// headless Chromium with every network request refused, its chart and tables checked as rendered,
// a screenshot and a printed PDF kept under test-output/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { BIN, REPO } from "../support/cli.js";

const CHROMIUM = "/usr/bin/chromium";
const FIXTURES = join(REPO, "test/fixtures");
const OUTPUT = join(REPO, "test-output");

const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: install Debian's chromium package (apt-get install chromium) to run this test`;

function writeReport(): string {
  const tmp = mkdtempSync(join(tmpdir(), "bm-report-browser-"));
  const state = join(tmp, "state");
  const logs = join(tmp, "log");
  mkdirSync(state);
  mkdirSync(logs);
  copyFileSync(join(FIXTURES, "journal-sample.jsonl"), join(state, "journal.jsonl"));
  copyFileSync(join(FIXTURES, "log-sample.log"), join(logs, "bm-migrate.log"));
  const out = join(tmp, "r.html");
  const r = spawnSync(BIN, ["report", "--state-dir", state, "--log-dir", logs, "--out", out], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, `bm-migrate report failed: ${r.stderr}`);
  assert.equal(r.stdout.trim(), out);
  return out;
}

/** Playwright's launch gives the browser a new, empty profile of its own, removed on close. */
async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

test("the report renders in Chromium: chart with bars and downtime, tables with rows", { skip }, async () => {
  const file = writeReport();
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const offline: string[] = [];
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    // Self-contained means nothing but the file itself is loaded.
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      offline.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });

    assert.match(await page.title(), /^BlueMind migration report/);
    assert.match(await page.locator("h1").innerText(), /BlueMind migration report/);

    // The chart: one bar per pass segment (hot-sync #1 was interrupted and resumed), drawn with size.
    const chart = page.locator("svg.timeline");
    const chartBox = await chart.boundingBox();
    assert.ok(chartBox && chartBox.width > 800 && chartBox.height > 150, "the chart is laid out full width");
    const bars = page.locator("svg.timeline rect.bar");
    assert.equal(await bars.count(), 5);
    assert.equal(await page.locator('rect.bar[data-phase="hot-sync"]').count(), 3);
    assert.equal(await page.locator('rect.bar[data-phase="cold-sync"]').count(), 1);
    assert.equal(await page.locator('rect.bar[data-phase="verify"]').count(), 1);
    assert.equal(await page.locator('rect.bar[data-outcome="failed"]').count(), 1);
    for (let i = 0; i < 5; i++) {
      const b = await bars.nth(i).boundingBox();
      assert.ok(b && b.width >= 2 && b.height > 8, `bar ${i} is visible`);
    }

    // The downtime window covers the cold-sync bar and lies inside the chart.
    const window = await page.locator("rect.downtime-window").boundingBox();
    const cold = await page.locator('rect.bar[data-phase="cold-sync"]').boundingBox();
    assert.ok(window && cold && chartBox);
    assert.ok(window.width >= 20, "the downtime window is wide enough to see");
    assert.ok(window.x >= chartBox.x && window.x + window.width <= chartBox.x + chartBox.width + 1);
    assert.ok(Math.abs(window.x - cold.x) < 3, "the window starts with the cold sync (services stopped)");
    assert.ok(window.x + window.width >= cold.x + cold.width - 3, "and lasts until the copy is done");
    assert.match(
      (await page.locator("svg.timeline .downtime-label").textContent()) ?? "",
      /cold phase 4 min 51 s/,
    );
    const forecast = await page.locator("svg.timeline .forecast line").boundingBox();
    assert.ok(forecast && forecast.height > 100, "the forecast line crosses the rows");
    assert.ok(forecast.x > window.x, "the forecast ends after the downtime began");

    // The tables, rendered with their rows.
    const rows = async (id: string) => page.locator(`#${id} tbody tr`).count();
    assert.equal(await rows("directories"), 21);
    assert.equal(await rows("databases"), 2);
    assert.equal(await rows("preflight"), 6);
    assert.equal(await rows("verification"), 5, "files, dirs, bytes, tables, rows compared");
    assert.equal(await rows("phases"), 6, "4 passes and 2 phases not run yet");
    assert.equal(await rows("commands"), 10);
    assert.ok((await rows("steps")) > 30);
    assert.match(await page.locator("#verification").innerText(), /passed/);
    assert.match(await page.locator("#downtime").innerText(), /22 % under/);
    const cell = await page.locator("#directories tbody tr").first().boundingBox();
    assert.ok(cell && cell.height > 10, "table rows have height");

    assert.deepEqual(offline, [], "no request leaves the file");
    assert.deepEqual(consoleErrors, []);

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "report.png"), fullPage: true });

    // Printed: A4 pages, the print stylesheet applied (no grey page background).
    await page.emulateMedia({ media: "print" });
    const bg = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    assert.equal(bg, "rgb(255, 255, 255)");
    const pdf = await page.pdf({ path: join(OUTPUT, "report.pdf"), format: "A4", printBackground: true });
    assert.equal(pdf.subarray(0, 4).toString(), "%PDF");
    const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) ?? []).length;
    assert.ok(pages >= 2 && pages <= 8, `printed on ${pages} pages`);
    assert.ok(readFileSync(join(OUTPUT, "report.png")).length > 50_000, "the screenshot has content");
  } finally {
    await browser.close();
  }
});
