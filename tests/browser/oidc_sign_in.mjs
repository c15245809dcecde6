// Signs in to Vitrine through an OpenID provider in headless Chromium, the way a person
// does: the sign-in page's provider button, the provider's login and consent forms, back
// to Vitrine signed in; then signs out, through the provider's logout page. Started by
// the e2e test `oidc::sign_in_through_a_real_provider_in_chromium`, which reads what
// this prints: `viewer JSON` after signing in and `after-logout JSON` at the end.
import { chromium } from "playwright-core";

const base = process.env.VITRINE_URL;
const login = process.env.LOGIN;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const fail = async (why) => { console.error(why); await browser.close(); process.exit(1); };
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/signin?return_to=/`);
  await page.click(`a.provider[data-name="${process.env.PROVIDER}"]`);
  // The provider's development login form takes any password.
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any-password");
  await page.click('button[type="submit"]');
  // Consent: the first time, the provider asks to share the claims.
  await page.waitForLoadState();
  if (!page.url().startsWith(base)) {
    await page.click('button[type="submit"]');
  }
  await page.waitForURL(`${base}/`, { timeout: 15000 });
  console.log("ok - back at Vitrine after the provider");
  const ask = () => page.evaluate(async () => {
    const res = await fetch("/graphql", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{viewer{username email issuer attributes{key values} groups{name}}}" }) });
    return (await res.json()).data.viewer;
  });
  console.log("viewer " + JSON.stringify(await ask()));
  const tile = await page.evaluate(async (report) => {
    const res = await fetch("/graphql", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "query($r:ID!){tileResult(reportId:$r,tileId:\"by_region\"){columns{name type} rows rowCount truncated}}",
        variables: { r: report } }) });
    return (await res.json()).data.tileResult;
  }, process.env.REPORT);
  console.log("tile " + JSON.stringify(tile));
  const out = await page.evaluate(async () => {
    const csrf = (await (await fetch("/auth/csrf")).json()).csrfToken;
    const res = await fetch("/auth/logout", { method: "POST", headers: { "x-csrf-token": csrf } });
    return res.json();
  });
  if (!out.providerLogoutUrl) await fail("no provider logout URL: " + JSON.stringify(out));
  await page.goto(out.providerLogoutUrl);
  // The provider confirms the sign-out, then comes back to Vitrine.
  await page.waitForSelector('button[autofocus], button[type="submit"]');
  await page.click('button[autofocus], button[type="submit"]');
  await page.waitForURL(`${base}/`, { timeout: 15000 });
  console.log("ok - signed out at the provider and back");
  console.log("after-logout " + JSON.stringify(await ask()));
} catch (e) {
  await fail(String(e && e.stack || e));
}
await browser.close();
