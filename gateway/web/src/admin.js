// The admin console, `/_miroir/admin`: the cluster's topology (live, from GET /_miroir/status),
// tasks, indexes and a query sandbox. Tasks, indexes and searches go through Meilisearch's own
// JS client; the key is kept in this tab's session storage and sent only as a header.
import { Meilisearch } from "meilisearch";
import { api, el, fill, keyPowers, messageOf } from "./common.js";

const STORED_KEY = "miroir.adminKey";
const REFRESH_MS = 2000;
const TASKS_PAGE = 20;
const $ = (id) => document.getElementById(id);

let key = sessionStorage.getItem(STORED_KEY) || "";
let client = null;
let refresher = null;

function yesNo(value, good = "yes", bad = "no") {
  return value ? el("span", { class: "ok" }, good) : el("span", { class: "bad" }, bad);
}

// ---- topology ----

async function refreshTopology() {
  // Each status call probes every node and the log: only while someone looks at it.
  if (document.hidden || $("topology").hidden) return;
  try {
    const response = await api("/_miroir/status", key);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      $("topology-error").textContent =
        response.status === 401 || response.status === 403
          ? "The topology needs the master key (Miroir's admin routes take no other key)."
          : `GET /_miroir/status answered ${response.status}: ${body.message || ""}`;
      return;
    }
    renderTopology(await response.json());
    $("topology-error").textContent = "";
    $("topology-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("topology-error").textContent = `The gateway did not answer: ${messageOf(error)}`;
  }
}

function renderTopology(status) {
  const nodes = status.nodes || [];
  const summary = [
    ["Topology version", status.version],
    ["Shards", status.shardCount],
    ["Replication factor", status.replicationFactor],
    ["Replica groups", (status.replicaGroups || []).join(", ")],
    ["Ready", yesNo(status.ready)],
    ["Log reachable", yesNo(status.log?.reachable)],
    ["Benched nodes", nodes.filter((node) => node.reads === "benched").map((node) => node.id).join(", ") || "none"],
    [
      "Lagging replicas",
      nodes
        .filter((node) => node.laggingPartitions?.length)
        .map((node) => `${node.id} (ops partitions ${node.laggingPartitions.join(", ")})`)
        .join("; ") || "none",
    ],
    ["Indexer lag", status.indexers?.error ? "unknown" : status.indexers?.totalLag],
  ];
  fill($("topology-summary"), summary.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));

  fill(
    $("nodes-table").tBodies[0],
    nodes.map((node) =>
      el(
        "tr",
        { "data-node": node.id },
        el("th", { scope: "row" }, node.id),
        el("td", {}, node.replicaGroup),
        el("td", {}, yesNo(node.reachable, "reachable", "unreachable")),
        el("td", {}, node.reads === "benched" ? el("span", { class: "bad" }, "benched") : "serving"),
        el("td", {}, node.shards.length),
        el("td", { class: "shards" }, node.shards.join(", ")),
      ),
    ),
  );

  const map = $("shard-map");
  fill(map.tHead, el("tr", {}, el("th", { scope: "col" }, "Shard"), nodes.map((node) => el("th", { scope: "col" }, node.id))));
  fill(
    map.tBodies[0],
    (status.shards || []).map((shard) =>
      el(
        "tr",
        { "data-shard": shard.shard },
        el("th", { scope: "row" }, `shard-${shard.shard}`),
        nodes.map((node) => {
          const held = shard.replicas.includes(node.id);
          return el("td", { class: held ? "held" : "", "data-node": node.id }, held ? "●" : "", el("span", { class: "visually-hidden" }, held ? "holds" : "does not hold"));
        }),
      ),
    ),
  );

  const partitions = status.indexers?.partitions || [];
  fill(
    $("lag-table").tBodies[0],
    status.indexers?.error
      ? el("tr", {}, el("td", { colspan: 5, class: "bad" }, status.indexers.error))
      : partitions.map((p) =>
          el("tr", {}, el("td", {}, p.partition), el("td", {}, p.endOffset), el("td", {}, p.committed), el("td", { class: p.lag > 0 ? "bad" : "" }, p.lag), el("td", {}, p.owner ?? "—")),
        ),
  );
}

// ---- tasks ----

let tasksFrom = undefined;

function duration(task) {
  return task.duration || (task.status === "processing" || task.status === "enqueued" ? "…" : "");
}

