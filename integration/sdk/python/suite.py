"""Drives a Miroir gateway and one real Meilisearch node through the official Python client
(`meilisearch` from PyPI, the version pinned in .ci/run) and compares every answer.

Each step makes the same client calls on both sides (the gateway first), waits for the tasks
it enqueued, and turns what the client returned (or raised) into plain JSON. The two must be
equal once normalised (see `normalise` below, and integration/sdk/README.md): only what a
cluster cannot give as one node does is blanked. Exit status 1 lists every difference.

Environment: MIROIR_GATEWAY_URL, MEILI_NODE_URL, MEILI_MASTER_KEY.
"""

import datetime
import enum
import json
import os
import re
import sys
import time
import traceback

import meilisearch
from meilisearch.errors import MeilisearchApiError

TASK_TIMEOUT_MS = 60_000

# Fields that must differ between a cluster and one node, and why (integration/sdk/README.md):
# times and durations are each side's clock; task and batch uids are each log's positions;
# sizes are bytes of different databases (a cluster sums several node indexes).
TIME_FIELDS = {"enqueuedAt", "startedAt", "finishedAt", "createdAt", "updatedAt", "lastUpdate", "duration",
               "created_at", "updated_at", "processingTimeMs"}
UID_FIELDS = {"taskUid", "batchUid", "canceledBy", "from", "next"}
SIZE_FIELDS = {"databaseSize", "usedDatabaseSize", "rawDocumentDbSize", "avgDocumentSize",
               "preCompactionSize", "postCompactionSize"}
