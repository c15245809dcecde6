// The shared-report viewer in headless Chromium (Debian's package, driven by
// playwright-core). Started by the e2e test `browser::viewer_in_headless_chromium`, which
// prepares the server and passes everything through the environment:
//   BASE            the server's URL
//   PUBLIC_URL      a public link to the report (download right)
//   INVITE_URL      a recipient's invitation (recipients link, download and schedule)
//   RECIPIENT_EMAIL the recipient's e-mail
//   MANAGER_TOKEN   an API token of the links' manager, to revoke the public link
//   FOLDER_URL      a public link to the demo's folder (dashboard and delivered files)
//   FILES_URL       a public link to the demo project's delivered files only
// Prints one line per check and exits non-zero on the first failure.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("BASE");
const PUBLIC_URL = env("PUBLIC_URL");
const INVITE_URL = env("INVITE_URL");
const EMAIL = env("RECIPIENT_EMAIL");
const TOKEN = env("MANAGER_TOKEN");
const FOLDER_URL = env("FOLDER_URL");
const FILES_URL = env("FILES_URL");
const PASSWORD = "Orchard#2026";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

function check(name) {
  console.log("ok - " + name);
}

// A response of the viewer's API to a tiles query whose filters hold `value`.
function tilesOf(response, value) {
  const sent = response.request().postData() || "";
  return response.url().endsWith("/graphql") && sent.includes("SharedTiles") && sent.includes(value);
}

async function tileIds(page) {
  return page.$$eval(".tile", (ts) => ts.map((t) => t.dataset.tile));
}

