// Drives a Miroir gateway and one real Meilisearch node through the official JavaScript client
// (`meilisearch` from npm, pinned by package-lock.json) and compares every answer, as
// ../python/suite.py does (same normalisation, integration/sdk/README.md). Exit status 1 lists
// every difference. Environment: MIROIR_GATEWAY_URL, MEILI_NODE_URL, MEILI_MASTER_KEY.

import { Meilisearch, MeilisearchApiError } from "meilisearch";
import { generateTenantToken } from "meilisearch/token";
import { createRequire } from "node:module";

const TASK_TIMEOUT_MS = 60_000;
const TIME_FIELDS = new Set(["enqueuedAt", "startedAt", "finishedAt", "createdAt", "updatedAt", "lastUpdate", "duration", "processingTimeMs"]);
const UID_FIELDS = new Set(["taskUid", "batchUid", "canceledBy", "from", "next"]);
const SIZE_FIELDS = new Set(["databaseSize", "usedDatabaseSize", "rawDocumentDbSize", "avgDocumentSize", "preCompactionSize", "postCompactionSize"]);
// A batch's stats describing one node's indexing run: a cluster's batch has none of them.
const NODE_INTERNALS = new Set(["progressTrace", "internalDatabaseSizes", "writeChannelCongestion"]);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const API_KEY = /\b[0-9a-f]{64}\b/g;
const QUERY_UIDS = /(uids|afterEnqueuedAt|beforeEnqueuedAt|canceledBy)=[^&]*/g;

// Steps whose answers differ for a reason the cluster cannot help today (findings of
// integration/sdk/README.md): printed, not failed; one that stops differing fails the run.
const KNOWN_DIFFERENCES = {
  "get documents": "document lists go shard after shard, a node's in internal id order",
  "get documents filter": "document lists go shard after shard, a node's in internal id order",
};

function normalise(value, key) {
  if (Array.isArray(value)) return value.map((v) => normalise(v, key));
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || NODE_INTERNALS.has(k)) continue;
      if (TIME_FIELDS.has(k) && v !== null) out[k] = "<time>";
      else if (SIZE_FIELDS.has(k) && v !== null) out[k] = "<size>";
      else if ((UID_FIELDS.has(k) || k === "uid") && typeof v === "number") out[k] = "<uid>";
      else out[k] = normalise(v, k);
    }
    return out;
  }
  if (typeof value === "string") {
    let text = value.replace(UUID, "<uuid>").replace(API_KEY, "<key>");
    if (key === "originalFilter") text = text.replace(QUERY_UIDS, "$1=<uids>");
    return text;
  }
  return value;
}

/** Sorted keys, so that two equal objects print alike. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

class Side {
  constructor(name, host, apiKey) {
    this.name = name;
    this.host = host;
    this.client = new Meilisearch({ host, apiKey, defaultWaitOptions: { timeout: TASK_TIMEOUT_MS, interval: 20 } });
    this.saved = {};
    this.millis = 0;
  }
}

async function outcome(call, side) {
  const started = Date.now();
  try {
    return { ok: JSON.parse(JSON.stringify((await call(side)) ?? null)) };
  } catch (error) {
    if (error instanceof MeilisearchApiError) {
      const { message, code, type, link } = error.cause ?? {};
      return { error: { status: error.response.status, code, type, message, link } };
    }
    return { "client exception": `${error.name}: ${error.message}` };
  } finally {
    side.millis += Date.now() - started;
  }
}

/** A write: the enqueued task as the client returned it, and the task once finished. */
const write = (call) => async (s) => {
  const enqueued = await call(s);
  const task = await s.client.tasks.waitForTask(enqueued.taskUid);
  s.saved.lastTask = enqueued.taskUid;
  return { enqueued, task };
};

/** A write not waited for: its task joins the side's list of enqueued tasks. */
const enqueue = (call) => async (s) => {
  const enqueued = await call(s);
  (s.saved.enqueued ??= []).push(enqueued.taskUid);
  return enqueued;
};

