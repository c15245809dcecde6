// Report files in headless Chromium, opened from disk (file://) with no server. Started
// by the e2e test `browser::report_file_in_headless_chromium`, which exports the files:
//   PLAIN      a report file without a password
//   SEALED     the same report, password-protected
//   TAMPERED   SEALED with one character of its ciphertext changed
//   PASSWORD   SEALED's password
//   TILES      the number of tiles on the report's first tab
//   KPI        a value one of the KPI tiles shows
// Prints one line per check and exits non-zero on the first failure.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = (k) => pathToFileURL(env(k)).href;
const PASSWORD = env("PASSWORD");
const TILES = Number(env("TILES"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

function check(name) {
  console.log("ok - " + name);
}

async function fresh() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, requests, errors };
}

try {
  {
    const { page, requests, errors } = await fresh();
    await page.goto(url("PLAIN"));
    await page.waitForSelector("#content[data-drawn]");
    assert.equal(await page.locator(".tile").count(), TILES);
    assert.ok(await page.locator("canvas").count() >= 1, "charts drawn");
    const kpis = await page.$$eval(".kpi", (ks) => ks.map((k) => k.textContent.replace(/[^0-9]/g, "")));
    assert.ok(kpis.includes(env("KPI")), "KPI values: " + kpis.join(", "));
    check("a plain report file draws its tiles and charts from disk");
    const tabs = await page.locator(".tab-button").count();
    if (tabs > 1) {
      const first = await page.locator("#content").getAttribute("data-drawn");
      await page.locator(".tab-button").nth(1).click();
      await page.waitForFunction((f) => document.querySelector("#content").dataset.drawn !== f, first);
    }
    check("tabs switch offline");
    assert.deepEqual(requests.filter((r) => !r.startsWith("file://")), [], "no network request");
    assert.deepEqual(errors, []);
    check("it makes no network request and no script error");
  }
  {
    const { page, requests, errors } = await fresh();
    await page.goto(url("SEALED"));
    await page.waitForSelector("#password-form");
    const text = await page.locator("body").innerText();
    assert.ok(!text.includes("Orders"), "nothing of the report shows before the password");
    await page.fill("#file-password", "not the password at all");
    await page.click("#file-open");
    await page.waitForFunction(() => /Wrong password/.test(document.querySelector("#gate-error").textContent));
    assert.equal(await page.locator(".tile").count(), 0);
    check("a protected file refuses a wrong password with a clear message");
    await page.fill("#file-password", PASSWORD);
    await page.click("#file-open");
    await page.waitForSelector("#content[data-drawn]", { timeout: 30000 });
    assert.equal(await page.locator(".tile").count(), TILES);
    check("the right password decrypts it in the browser");
    assert.deepEqual(requests.filter((r) => !r.startsWith("file://")), []);
    assert.deepEqual(errors, []);
  }
  {
    const { page } = await fresh();
    await page.goto(url("TAMPERED"));
    await page.fill("#file-password", PASSWORD);
    await page.click("#file-open");
    await page.waitForFunction(() => /altered/.test(document.querySelector("#gate-error").textContent), null, { timeout: 30000 });
    assert.equal(await page.locator(".tile").count(), 0);
    check("an altered file fails even with the right password");
  }
} finally {
  await browser.close();
}