try {
  // ---- public link -------------------------------------------------------------
  const pub = await browser.newContext({ acceptDownloads: true });
  const requests = [];
  pub.on("request", (r) => requests.push({ url: r.url(), referer: r.headers()["referer"] || "" }));
  const page = await pub.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(PUBLIC_URL);
  await page.waitForSelector(".tile[data-tile=by_region] canvas");
  const token = PUBLIC_URL.split("/s/")[1];
  assert.ok(!page.url().includes(token), "token left in the address bar: " + page.url());
  for (const r of requests.slice(1)) {
    assert.ok(!r.url.includes(token), "token in a later request: " + r.url);
    assert.ok(!r.referer.includes(token), "token in a referrer: " + r.referer);
  }
  const history = await page.evaluate(() => history.length);
  assert.ok(history <= 2);
  check("public link opens, token gone from the URL, requests and referrers");
  assert.ok((await tileIds(page)).includes("sales"));
  assert.equal(await page.locator(".tile[data-tile=sales] .kpi").count(), 1);
  check("tiles drawn: charts on canvas, KPI as a number");

  await page.click(".tab-button[data-tab=products]");
  await page.waitForSelector(".tile[data-tile=by_category] canvas");
  assert.ok(page.url().includes("tab=products"), page.url());
  assert.ok(!(await tileIds(page)).includes("sales"));
  check("switching tabs puts the tab in the URL");

  // The table lists rows, which viewers below restricted querier cannot see: a marker
  // says so, with the reason in its title; the chart beside it carries none.
  const note = page.locator(".tile[data-tile=top] .access-note[data-kind=ROW_LEVEL]");
  assert.equal(await note.count(), 1);
  assert.match(await note.getAttribute("title"), /RESTRICTED_QUERIER/);
  assert.equal(await page.locator(".tile[data-tile=by_category] .access-note").count(), 0);
  check("a tile some viewers see less of carries a marker saying why");

  await page.waitForSelector("select[data-filter=region] option[value='\"West\"']", { state: "attached" });
  const tilesLoaded = page.waitForResponse((r) => tilesOf(r, "West"));
  await page.selectOption("select[data-filter=region]", '"West"');
  await tilesLoaded;
  assert.ok(decodeURIComponent(page.url()).includes('"region":["West"]'), page.url());
  // Drawing follows the response: wait for the table to show the filtered rows.
  await page.waitForFunction(() => (document.getElementById("content").dataset.drawn || "").includes("West"));
  await page.waitForFunction(() => {
    const tds = Array.from(document.querySelectorAll(".tile[data-tile=top] tbody tr td:nth-child(2)"));
    return tds.length > 0 && tds.every((t) => t.textContent === "West");
  });
  check("a report filter narrows the tiles and lives in the URL");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click(".download[data-tile=by_category]"),
  ]);
  const path = await download.path();
  const csv = (await import("node:fs")).readFileSync(path, "utf8");
  assert.ok(csv.startsWith("category,"), csv);
  assert.ok(csv.trim().split("\n").length >= 2, csv);
  check("CSV download (the link grants it)");

  // The embed: one tab, no toolbar.
  const embed = await pub.newPage();
  const viewerUrl = page.url().split("?")[0];
  await embed.goto(viewerUrl + "#tab=products");
  await embed.waitForSelector(".tile[data-tile=by_category] canvas");
  assert.equal(await embed.locator("#toolbar").isVisible(), false);
  assert.deepEqual((await tileIds(embed)).sort(), ["by_category", "top"]);
  check("#tab= embeds one tab without the toolbar");
  assert.deepEqual(errors, []);

  // "Copy link" on a public link: a fresh browser opens exactly this view.
  const publicRows = await page.$$eval(".tile[data-tile=top] tbody tr", (rs) => rs.map((r) => r.textContent));
  await page.click("#copy-link");
  await page.waitForSelector("#copied-url");
  const copied = await page.inputValue("#copied-url");
  assert.ok(copied.startsWith(BASE + "/s/") && !copied.includes(token), copied);
  const other = await browser.newContext();
  const op = await other.newPage();
  await op.goto(copied);
  await op.waitForFunction(() => (document.getElementById("content").dataset.drawn || "").includes("West"));
  assert.equal(await op.getAttribute(".tab-button.active", "data-tab"), "products");
  assert.ok(!op.url().includes(copied.split("/s/")[1].split("?")[0]), "copied token left in the URL: " + op.url());
  await op.waitForFunction(() => {
    const tds = Array.from(document.querySelectorAll(".tile[data-tile=top] tbody tr td:nth-child(2)"));
    return tds.length > 0 && tds.every((t) => t.textContent === "West");
  });
  assert.deepEqual(await op.$$eval(".tile[data-tile=top] tbody tr", (rs) => rs.map((r) => r.textContent)), publicRows);
  await other.close();
  check("a copied public view opens in a fresh browser with the same tab, filter and rows");

  // ---- recipient -----------------------------------------------------------------
  const rc = await browser.newContext();
  const rp = await rc.newPage();
  await rp.goto(INVITE_URL);
  await rp.waitForSelector("#password-new");
  await rp.fill("#password-new", "short");
  await rp.click("#password-submit");
  await rp.waitForSelector("#gate-error:not(:empty)");
  assert.match(await rp.textContent("#gate-error"), /a letter, a digit and one of ! # \$ % @/);
  check("a weak password is refused with the rule spelled out");
  await rp.fill("#password-new", PASSWORD);
  await rp.click("#password-submit");
  await rp.waitForSelector(".tile[data-tile=by_region] canvas");
  check("the recipient sets a password and sees the report");

  // Their own deliveries (the link's schedule right): schedule one, see it, cancel it.
  await rp.click("#deliveries-toggle");
  await rp.waitForSelector("#delivery-cron");
  await rp.selectOption("#delivery-cron", "0 7 * * MON");
  await rp.check("#delivery-csv");
  await rp.click("#schedule-delivery");
  await rp.waitForSelector("#delivery-list li");
  assert.match(await rp.textContent("#delivery-list li"), /Every Monday at 07:00 .*with CSV · next /);
  await rp.click("#delivery-list li .cancel-delivery");
  await rp.waitForFunction(() => document.querySelectorAll("#delivery-list li").length === 0);
  await rp.click("#deliveries-toggle");
  check("the recipient schedules a delivery to their own address and cancels it");

  await rp.click(".tab-button[data-tab=products]");
  await rp.waitForSelector(".tile[data-tile=by_category]");
  await rp.waitForSelector("select[data-filter=segment] option[value='\"Corporate\"']", { state: "attached" });
  const filtered = rp.waitForResponse((r) => tilesOf(r, "Corporate"));
  await rp.selectOption("select[data-filter=segment]", '"Corporate"');
  await filtered;
  await rp.waitForFunction(() => (document.getElementById("content").dataset.drawn || "").includes("Corporate"));
  const shared = rp.url();
  const rowsBefore = await rp.$$eval(".tile[data-tile=top] tbody tr", (rs) => rs.map((r) => r.textContent));

  // The copied URL in a fresh browser: sign in, then the very same state.
  const fresh = await browser.newContext();
  const fp = await fresh.newPage();
  await fp.goto(shared);
  await fp.waitForSelector("#signin-email");
  await fp.fill("#signin-email", EMAIL);
  await fp.fill("#signin-password", "Wrong#0000");
  await fp.click("#signin-submit");
  await fp.waitForSelector("#gate-error:not(:empty)");
  assert.match(await fp.textContent("#gate-error"), /e-mail address or password is wrong/);
  check("a wrong password says so, without saying whether the recipient exists");
  await fp.fill("#signin-password", PASSWORD);
  await fp.click("#signin-submit");
  await fp.waitForFunction(() => (document.getElementById("content").dataset.drawn || "").includes("Corporate"));
  assert.equal(await fp.getAttribute(".tab-button.active", "data-tab"), "products");
  await fp.waitForSelector("select[data-filter=segment] option[value='\"Corporate\"']", { state: "attached" });
  const selected = await fp.$eval("select[data-filter=segment]", (s) => Array.from(s.selectedOptions).map((o) => o.value));
  assert.deepEqual(selected, ['"Corporate"']);
  const rowsAfter = await fp.$$eval(".tile[data-tile=top] tbody tr", (rs) => rs.map((r) => r.textContent));
  assert.deepEqual(rowsAfter, rowsBefore);
  check("the copied URL shows the same tab, filter and rows in a fresh browser");

  // ---- links to whole projects -----------------------------------------------------
  const wc = await browser.newContext({ acceptDownloads: true });
  const wp = await wc.newPage();
  await wp.goto(FOLDER_URL);
  await wp.waitForSelector(".tile[data-tile=by_region] canvas");
  await wp.click("#files-toggle");
  await wp.waitForSelector("#files a.delivered-file");
  const fileLink = await wp.getAttribute("#files a.delivered-file", "href");
  const fileRes = await wp.request.get(fileLink);
  assert.equal(fileRes.status(), 200);
  assert.match(await fileRes.text(), /<html/i);
  check("a folder's link opens its projects' reports and lists their delivered files");
  const fc = await browser.newContext();
  const fpage = await fc.newPage();
  await fpage.goto(FILES_URL);
  await fpage.waitForSelector("#files a.delivered-file");
  assert.equal(await fpage.$$eval(".tile", (t) => t.length), 0);
  assert.match(await fpage.textContent("h1"), /Shared files/);
  check("a files-only link shows the delivered files and no dashboard");

  // ---- revocation --------------------------------------------------------------------
  const linkId = viewerUrl.split("/s/v/")[1];
  const res = await fetch(BASE + "/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + TOKEN },
    body: JSON.stringify({ query: "mutation($id:ID!){revokeShareLink(id:$id){state}}", variables: { id: linkId } }),
  });
  const body = await res.json();
  assert.equal(body.data.revokeShareLink.state, "REVOKED", JSON.stringify(body));
  await page.reload();
  await page.waitForSelector("#gone");
  assert.match(await page.textContent("body"), /no longer valid/);
  check("after revocation the page says the link is no longer valid");
} finally {
  await browser.close();
}