function* steps() {
  const movies = (s) => s.client.index("movies");
  const docs = [
    { id: 1, title: "Carol", genre: ["drama"], year: 2015, rating: 7.2 },
    { id: 2, title: "Wonder Woman", genre: ["action"], year: 2017, rating: 7.4 },
    { id: 3, title: "Life of Pi", genre: ["adventure", "drama"], year: 2012, rating: 7.9 },
    { id: 4, title: "Mad Max", genre: ["action"], year: 2015, rating: 8.1 },
    { id: 5, title: "Moana", genre: ["animation"], year: 2016, rating: 7.6 },
    { id: 6, title: "Philadelphia", genre: ["drama"], year: 1993, rating: 7.7 },
  ];

  yield ["health", async (s) => [await s.client.health(), await s.client.isHealthy()]];
  yield ["version keys", async (s) => Object.keys(await s.client.getVersion()).sort()];
  yield ["experimental features", (s) => s.client.getExperimentalFeatures()];
  yield ["experimental features patch", (s) => s.client.updateExperimentalFeatures({ network: true, metrics: false })];
  yield ["experimental features refused", (s) => s.client.updateExperimentalFeatures({ vectorStoreSetting: true })];
  yield ["network", (s) => s.client.getNetwork()];
  yield ["network patch refused", (s) => s.client.updateNetwork({ self: 5 })];

  // Indexes.
  yield ["create index", write((s) => s.client.createIndex("movies", { primaryKey: "id" }))];
  yield ["create index again", write((s) => s.client.createIndex("movies"))];
  yield ["create index bad uid", (s) => s.client.createIndex("bad uid!")];
  yield ["get raw index", (s) => s.client.getRawIndex("movies")];
  yield ["get missing index", (s) => s.client.getRawIndex("nope")];
  yield ["update index", write((s) => s.client.updateIndex("movies", { primaryKey: "id" }))];
  yield ["create second index", write((s) => s.client.createIndex("series"))];
  yield ["list indexes", (s) => s.client.getRawIndexes({ limit: 10 })];
  yield ["list indexes offset", async (s) => (await s.client.getIndexes({ offset: 1 })).results.map((i) => i.uid)];
  yield ["fetch info", async (s) => { const info = await movies(s).fetchInfo(); return [info.uid, info.primaryKey]; }];

  // Documents.
  yield ["add documents", write((s) => movies(s).addDocuments(docs))];
  yield ["add documents bad id", write((s) => movies(s).addDocuments([{ id: "no way!", title: "x" }]))];
  yield ["update documents", write((s) => movies(s).updateDocuments([{ id: 6, title: "Philadelphia (1993)" }]))];
  yield ["add ndjson", write((s) => movies(s).addDocumentsFromString(
    '{"id": 7, "title": "Up", "genre": ["animation"], "year": 2009, "rating": 8.3}\n', "application/x-ndjson"))];
  yield ["add csv", write((s) => movies(s).addDocumentsFromString("id,title,year:number\n8,Heat,1995\n", "text/csv"))];
  yield ["update from string", write((s) => movies(s).updateDocumentsFromString('[{"id": 9, "title": "Alien"}]', "application/json"))];
  yield ["add documents to series", write((s) => s.client.index("series").addDocuments([{ id: "a", name: "Dark" }], { primaryKey: "id" }))];
  yield ["get document", (s) => movies(s).getDocument(3)];
  yield ["get document fields", (s) => movies(s).getDocument(3, { fields: ["title"] })];
  yield ["get missing document", (s) => movies(s).getDocument(404)];
  yield ["get documents", (s) => movies(s).getDocuments({ limit: 3, offset: 1, fields: ["id", "title"] })];
  yield ["get documents all", async (s) => (await movies(s).getDocuments({ limit: 100 })).results.map((d) => d.id).sort((a, b) => a - b)];

  // Settings, whole and one by one.
  yield ["settings", (s) => movies(s).getSettings()];
  yield ["update settings", write((s) => movies(s).updateSettings({
    filterableAttributes: ["genre", "year", "rating"], sortableAttributes: ["year", "rating"],
    searchableAttributes: ["title", "genre"], synonyms: { film: ["movie"] }, stopWords: ["the", "of"],
  }))];
  yield ["settings after update", (s) => movies(s).getSettings()];
  yield ["update settings invalid", (s) => movies(s).updateSettings({ rankingRules: ["nope:"] })];
  yield ["get documents filter", (s) => movies(s).getDocuments({ filter: "genre = drama", fields: ["id"], limit: 10 })];
  // Vectors first, so that the embedder set below finds every document's.
  yield ["add vectors", write((s) => movies(s).updateDocuments(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ id: i, _vectors: { manual: [i / 10, 1 - i / 10] } }))))];
  const oneByOne = [
    ["RankingRules", ["words", "typo", "proximity", "attribute", "sort", "exactness", "rating:desc"]],
    ["DistinctAttribute", "title"],
    ["SearchableAttributes", ["title", "genre"]],
    ["DisplayedAttributes", ["id", "title", "genre", "year", "rating"]],
    ["StopWords", ["a"]],
    ["Synonyms", { wolverine: ["logan"] }],
    ["FilterableAttributes", ["genre", "year", "rating"]],
    ["SortableAttributes", ["year", "rating"]],
    ["TypoTolerance", { enabled: true, disableOnWords: ["moana"] }],
    ["Pagination", { maxTotalHits: 500 }],
    ["Faceting", { maxValuesPerFacet: 50 }],
    ["Dictionary", ["J. R. R."]],
    ["SeparatorTokens", ["|"]],
    ["NonSeparatorTokens", ["@"]],
    ["SearchCutoffMs", 800],
    ["ProximityPrecision", "byAttribute"],
    ["LocalizedAttributes", [{ attributePatterns: ["title"], locales: ["eng"] }]],
    ["FacetSearch", true],
    ["PrefixSearch", "indexingTime"],
    ["Embedders", { manual: { source: "userProvided", dimensions: 2 } }],
  ];
  const kept = new Set(["FilterableAttributes", "SortableAttributes", "Embedders", "DisplayedAttributes"]);
  // Every sub-route on an empty index (a settings change reindexes every document, on every
  // node index of a cluster: seconds each on a busy machine). The writes are enqueued one after
  // the other, then all their tasks are awaited and compared in one step.
  const probe = (s) => s.client.index("probe");
  yield ["create probe index", write((s) => s.client.createIndex("probe", { primaryKey: "id" }))];
  for (const [name, value] of oneByOne) {
    yield [`setting ${name} get`, (s) => probe(s)[`get${name}`]()];
    yield [`setting ${name} update`, enqueue((s) => probe(s)[`update${name}`](value))];
    if (!kept.has(name)) yield [`setting ${name} reset`, enqueue((s) => probe(s)[`reset${name}`]())];
  }
  yield ["settings tasks", async (s) => {
    const tasks = await s.client.tasks.waitForTasks(s.saved.enqueued.splice(0));
    s.saved.lastTask = tasks[tasks.length - 1].uid;
    return tasks;
  }];
  for (const [name] of oneByOne) yield [`setting ${name} after`, (s) => probe(s)[`get${name}`]()];
  yield ["embedder on movies", write((s) => movies(s).updateEmbedders({ manual: { source: "userProvided", dimensions: 2 } }))];
  yield ["setting invalid", (s) => movies(s).updateSearchCutoffMs("soon")];

  // Search.
  yield ["search", (s) => movies(s).search("drama", { attributesToRetrieve: ["id", "title"] })];
  yield ["search get", (s) => movies(s).searchGet("drama", { attributesToRetrieve: ["id"], filter: "year > 2000" })];
  yield ["search filter facets", (s) => movies(s).search("", {
    filter: ["year > 2000"], facets: ["genre", "year"], sort: ["rating:desc"], attributesToRetrieve: ["id"] })];
  yield ["search pages", (s) => movies(s).search("", { hitsPerPage: 2, page: 2, sort: ["year:desc", "rating:asc"] })];
  yield ["search highlight", (s) => movies(s).search("wonder", {
    attributesToHighlight: ["title"], attributesToCrop: ["title"], cropLength: 2, showMatchesPosition: true })];
  yield ["search vector", (s) => movies(s).search("", {
    vector: [0.3, 0.7], hybrid: { embedder: "manual", semanticRatio: 1.0 }, attributesToRetrieve: ["id"], limit: 3 })];
  yield ["search bad filter", (s) => movies(s).search("", { filter: "nope = 1" })];
  yield ["search missing index", (s) => s.client.index("nope").search("x")];
  yield ["facet search", (s) => movies(s).searchForFacetValues({ facetName: "genre", facetQuery: "dra" })];
  yield ["facet search not facet", (s) => movies(s).searchForFacetValues({ facetName: "title", facetQuery: "a" })];
  yield ["similar", (s) => movies(s).searchSimilarDocuments({ id: 3, embedder: "manual", attributesToRetrieve: ["id"] })];
  yield ["similar bad embedder", (s) => movies(s).searchSimilarDocuments({ id: 3, embedder: "nope" })];
  yield ["multi search", (s) => s.client.multiSearch({ queries: [
    { indexUid: "movies", q: "drama", attributesToRetrieve: ["id"] }, { indexUid: "series", q: "dark" }] })];
  yield ["multi search federated", (s) => s.client.multiSearch({
    queries: [{ indexUid: "movies", q: "moana" }, { indexUid: "series", q: "dark" }], federation: { limit: 5 } })];
  yield ["multi search error", (s) => s.client.multiSearch({ queries: [{ indexUid: "nope", q: "x" }] })];

  // Fields and stats.
  yield ["fields", (s) => movies(s).getFields()];
  yield ["fields filtered", (s) => movies(s).getFields({ offset: 1, limit: 3, filter: { filterable: true } })];
  yield ["index stats", (s) => movies(s).getStats()];
  yield ["all stats", (s) => s.client.getStats()];
  yield ["compact", write((s) => movies(s).compact())];
  yield ["compact missing index", write((s) => s.client.index("nope").compact())];

  // Deletions.
  yield ["delete document", write((s) => movies(s).deleteDocument(9))];
  yield ["delete documents by ids", write((s) => movies(s).deleteDocuments([8, 7]))];
  yield ["delete documents by filter", write((s) => movies(s).deleteDocuments({ filter: "year < 2000" }))];
  yield ["delete documents bad filter", (s) => movies(s).deleteDocuments({ filter: "nope = 2" })];
  yield ["documents after deletions", async (s) => (await movies(s).getDocuments({ limit: 100 })).results.map((d) => d.id).sort((a, b) => a - b)];
  yield ["delete all documents", write((s) => s.client.index("series").deleteAllDocuments())];

  // Swap, index deletion.
  yield ["create swap index", write((s) => s.client.createIndex("movies_b"))];
  yield ["swap indexes", write((s) => s.client.swapIndexes([{ indexes: ["movies", "movies_b"] }]))];
  yield ["swap back", write((s) => s.client.swapIndexes([{ indexes: ["movies", "movies_b"] }]))];
  yield ["swap missing", write((s) => s.client.swapIndexes([{ indexes: ["movies", "nope"] }]))];
  yield ["delete index", write((s) => s.client.deleteIndex("movies_b"))];
  yield ["delete missing index", write((s) => s.client.deleteIndex("nope"))];

  // Tasks and batches.
  yield ["tasks", (s) => s.client.tasks.getTasks({ limit: 5, types: ["documentAdditionOrUpdate"] })];
  yield ["tasks by index", (s) => s.client.tasks.getTasks({ indexUids: ["series"], statuses: ["succeeded"] })];
  yield ["tasks bad param", (s) => s.client.tasks.getTasks({ statuses: ["nope"] })];
  yield ["task", (s) => s.client.tasks.getTask(s.saved.lastTask)];
  yield ["missing task", (s) => s.client.tasks.getTask(99999)];
  yield ["cancel tasks", write((s) => s.client.tasks.cancelTasks({ statuses: ["enqueued"] }))];
  yield ["delete tasks", write((s) => s.client.tasks.deleteTasks({ types: ["indexDeletion"] }))];
  yield ["tasks after deletion", (s) => s.client.tasks.getTasks({ types: ["indexDeletion"] })];
  // Without `total`: a node batches tasks enqueued together, a cluster's batch is one task.
  yield ["batches", async (s) => (await s.client.batches.getBatches({ limit: 2 })).results];
  yield ["batch", async (s) => s.client.batches.getBatch((await s.client.tasks.getTask(s.saved.lastTask)).batchUid)];
  yield ["missing batch", (s) => s.client.batches.getBatch(99999)];

  // Keys and tenant tokens.
  yield ["keys", (s) => s.client.getKeys({ limit: 10 })];
  yield ["create key", async (s) => (s.saved.key = await s.client.createKey(
    { description: "sdk", actions: ["search", "documents.get"], indexes: ["movies"], expiresAt: null }))];
  yield ["get key", (s) => s.client.getKey(s.saved.key.key)];
  yield ["update key", (s) => s.client.updateKey(s.saved.key.uid, { name: "sdk key" })];
  yield ["search with key", (s) => new Meilisearch({ host: s.host, apiKey: s.saved.key.key }).index("movies").search(
    "", { attributesToRetrieve: ["id"], sort: ["year:asc"] })];
  yield ["key forbidden", (s) => new Meilisearch({ host: s.host, apiKey: s.saved.key.key }).getKeys()];
  yield ["tenant token search", async (s) => {
    const token = await generateTenantToken({ apiKey: s.saved.key.key, apiKeyUid: s.saved.key.uid,
      searchRules: { movies: { filter: "year > 2014" } } });
    return new Meilisearch({ host: s.host, apiKey: token }).index("movies").search("", { attributesToRetrieve: ["id"], sort: ["year:asc"] });
  }];
  yield ["delete key", (s) => s.client.deleteKey(s.saved.key.key)];
  yield ["missing key", (s) => s.client.getKey("nope")];
  yield ["create key invalid", (s) => s.client.createKey({ actions: ["nope"], indexes: ["*"], expiresAt: null })];

  // Webhooks.
  yield ["webhooks", (s) => s.client.getWebhooks()];
  yield ["create webhook", async (s) => (s.saved.hook = await s.client.createWebhook({ url: "http://example.com/hook", headers: { "X-A": "b" } }))];
  yield ["get webhook", (s) => s.client.getWebhook(s.saved.hook.uuid)];
  yield ["update webhook", (s) => s.client.updateWebhook(s.saved.hook.uuid, { headers: { "X-A": null } })];
  yield ["delete webhook", (s) => s.client.deleteWebhook(s.saved.hook.uuid)];
  yield ["missing webhook", (s) => s.client.getWebhook("76f1aa1c-d5ab-49fe-84f0-66d34849975a")];
  yield ["create webhook invalid", (s) => s.client.createWebhook({ url: "not a url" })];

  // Edit by function: on in the cluster (and on the reference node).
  yield ["edit by function", (s) => movies(s).updateDocumentsByFunction({ function: "doc.title = 'x'" })];
  // Routes of experimental features a cluster has off: the node's own errors.
  yield ["render template", (s) => s.client.renderTemplate({ template: { kind: "inlineDocumentTemplate", inline: "x" } })];
  yield ["dynamic search rules", (s) => s.client.getDynamicSearchRules()];
  yield ["dynamic search rule", (s) => s.client.getDynamicSearchRule("abc")];
  yield ["chat workspaces", (s) => s.client.getChatWorkspaces()];
  yield ["chat workspace", (s) => s.client.getChatWorkspace("ws")];

  yield ["delete second index", write((s) => s.client.deleteIndex("series"))];
  yield ["delete probe index", write((s) => s.client.deleteIndex("probe"))];
}