async function loadTasks(append) {
  const form = new FormData($("task-filters"));
  const query = { limit: TASKS_PAGE, from: append ? tasksFrom : undefined };
  for (const name of ["statuses", "types", "indexUids"]) {
    const value = String(form.get(name) || "").trim();
    if (value) query[name] = [value];
  }
  try {
    const page = await client.tasks.getTasks(query);
    $("tasks-error").textContent = "";
    const rows = page.results.map((task) =>
      el(
        "tr",
        { "data-uid": task.uid },
        el("td", {}, el("button", { type: "button", class: "link", onclick: (event) => showTask(task.uid, event.target) }, task.uid)),
        el("td", {}, task.indexUid ?? "—"),
        el("td", {}, task.type),
        el("td", { class: task.status === "failed" ? "bad" : task.status === "succeeded" ? "ok" : "" }, task.status),
        el("td", {}, new Date(task.enqueuedAt).toLocaleString()),
        el("td", {}, duration(task)),
      ),
    );
    if (append) $("tasks-table").tBodies[0].append(...rows);
    else fill($("tasks-table").tBodies[0], rows);
    tasksFrom = page.next ?? undefined;
    $("tasks-more").hidden = page.next === null || page.next === undefined;
  } catch (error) {
    $("tasks-error").textContent = `Tasks could not be read: ${messageOf(error)}`;
  }
}

async function showTask(uid, button) {
  for (const row of $("tasks-table").tBodies[0].rows) row.classList.toggle("selected", row.dataset.uid === String(uid));
  try {
    $("task-detail").textContent = JSON.stringify(await client.tasks.getTask(uid), null, 2);
  } catch (error) {
    $("task-detail").textContent = `Task ${uid} could not be read: ${messageOf(error)}`;
  }
  $("task-detail-title").focus();
  button?.blur?.();
}

// ---- indexes ----

async function loadIndexes() {
  try {
    const [indexes, stats] = await Promise.all([client.getRawIndexes({ limit: 1000 }), client.getStats()]);
    $("indexes-error").textContent = "";
    fill(
      $("indexes-table").tBodies[0],
      indexes.results.map((index) => {
        const indexStats = stats.indexes?.[index.uid] || {};
        return el(
          "tr",
          { "data-index": index.uid },
          el("th", { scope: "row" }, index.uid),
          el("td", {}, index.primaryKey ?? "—"),
          el("td", { class: "documents" }, indexStats.numberOfDocuments ?? "?"),
          el("td", {}, indexStats.isIndexing ? "yes" : "no"),
          el("td", {}, el("button", { type: "button", class: "link", onclick: () => showShards(index.uid), "aria-label": `Documents per shard of ${index.uid}` }, "count")),
          el("td", {}, el("button", { type: "button", class: "link", onclick: () => showSettings(index.uid), "aria-label": `Settings of ${index.uid}` }, "show")),
        );
      }),
    );
    const select = $("sandbox-index");
    const chosen = select.value;
    fill(select, indexes.results.map((index) => el("option", { value: index.uid, selected: index.uid === chosen }, index.uid)));
  } catch (error) {
    $("indexes-error").textContent = `Indexes could not be read: ${messageOf(error)}`;
  }
}

const SHARD_STATUS = { consistent: "yes", repaired: "yes (repaired)", divergent: "no", skipped: "not compared" };

/** Each shard's documents on each of its replicas, from a verify pass that repairs nothing. */
async function showShards(uid) {
  $("shards-title").textContent = `Documents per shard of ${uid}: counting…`;
  $("shards-title").focus();
  try {
    const response = await api(`/_miroir/verify?index=${encodeURIComponent(uid)}`, key, { method: "POST" });
    if (!response.ok) throw new Error(response.status === 401 || response.status === 403 ? "it needs the master key" : `POST /_miroir/verify answered ${response.status}`);
    const report = await response.json();
    const index = (report.indexes || []).find((entry) => entry.index === uid);
    if (!index) throw new Error("the verify pass did not report this index");
    if (index.error) throw new Error(index.error);
    $("shards-error").textContent = "";
    fill(
      $("shards-table").tBodies[0],
      index.shards.map((shard) =>
        el(
          "tr",
          { "data-shard": shard.shard },
          el("th", { scope: "row" }, `shard-${shard.shard}`),
          el("td", { class: shard.status === "divergent" ? "bad" : "" }, SHARD_STATUS[shard.status] || shard.status, shard.reason ? ` (${shard.reason})` : ""),
          el("td", { class: "replicas" }, shard.replicas.map((replica) => `${replica.node}: ${replica.documents}`).join(", ")),
        ),
      ),
    );
    $("shards-title").textContent = `Documents per shard of ${uid}`;
  } catch (error) {
    $("shards-title").textContent = `Documents per shard of ${uid}`;
    $("shards-error").textContent = `The shards could not be counted: ${messageOf(error)}`;
  }
}

