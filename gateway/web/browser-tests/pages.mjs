// The web pages in headless Chromium against a real cluster, driven by playwright-core. Started
// by integration/tests/web_pages.rs, which starts the cluster, writes the documents and the keys
// and passes them here:
//   MIROIR_URL           a gateway with no --search-page-key
//   MIROIR_URL_WITH_KEY  a gateway of the same cluster started with --search-page-key
//   MIROIR_MASTER_KEY, MIROIR_SEARCH_KEY, MIROIR_INDEX, MIROIR_CHROMIUM, MIROIR_SCREENSHOTS
// Every check compares what the page shows with what the API answers. Exits non-zero on the
// first failed check.
import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const URL_PLAIN = env("MIROIR_URL");
const URL_WITH_KEY = env("MIROIR_URL_WITH_KEY");
const MASTER_KEY = env("MIROIR_MASTER_KEY");
const SEARCH_KEY = env("MIROIR_SEARCH_KEY");
const INDEX = env("MIROIR_INDEX");
const SHOTS = env("MIROIR_SCREENSHOTS");
const QUERY = "film";
const FACET = ["genre", "Drama"];

async function apiJson(base, key, method, route, body) {
  const response = await fetch(base + route, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(response.status, 200, `${method} ${route}: ${response.status}`);
  return response.json();
}

function step(name) {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${name}`);
}

const browser = await chromium.launch({
  executablePath: env("MIROIR_CHROMIUM"),
  headless: true,
  // Chromium's own connections (updates, sync, QUIC probes) would hang on a closed network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const failures = [];

/** Every form control of the page has an accessible name (a label or aria-label). */
async function checkLabels(page, where) {
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((control) => control.labels.length === 0 && !control.getAttribute("aria-label"))
      .map((control) => control.id || control.name || control.outerHTML.slice(0, 60)),
  );
  assert.deepEqual(unlabeled, [], `controls without a label on ${where}`);
}

/** Nothing scrolls sideways at a phone's width (tables scroll inside their own box). */
async function checkPhoneWidth(page, where) {
  await page.setViewportSize({ width: 390, height: 844 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `${where} scrolls sideways on a phone: ${width}px`);
}
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => message.type() === "error" && console.log(`browser console: ${message.text()}`));

  // ---- admin console: log in, the real shard map ----
  step("admin console: log in with the master key");
  await page.goto(`${URL_PLAIN}/_miroir/admin`);
  await page.getByLabel("API key").fill("not-a-key");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#login-error").filter({ hasText: "not accepted" }).waitFor();
  await page.getByLabel("API key").fill(MASTER_KEY);
  await page.getByRole("button", { name: "Log in" }).click();
  const status = await apiJson(URL_PLAIN, MASTER_KEY, "GET", "/_miroir/status");
  await page.locator("#nodes-table tbody tr").nth(status.nodes.length - 1).waitFor();
  await page.locator("#topology-updated").filter({ hasText: "updated" }).waitFor();
  assert.equal(await page.locator("#nodes-table tbody tr").count(), status.nodes.length);
  for (const node of status.nodes) {
    const row = page.locator(`#nodes-table tr[data-node="${node.id}"]`);
    assert.equal(await row.locator("td.shards").textContent(), node.shards.join(", "), `shards of ${node.id}`);
    assert.match(await row.textContent(), node.reachable ? /reachable/ : /unreachable/);
  }
  for (const shard of status.shards) {
    const held = await page.locator(`#shard-map tr[data-shard="${shard.shard}"] td.held`).evaluateAll((cells) => cells.map((cell) => cell.dataset.node));
    assert.deepEqual(held.sort(), [...shard.replicas].sort(), `replicas of shard ${shard.shard}`);
  }
  assert.equal(await page.locator("#shard-map tbody tr").count(), status.shardCount);
  // The key lives in this tab's session storage and nowhere a browser sends by itself.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("miroir.adminKey")), MASTER_KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.deepEqual(await context.cookies(), []);
  await page.screenshot({ path: path.join(SHOTS, "admin-topology.png"), fullPage: true });
  await checkLabels(page, "the admin console");
  await checkPhoneWidth(page, "the admin console");
  await page.setViewportSize({ width: 1280, height: 860 });

  step("admin console: tasks and indexes");
  await page.getByRole("link", { name: "Tasks" }).click();
  await page.locator("#tasks-table tbody tr").first().waitFor();
  const tasks = await apiJson(URL_PLAIN, MASTER_KEY, "GET", "/tasks?limit=20&statuses=succeeded");
  await page.getByLabel("Status").selectOption("succeeded");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction((count) => document.querySelectorAll("#tasks-table tbody tr").length === count, tasks.results.length);
  const uids = await page.locator("#tasks-table tbody tr").evaluateAll((rows) => rows.map((row) => Number(row.dataset.uid)));
  assert.deepEqual(uids, tasks.results.map((task) => task.uid));
  await page.locator("#tasks-table tbody tr button").first().click();
  await page.locator("#task-detail").filter({ hasText: `"uid": ${uids[0]}` }).waitFor();
  await page.getByRole("link", { name: "Indexes" }).click();
  const stats = await apiJson(URL_PLAIN, MASTER_KEY, "GET", "/stats");
  const documents = page.locator(`#indexes-table tr[data-index="${INDEX}"] td.documents`);
  await documents.filter({ hasText: String(stats.indexes[INDEX].numberOfDocuments) }).waitFor();
  await page.getByRole("button", { name: `Documents per shard of ${INDEX}` }).click();
  await page.locator("#shards-table tbody tr").first().waitFor();
  const verified = (await apiJson(URL_PLAIN, MASTER_KEY, "POST", `/_miroir/verify?index=${INDEX}`)).indexes[0];
  assert.equal(await page.locator("#shards-table tbody tr").count(), verified.shards.length);
  let counted = 0;
  for (const shard of verified.shards) {
    const row = page.locator(`#shards-table tr[data-shard="${shard.shard}"]`);
    assert.equal(await row.locator("td.replicas").textContent(), shard.replicas.map((r) => `${r.node}: ${r.documents}`).join(", "));
    assert.equal(shard.status, "consistent", `shard ${shard.shard}`);
    counted += shard.replicas[0].documents;
  }
  assert.equal(counted, stats.indexes[INDEX].numberOfDocuments, "one replica of every shard holds every document once");
  await page.getByRole("button", { name: `Settings of ${INDEX}` }).click();
  await page.locator("#settings-detail").filter({ hasText: '"filterableAttributes"' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, "admin-indexes.png"), fullPage: true });

  // ---- admin console: query sandbox ----
  step("admin console: a sandbox query shows the merged answer");
  await page.getByRole("link", { name: "Query sandbox" }).click();
  await page.locator(`#sandbox-index option[value="${INDEX}"]`).waitFor({ state: "attached" });
  await page.locator("#sandbox-index").selectOption(INDEX);
  const sandboxQuery = { q: "golden", limit: 3, facets: ["genre"] };
  await page.getByLabel("Search parameters").fill(JSON.stringify(sandboxQuery));
  await page.getByRole("button", { name: "Run" }).click();
  await page.locator("#sandbox-summary").filter({ hasText: "hits shown" }).waitFor();
  const shown = JSON.parse(await page.locator("#sandbox-result").textContent());
  const direct = await apiJson(URL_PLAIN, MASTER_KEY, "POST", `/indexes/${INDEX}/search`, sandboxQuery);
  assert.ok(direct.hits.length > 0, "the sandbox query matches something");
  assert.deepEqual(shown.hits, direct.hits);
  assert.deepEqual(shown.facetDistribution, direct.facetDistribution);
  assert.equal(shown.estimatedTotalHits, direct.estimatedTotalHits);
  // Beside the answer, how the cluster got it (Miroir-Explain: run): every shard asked, node calls.
  assert.match(await page.locator("#sandbox-plan-summary").textContent(), /^(\d+) of \1 shards asked/);
  const calls = await page.locator("#sandbox-plan tbody tr").allTextContents();
  assert.ok(calls.length >= 1 && calls.every((row) => row.includes("answered") || row.includes("canceled")), `node calls: ${calls}`);
  await page.screenshot({ path: path.join(SHOTS, "admin-sandbox.png"), fullPage: true });

  // ---- search page: no key configured, the master key refused ----
  step("search page: no key configured; the master key is refused");
  const plain = await context.newPage();
  plain.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  await plain.goto(`${URL_PLAIN}/_miroir/search/${INDEX}`);
  await plain.locator("#key-notice").filter({ hasText: "No search key is configured" }).waitFor();
  await plain.getByLabel("Search-only API key").fill(MASTER_KEY);
  await plain.getByRole("button", { name: "Use this key" }).click();
  await plain.locator("#refusal").filter({ hasText: "This is the master key" }).waitFor();
  assert.equal(await plain.locator("#search-ui").isVisible(), false, "no search box with the master key");
  assert.equal(await plain.evaluate(() => sessionStorage.getItem("miroir.searchKey")), null, "the master key is forgotten");
  await plain.screenshot({ path: path.join(SHOTS, "search-refuses-master-key.png") });
  await plain.getByLabel("Search-only API key").fill(SEARCH_KEY);
  await plain.getByRole("button", { name: "Use this key" }).click();
  await plain.locator("#hits li").first().waitFor();
  await plain.close();

  // ---- search page with the operator's key: type, pick a facet, page ----
  step("search page: type, pick a facet, page");
  await page.goto(`${URL_WITH_KEY}/_miroir/search/${INDEX}`);
  const box = page.getByRole("searchbox", { name: "Search" });
  await box.waitFor();
  await page.locator("#hits li").first().waitFor();
  await box.pressSequentially(QUERY, { delay: 40 });
  await page.waitForURL((url) => url.searchParams.get("q") === QUERY);
  await page.locator(`#facets fieldset[data-facet="${FACET[0]}"] label`).filter({ hasText: FACET[1] }).getByRole("checkbox").click(); // click, not check(): the answer re-renders the list
  await page.waitForURL((url) => url.searchParams.get("f") === FACET.join(":"));
  // The picked facet keeps its other values, counted without its own filter (ORed if picked).
  const unfiltered = await apiJson(URL_WITH_KEY, SEARCH_KEY, "POST", `/indexes/${INDEX}/search`, { q: QUERY, facets: [FACET[0]], limit: 0 });
  for (const [value, count] of Object.entries(unfiltered.facetDistribution[FACET[0]])) {
    await page.locator(`#facets fieldset[data-facet="${FACET[0]}"] label`).filter({ hasText: value }).locator(".count").filter({ hasText: String(count) }).waitFor();
  }
  await page.getByRole("button", { name: "Page 2" }).click();
  await page.waitForURL((url) => url.searchParams.get("page") === "2");
  const expected = await apiJson(URL_WITH_KEY, SEARCH_KEY, "POST", `/indexes/${INDEX}/search`, {
    q: QUERY,
    page: 2,
    hitsPerPage: 10,
    filter: `${FACET[0]} = "${FACET[1]}"`,
  });
  assert.ok(expected.hits.length > 0, "page 2 has hits");
  await page.locator("#stats").filter({ hasText: `${expected.totalHits} results · page 2 of ${expected.totalPages}` }).waitFor();
  const ids = await page.locator("#hits li").evaluateAll((items) => items.map((item) => item.dataset.id));
  assert.deepEqual(ids, expected.hits.map((hit) => String(hit.id)), "the page shows the API's hits in its order");
  const titles = await page.locator("#hits li .hit-title").allTextContents();
  assert.deepEqual(titles, expected.hits.map((hit) => hit.title));
  const marks = await page.locator("#hits li mark").allTextContents();
  assert.ok(marks.length >= expected.hits.length && marks.every((mark) => mark.toLowerCase() === QUERY), `highlights: ${marks}`);

  step("search page: keyboard and the URL");
  await box.focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), ids[0]);
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.id), ids[1]);
  await page.keyboard.press("Escape");
  assert.equal(await page.evaluate(() => document.activeElement.id), "q");
  await page.reload();
  await page.locator("#stats").filter({ hasText: "page 2 of" }).waitFor();
  assert.equal(await box.inputValue(), QUERY, "the query comes back from the URL");
  assert.ok(await page.locator(`#facets fieldset[data-facet="${FACET[0]}"] label`).filter({ hasText: FACET[1] }).getByRole("checkbox").isChecked());
  assert.deepEqual(await page.locator("#hits li").evaluateAll((items) => items.map((item) => item.dataset.id)), ids);
  await page.goBack();
  await page.locator("#stats").filter({ hasText: "page 1 of" }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, "search.png"), fullPage: true });

  step("search page on a phone-sized screen");
  await checkLabels(page, "the search page");
  await checkPhoneWidth(page, "the search page");
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, "search-phone.png") });
} finally {
  await browser.close();
}
assert.deepEqual(failures, []);
step("every check passed");