async function main() {
  const key = process.env.MEILI_MASTER_KEY;
  const gateway = new Side("gateway", process.env.MIROIR_GATEWAY_URL, key);
  const node = new Side("node", process.env.MEILI_NODE_URL, key);
  // The cluster has the network and edit-by-function features on; the reference node is set alike.
  await node.client.updateExperimentalFeatures({ network: true, editDocumentsByFunction: true });
  const differences = [];
  const known = [];
  let count = 0;
  for (const [name, call] of steps()) {
    count += 1;
    const answers = [];
    for (const side of [gateway, node]) answers.push(JSON.stringify(canonical(normalise(await outcome(call, side)))));
    const same = answers[0] === answers[1];
    if (name in KNOWN_DIFFERENCES) {
      if (same) differences.push(`- ${name}: listed as a known difference (${KNOWN_DIFFERENCES[name]}) but the same now`);
      else known.push(`- ${name}: ${KNOWN_DIFFERENCES[name]}`);
    } else if (!same) {
      differences.push(`- ${name}\n  gateway: ${answers[0]}\n  node:    ${answers[1]}`);
    }
  }
  const version = createRequire(import.meta.url)("meilisearch/package.json").version;
  console.log(`meilisearch-js ${version}: ${count} steps, ${differences.length} differ; ` +
    `gateway ${(gateway.millis / 1000).toFixed(1)} s, node ${(node.millis / 1000).toFixed(1)} s`);
  for (const difference of differences) console.log(difference);
  if (known.length) console.log(`known differences:\n${known.join("\n")}`);
  return differences.length ? 1 : 0;
}

main().then((code) => process.exit(code), (error) => { console.error(error); process.exit(2); });