async function showSettings(uid) {
  try {
    $("settings-detail").textContent = JSON.stringify(await client.index(uid).getSettings(), null, 2);
  } catch (error) {
    $("settings-detail").textContent = `The settings of ${uid} could not be read: ${messageOf(error)}`;
  }
  $("settings-title").textContent = `Settings of ${uid}`;
  $("settings-title").focus();
}

// ---- query sandbox ----

async function runSandbox(event) {
  event.preventDefault();
  $("sandbox-error").textContent = "";
  let params;
  try {
    params = JSON.parse($("sandbox-query").value || "{}");
  } catch (error) {
    $("sandbox-error").textContent = `The parameters are not JSON: ${error.message}`;
    return;
  }
  const started = performance.now();
  try {
    // `Miroir-Explain: run` (docs/miroir-headers.md): the answer as usual, plus how the cluster
    // got it: the shards asked, and every node call of every round with its timing.
    const index = encodeURIComponent($("sandbox-index").value);
    const response = await api(`/indexes/${index}/search`, key, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Miroir-Explain": "run" },
      body: JSON.stringify(params),
    });
    const { _miroirExplain: explain, ...answer } = await response.json();
    if (!response.ok) throw new Error(answer.message || `the search answered ${response.status}`);
    const took = Math.round(performance.now() - started);
    const total = answer.totalHits ?? answer.estimatedTotalHits;
    $("sandbox-summary").textContent = `${answer.hits.length} hits shown of ${total} · the cluster took ${answer.processingTimeMs} ms, ${took} ms in all`;
    $("sandbox-result").textContent = JSON.stringify(answer, null, 2);
    renderPlan(explain);
  } catch (error) {
    $("sandbox-summary").textContent = "";
    $("sandbox-result").textContent = "";
    renderPlan(null);
    $("sandbox-error").textContent = `The search failed: ${messageOf(error)}`;
  }
}

/** The node calls of a `Miroir-Explain: run` answer, one row each. */
function renderPlan(explain) {
  const rows = [];
  for (const round of explain?.rounds ?? []) {
    for (const call of round.calls) {
      const outcome = call.error ? `${call.outcome}: ${call.error}` : call.outcome;
      rows.push(
        el("tr", {}, el("td", {}, round.round === 0 ? "first" : `refill ${round.round}`), el("td", {}, call.node),
          el("td", {}, call.shards.join(", ")), el("td", {}, call.kind), el("td", {}, call.startedMs),
          el("td", {}, call.tookMs), el("td", {}, outcome)),
      );
    }
  }
  fill($("sandbox-plan").querySelector("tbody"), rows);
  const shards = explain?.shards;
  $("sandbox-plan-summary").textContent = shards
    ? `${shards.asked.length} of ${shards.shardCount} shards asked (${shards.why}); ${rows.length} node calls, ${explain.totalMs} ms in the gateway`
    : "";
}

// ---- sections, login ----

function showSection() {
  const names = ["topology", "tasks", "indexes", "sandbox"];
  const current = names.includes(location.hash.slice(1)) ? location.hash.slice(1) : "topology";
  for (const name of names) $(name).hidden = name !== current;
  for (const link of document.querySelectorAll(".tabs a")) link.setAttribute("aria-current", link.hash === `#${current}` ? "page" : "false");
  if (current === "topology") refreshTopology();
  if (current === "tasks") loadTasks(false);
  if (current === "indexes" || current === "sandbox") loadIndexes();
}

function enter() {
  client = new Meilisearch({ host: location.origin, apiKey: key });
  $("login").hidden = true;
  $("console").hidden = false;
  $("logout").hidden = false;
  showSection();
  refresher = setInterval(refreshTopology, REFRESH_MS);
}

function logout() {
  sessionStorage.removeItem(STORED_KEY);
  key = "";
  clearInterval(refresher);
  location.hash = "";
  location.reload();
}

/** A key opens the console when it reads the admin API (the master key) or the task list. */
async function login(event) {
  event.preventDefault();
  const candidate = $("login-key").value.trim();
  const powers = await keyPowers(candidate);
  const readsTasks = (await api("/tasks?limit=1", candidate)).ok;
  if (!powers.open && !powers.master && !readsTasks) {
    $("login-error").textContent = "This key is not accepted: the console needs the master key or a key with admin actions.";
    $("login-key").focus();
    return;
  }
  key = candidate;
  sessionStorage.setItem(STORED_KEY, key);
  $("login-error").textContent = "";
  enter();
}

$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
$("task-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadTasks(false);
});
$("tasks-more").addEventListener("click", () => loadTasks(true));
$("sandbox-form").addEventListener("submit", runSandbox);
window.addEventListener("hashchange", showSection);
if (key) enter();
else $("login-key").focus();