# A batch's stats that describe one node's indexing run (its steps' durations, its write channel,
# its databases): a cluster's batch is one task applied by several nodes, and has none of them.
NODE_INTERNALS = {"progressTrace", "internalDatabaseSizes", "writeChannelCongestion"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
API_KEY = re.compile(r"\b[0-9a-f]{64}\b")
QUERY_UIDS = re.compile(r"(uids|afterEnqueuedAt|beforeEnqueuedAt|canceledBy)=[^&]*")


# Steps whose answers differ for a reason the cluster cannot help today: each is a finding of
# integration/sdk/README.md. They are printed, not failed; one that stops differing fails the
# run, so that the list is kept true.
KNOWN_DIFFERENCES = {
    "get documents": "document lists go shard after shard, a node's in internal id order",
    "get documents filter": "document lists go shard after shard, a node's in internal id order",
}


def plain(value):
    """What the client returned, as JSON values (models by their camelCase field names)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(by_alias=True))
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_") and k not in ("config", "http")}
    return repr(value)


def normalise(value, key=None):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in TIME_FIELDS and v is not None:
                out[k] = "<time>"
            elif k in SIZE_FIELDS and v is not None:
                out[k] = "<size>"
            elif k in UID_FIELDS and isinstance(v, int):
                out[k] = "<uid>"
            elif k == "uid" and isinstance(v, int):
                out[k] = "<uid>"
            elif k in NODE_INTERNALS:
                continue
            else:
                out[k] = normalise(v, k)
        return out
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if isinstance(value, str):
        value = UUID.sub("<uuid>", value)
        value = API_KEY.sub("<key>", value)
        if key == "originalFilter":
            value = QUERY_UIDS.sub(lambda m: m.group(1) + "=<uids>", value)
        return value
    return value


class Side:
    def __init__(self, name, url, key):
        self.name = name
        self.client = meilisearch.Client(url, key, timeout=60)
        self.saved = {}
        self.seconds = 0.0

    def wait(self, task_info):
        uid = task_info.task_uid if hasattr(task_info, "task_uid") else task_info
        task = self.client.wait_for_task(uid, timeout_in_ms=TASK_TIMEOUT_MS, interval_in_ms=20)
        self.saved["last_task"] = uid
        return task


def outcome(call, side):
    started = time.monotonic()
    try:
        return outcome_of(call, side)
    finally:
        side.seconds += time.monotonic() - started


def outcome_of(call, side):
    try:
        return {"ok": plain(call(side))}
    except MeilisearchApiError as error:
        return {"error": {"status": error.status_code, "code": error.code, "type": error.type,
                          "message": error.message, "link": error.link}}
    except Exception as error:  # the client could not read an answer: a difference worth seeing
        return {"client exception": f"{type(error).__name__}: {error}"}


def steps():
    """(name, call): each call receives a Side and returns what its client calls returned."""
    movies = lambda s: s.client.index("movies")
    docs = [
        {"id": 1, "title": "Carol", "genre": ["drama"], "year": 2015, "rating": 7.2},
        {"id": 2, "title": "Wonder Woman", "genre": ["action"], "year": 2017, "rating": 7.4},
        {"id": 3, "title": "Life of Pi", "genre": ["adventure", "drama"], "year": 2012, "rating": 7.9},
        {"id": 4, "title": "Mad Max", "genre": ["action"], "year": 2015, "rating": 8.1},
        {"id": 5, "title": "Moana", "genre": ["animation"], "year": 2016, "rating": 7.6},
        {"id": 6, "title": "Philadelphia", "genre": ["drama"], "year": 1993, "rating": 7.7},
    ]

    def write(call):
        return lambda s: (lambda info: {"enqueued": info, "task": s.wait(info)})(call(s))

    def enqueue(call):
        def run(s):
            info = call(s)
            s.saved.setdefault("enqueued", []).append(info.task_uid)
            return info
        return run

    yield "health", lambda s: (s.client.health(), s.client.is_healthy())
    yield "version keys", lambda s: sorted(s.client.get_version().keys())
    yield "experimental features", lambda s: s.client.get_experimental_features()
    yield "experimental features patch", lambda s: s.client.update_experimental_features({"network": True, "metrics": False})
    yield "experimental features refused", lambda s: s.client.update_experimental_features({"nope": True})
    yield "network", lambda s: s.client.get_all_networks()
    yield "network patch refused", lambda s: s.client.add_or_update_networks({"self": 5})

    # Indexes.
    yield "create index", write(lambda s: s.client.create_index("movies", {"primaryKey": "id"}))
    yield "create index again", write(lambda s: s.client.create_index("movies"))
    yield "create index bad uid", lambda s: s.client.create_index("bad uid!")
    yield "get index", lambda s: s.client.get_index("movies")
    yield "get raw index", lambda s: s.client.get_raw_index("movies")
    yield "get missing index", lambda s: s.client.get_index("nope")
    yield "update index", write(lambda s: s.client.index("movies").update(primary_key="id"))
    yield "create second index", write(lambda s: s.client.create_index("series"))
    yield "list indexes", lambda s: s.client.get_indexes({"limit": 10})
    yield "list raw indexes", lambda s: s.client.get_raw_indexes({"offset": 1})
    yield "primary key", lambda s: movies(s).fetch_info().primary_key

    # Documents.
    yield "add documents", write(lambda s: movies(s).add_documents(docs))
    yield "add documents bad id", write(lambda s: movies(s).add_documents([{"id": "no way!", "title": "x"}]))
    yield "update documents", write(lambda s: movies(s).update_documents([{"id": 6, "title": "Philadelphia (1993)"}]))
    yield "add ndjson", write(lambda s: movies(s).add_documents_ndjson(
        '{"id": 7, "title": "Up", "genre": ["animation"], "year": 2009, "rating": 8.3}\n'.encode()))
    yield "add csv", write(lambda s: movies(s).add_documents_csv(b"id,title,year:number\n8,Heat,1995\n"))
    yield "add json raw", write(lambda s: movies(s).add_documents_json(json.dumps([{"id": 9, "title": "Alien"}]).encode()))
    yield "add documents to series", write(lambda s: s.client.index("series").add_documents([{"id": "a", "name": "Dark"}], "id"))
    yield "get document", lambda s: movies(s).get_document(3)
    yield "get document fields", lambda s: movies(s).get_document(3, {"fields": ["title"]})
    yield "get missing document", lambda s: movies(s).get_document(404)
    yield "get documents", lambda s: movies(s).get_documents({"limit": 3, "offset": 1, "fields": ["id", "title"]})
    yield "get documents all", lambda s: sorted(d.id for d in movies(s).get_documents({"limit": 100}).results)

    # Settings, whole and one by one.
    yield "settings", lambda s: movies(s).get_settings()
    yield "update settings", write(lambda s: movies(s).update_settings({
        "filterableAttributes": ["genre", "year", "rating"], "sortableAttributes": ["year", "rating"],
        "searchableAttributes": ["title", "genre"], "synonyms": {"film": ["movie"]},
        "stopWords": ["the", "of"], "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}},
    }))
    yield "settings after update", lambda s: movies(s).get_settings()
    yield "update settings invalid", lambda s: movies(s).update_settings({"rankingRules": ["nope:"]})
    yield "get documents filter", lambda s: movies(s).get_documents({"filter": "genre = drama", "fields": ["id"], "limit": 10})
    # Vectors first, so that the embedder set below finds every document's.
    yield "add vectors", write(lambda s: movies(s).update_documents(
        [{"id": i, "_vectors": {"manual": [i / 10, 1 - i / 10]}} for i in range(1, 10)]))
    one_by_one = [
        ("ranking_rules", ["words", "typo", "proximity", "attribute", "sort", "exactness", "rating:desc"]),
        ("distinct_attribute", "title"),
        ("searchable_attributes", ["title", "genre"]),
        ("displayed_attributes", ["id", "title", "genre", "year", "rating"]),
        ("stop_words", ["a"]),
        ("synonyms", {"wolverine": ["logan"]}),
        ("filterable_attributes", ["genre", "year", "rating"]),
        ("sortable_attributes", ["year", "rating"]),
        ("typo_tolerance", {"enabled": True, "disableOnWords": ["moana"]}),
        ("pagination_settings", {"maxTotalHits": 500}),
        ("faceting_settings", {"maxValuesPerFacet": 50}),
        ("dictionary", ["J. R. R."]),
        ("separator_tokens", ["|"]),
        ("non_separator_tokens", ["@"]),
        ("search_cutoff_ms", 800),
        ("proximity_precision", "byAttribute"),
        ("localized_attributes", [{"attributePatterns": ["title"], "locales": ["eng"]}]),
        ("facet_search_settings", True),
        ("prefix_search", "indexingTime"),
        ("embedders", {"manual": {"source": "userProvided", "dimensions": 2}}),
    ]
    # Every sub-route on an empty index (a settings change reindexes every document, on every
    # node index of a cluster: seconds each on a busy machine). The writes are enqueued one
    # after the other, then all their tasks are awaited and compared in one step.
    probe = lambda s: s.client.index("probe")
    yield "create probe index", write(lambda s: s.client.create_index("probe", {"primaryKey": "id"}))
    for name, value in one_by_one:
        yield f"setting {name} get", lambda s, n=name: getattr(probe(s), f"get_{n}")()
        yield f"setting {name} update", enqueue(lambda s, n=name, v=value: getattr(probe(s), f"update_{n}")(v))
        if name not in ("filterable_attributes", "sortable_attributes", "embedders", "displayed_attributes"):
            yield f"setting {name} reset", enqueue(lambda s, n=name: getattr(probe(s), f"reset_{n}")())
    yield "settings tasks", lambda s: [s.wait(uid) for uid in s.saved.pop("enqueued")]
    for name, _ in one_by_one:
        yield f"setting {name} after", lambda s, n=name: getattr(probe(s), f"get_{n}")()
    yield "embedder on movies", write(lambda s: movies(s).update_embedders({"manual": {"source": "userProvided", "dimensions": 2}}))
    yield "setting invalid", lambda s: movies(s).update_search_cutoff_ms("soon")

    # Search.
    yield "search", lambda s: movies(s).search("drama", {"attributesToRetrieve": ["id", "title"]})
    yield "search empty", lambda s: movies(s).search("", {"sort": ["year:asc"], "limit": 4, "attributesToRetrieve": ["id"]})
    yield "search filter facets", lambda s: movies(s).search("", {
        "filter": "year > 2000", "facets": ["genre", "year"], "sort": ["rating:desc"], "attributesToRetrieve": ["id"]})
    yield "search pages", lambda s: movies(s).search("", {"hitsPerPage": 2, "page": 2, "sort": ["year:desc", "rating:asc"]})
    yield "search highlight", lambda s: movies(s).search("wonder", {
        "attributesToHighlight": ["title"], "attributesToCrop": ["title"], "cropLength": 2, "showMatchesPosition": True})
    yield "search ranking score", lambda s: movies(s).search("life pi", {"showRankingScore": True, "attributesToRetrieve": ["id"]})
    yield "search vector", lambda s: movies(s).search("", {
        "vector": [0.3, 0.7], "hybrid": {"embedder": "manual", "semanticRatio": 1.0}, "attributesToRetrieve": ["id"], "limit": 3})
    yield "search bad filter", lambda s: movies(s).search("", {"filter": "nope = 1"})
    yield "search bad sort", lambda s: movies(s).search("", {"sort": ["title:asc"]})
    yield "search missing index", lambda s: s.client.index("nope").search("x")
    yield "facet search", lambda s: movies(s).facet_search("genre", "dra")
    yield "facet search filter", lambda s: movies(s).facet_search("genre", opt_params={"filter": "year > 2010", "q": "life"})
    yield "facet search not facet", lambda s: movies(s).facet_search("title", "a")
    yield "similar", lambda s: movies(s).get_similar_documents({"id": 3, "embedder": "manual", "attributesToRetrieve": ["id"]})
    yield "similar bad embedder", lambda s: movies(s).get_similar_documents({"id": 3, "embedder": "nope"})
    yield "multi search", lambda s: s.client.multi_search([
        {"indexUid": "movies", "q": "drama", "attributesToRetrieve": ["id"]},
        {"indexUid": "series", "q": "dark"}])
    yield "multi search federated", lambda s: s.client.multi_search(
        [{"indexUid": "movies", "q": "moana"}, {"indexUid": "series", "q": "dark"}], federation={"limit": 5})
    yield "multi search error", lambda s: s.client.multi_search([{"indexUid": "nope", "q": "x"}])

    # Fields and stats.
    yield "fields", lambda s: movies(s).get_fields()
    yield "fields filtered", lambda s: movies(s).get_fields(offset=1, limit=3, filter={"filterable": True})
    yield "index stats", lambda s: movies(s).get_stats()
    yield "all stats", lambda s: s.client.get_all_stats()
    yield "compact", write(lambda s: movies(s).compact())
    yield "compact missing index", write(lambda s: s.client.index("nope").compact())

    # Deletions.
    yield "delete document", write(lambda s: movies(s).delete_document(9))
    yield "delete documents by ids", write(lambda s: movies(s).delete_documents([8, 7]))
    yield "delete documents by filter", write(lambda s: movies(s).delete_documents(filter="year < 2000"))
    yield "delete documents bad filter", lambda s: movies(s).delete_documents(filter="nope = 2")
    yield "documents after deletions", lambda s: sorted(d.id for d in movies(s).get_documents({"limit": 100}).results)
    yield "delete all documents", write(lambda s: s.client.index("series").delete_all_documents())

    # Swap, index deletion.
    yield "create swap index", write(lambda s: s.client.create_index("movies_b"))
    yield "swap indexes", write(lambda s: s.client.swap_indexes([{"indexes": ["movies", "movies_b"]}]))
    yield "swap back", write(lambda s: s.client.swap_indexes([{"indexes": ["movies", "movies_b"]}]))
    yield "swap missing", write(lambda s: s.client.swap_indexes([{"indexes": ["movies", "nope"]}]))
    yield "delete index", write(lambda s: s.client.delete_index("movies_b"))
    yield "delete missing index", write(lambda s: s.client.delete_index("nope"))

    # Tasks and batches.
    yield "tasks", lambda s: s.client.get_tasks({"limit": 5, "types": ["documentAdditionOrUpdate"]})
    yield "tasks by index", lambda s: s.client.get_tasks({"indexUids": ["series"], "statuses": ["succeeded"]})
    yield "tasks bad param", lambda s: s.client.get_tasks({"statuses": ["nope"]})
    yield "task", lambda s: s.client.get_task(s.saved["last_task"])
    yield "missing task", lambda s: s.client.get_task(99999)
    yield "cancel tasks", write(lambda s: s.client.cancel_tasks({"statuses": ["enqueued"]}))
    yield "cancel tasks no filter", lambda s: s.client.cancel_tasks({})
    yield "delete tasks", write(lambda s: s.client.delete_tasks({"types": ["indexDeletion"]}))
    yield "tasks after deletion", lambda s: s.client.get_tasks({"types": ["indexDeletion"]})
    # Without `total`: a node batches tasks enqueued together, a cluster's batch is one task.
    yield "batches", lambda s: s.client.get_batches({"limit": 2}).results
    yield "batch", lambda s: s.client.get_batch(s.client.get_task(s.saved["last_task"]).batch_uid)
    yield "missing batch", lambda s: s.client.get_batch(99999)

    # Keys and tenant tokens.
    yield "keys", lambda s: s.client.get_keys({"limit": 10})
    yield "create key", lambda s: s.saved.__setitem__("key", s.client.create_key(
        {"description": "sdk", "actions": ["search", "documents.get"], "indexes": ["movies"], "expiresAt": None})) or s.saved["key"]
    yield "get key", lambda s: s.client.get_key(s.saved["key"].key)
    yield "update key", lambda s: s.client.update_key(s.saved["key"].uid, {"name": "sdk key"})
    yield "search with key", lambda s: meilisearch.Client(s.client.config.url, s.saved["key"].key).index("movies").search(
        "", {"attributesToRetrieve": ["id"], "sort": ["year:asc"]})
    yield "key forbidden", lambda s: meilisearch.Client(s.client.config.url, s.saved["key"].key).get_keys()
    yield "tenant token search", lambda s: meilisearch.Client(s.client.config.url, s.client.generate_tenant_token(
        s.saved["key"].uid, {"movies": {"filter": "year > 2014"}}, api_key=s.saved["key"].key)).index("movies").search(
        "", {"attributesToRetrieve": ["id"], "sort": ["year:asc"]})
    yield "delete key", lambda s: s.client.delete_key(s.saved["key"].key)
    yield "missing key", lambda s: s.client.get_key("nope")
    yield "create key invalid", lambda s: s.client.create_key({"actions": ["nope"], "indexes": ["*"], "expiresAt": None})

    # Webhooks.
    yield "webhooks", lambda s: s.client.get_webhooks()
    yield "create webhook", lambda s: s.saved.__setitem__("hook", s.client.create_webhook(
        {"url": "http://example.com/hook", "headers": {"X-A": "b"}})) or s.saved["hook"]
    yield "get webhook", lambda s: s.client.get_webhook(s.saved["hook"].uuid)
    yield "update webhook", lambda s: s.client.update_webhook(s.saved["hook"].uuid, {"headers": {"X-A": None}})
    yield "delete webhook", lambda s: s.client.delete_webhook(s.saved["hook"].uuid)
    yield "missing webhook", lambda s: s.client.get_webhook("76f1aa1c-d5ab-49fe-84f0-66d34849975a")
    yield "create webhook invalid", lambda s: s.client.create_webhook({"url": "not a url"})

    # Edit by function: on in the cluster (and on the reference node).
    yield "edit by function", lambda s: s.client.update_documents_by_function("movies", {"function": "doc.title = 'x'"})
    # Routes of experimental features a cluster has off: the node's own errors.
    yield "render template", lambda s: s.client.render_template({"template": {"kind": "inlineDocumentTemplate", "inline": "x"}})
    yield "dynamic search rules", lambda s: s.client.get_dynamic_search_rules()
    yield "dynamic search rule", lambda s: s.client.get_dynamic_search_rule("abc")
    yield "chat workspaces", lambda s: s.client.get_chat_workspaces()
    yield "chat settings", lambda s: s.client.get_chat_workspace_settings("ws")

    yield "delete second index", write(lambda s: s.client.delete_index("series"))
    yield "delete probe index", write(lambda s: s.client.delete_index("probe"))


def main():
    key = os.environ["MEILI_MASTER_KEY"]
    gateway = Side("gateway", os.environ["MIROIR_GATEWAY_URL"], key)
    node = Side("node", os.environ["MEILI_NODE_URL"], key)
    # The cluster has the network and edit-by-function features on; the reference node is set alike.
    node.client.update_experimental_features({"network": True, "editDocumentsByFunction": True})
    differences, known, count = [], [], 0
    for name, call in steps():
        count += 1
        answers = [normalise(outcome(call, side)) for side in (gateway, node)]
        if name in KNOWN_DIFFERENCES:
            if answers[0] == answers[1]:
                differences.append(f"- {name}: listed as a known difference ({KNOWN_DIFFERENCES[name]}) but the same now")
            else:
                known.append(f"- {name}: {KNOWN_DIFFERENCES[name]}")
        elif answers[0] != answers[1]:
            differences.append(f"- {name}\n  gateway: {json.dumps(answers[0], sort_keys=True)}\n"
                               f"  node:    {json.dumps(answers[1], sort_keys=True)}")
    print(f"{meilisearch.version.qualified_version()}: {count} steps, {len(differences)} differ; "
          f"gateway {gateway.seconds:.1f} s, node {node.seconds:.1f} s")
    for difference in differences:
        print(difference)
    if known:
        print("known differences:")
        print("\n".join(known))
    return 1 if differences else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(2)
