// The search page, `/_miroir/search/{index}`: instant search on one index through Meilisearch's
// own JS client (`meilisearch` on npm), with facets as filters, pages, highlighted matches,
// keyboard navigation and the state in the URL. It runs with a search-only key, never the
// master key: the operator's (`--search-page-key`, put in the page by the gateway) or one the
// user enters (kept in this tab's session storage).
import { Meilisearch } from "meilisearch";
import { el, fill, keyPowers, messageOf } from "./common.js";

const HITS_PER_PAGE = 10;
const DEBOUNCE_MS = 150;
// Highlight markers no document text contains: the text is escaped as text and the markers
// become <mark> elements, so a document can never inject markup.
const PRE = "\uE000";
const POST = "\uE001";
const STORED_KEY = "miroir.searchKey";

const indexUid = decodeURIComponent(location.pathname.split("/").filter(Boolean)[2] || "");
const $ = (id) => document.getElementById(id);

/** The page's state, as the URL holds it: `?q=…&page=2&f=genre:Drama&f=…`. */
function stateFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const entry of params.getAll("f")) {
    const colon = entry.indexOf(":");
    if (colon <= 0) continue;
    const facet = entry.slice(0, colon);
    (filters[facet] ||= []).push(entry.slice(colon + 1));
  }
  return { q: params.get("q") || "", page: Math.max(1, Number.parseInt(params.get("page"), 10) || 1), filters };
}

function urlOf(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.page > 1) params.set("page", String(state.page));
  for (const [facet, values] of Object.entries(state.filters)) for (const value of values) params.append("f", `${facet}:${value}`);
  const query = params.toString();
  return location.pathname + (query ? `?${query}` : "");
}

/** Meilisearch's filter for the chosen facet values: values of one facet ORed, facets ANDed. */
export function filterOf(filters) {
  const quote = (text) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return Object.entries(filters)
    .filter(([, values]) => values.length > 0)
    .map(([facet, values]) => `(${values.map((value) => `${facet} = ${quote(value)}`).join(" OR ")})`)
    .join(" AND ");
}

/** Text with highlight markers as text nodes and <mark> elements. */
function highlighted(text) {
  const parts = [];
  let rest = String(text);
  while (rest.length > 0) {
    const start = rest.indexOf(PRE);
    if (start < 0) break;
    const end = rest.indexOf(POST, start);
    if (end < 0) break;
    parts.push(rest.slice(0, start), el("mark", {}, rest.slice(start + 1, end)));
    rest = rest.slice(end + 1);
  }
  parts.push(rest);
  return parts.filter((part) => part !== "");
}

function display(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function hitItem(hit, primaryKey, position) {
  const formatted = hit._formatted || hit;
  const fields = Object.keys(hit).filter((name) => !name.startsWith("_") && name !== primaryKey);
  const titleField = fields.find((name) => typeof hit[name] === "string") || primaryKey;
  return el(
    "li",
    { tabindex: "-1", "data-id": display(hit[primaryKey]), "aria-posinset": position.index, "aria-setsize": position.total },
    el("div", { class: "hit-title" }, highlighted(display(formatted[titleField]))),
    fields
      .filter((name) => name !== titleField)
      .map((name) => el("div", { class: "hit-field" }, el("span", { class: "name" }, `${name}: `), highlighted(display(formatted[name])))),
  );
}

function start(key) {
  const client = new Meilisearch({ host: location.origin, apiKey: key || undefined });
  const index = client.index(indexUid);
  let state = stateFromUrl();
  let primaryKey = "id";
  let sequence = 0;
  let timer = null;

  $("search-ui").hidden = false;
  // On a phone the filters fold away above the results; wider, they sit beside them, open.
  const narrow = matchMedia("(max-width: 40rem)");
  const fold = () => ($("filters").open = !narrow.matches);
  fold();
  narrow.addEventListener("change", fold);
  const box = $("q");
  box.value = state.q;
  box.focus();

  /**
   * One search, or, with facet values chosen, one multi-search: the page's hits under every
   * chosen filter, and for each filtered facet its counts under the other facets' filters only,
   * so the values of a facet stay choosable side by side (ORed) once one is picked.
   */
  async function search() {
    const highlight = { attributesToHighlight: ["*"], highlightPreTag: PRE, highlightPostTag: POST };
    const main = { q: state.q, page: state.page, hitsPerPage: HITS_PER_PAGE, facets: ["*"], filter: filterOf(state.filters) || undefined, ...highlight };
    const filtered = Object.keys(state.filters).filter((facet) => state.filters[facet].length > 0);
    if (filtered.length === 0) return index.search(main.q, main);
    const others = (facet) => filterOf({ ...state.filters, [facet]: [] }) || undefined;
    const queries = [{ indexUid, ...main }, ...filtered.map((facet) => ({ indexUid, q: state.q, limit: 0, facets: [facet], filter: others(facet) }))];
    const { results } = await client.multiSearch({ queries });
    const answer = results[0];
    answer.facetDistribution = { ...answer.facetDistribution };
    filtered.forEach((facet, i) => (answer.facetDistribution[facet] = results[i + 1].facetDistribution?.[facet] || {}));
    return answer;
  }

  async function run() {
    const mine = ++sequence;
    try {
      const answer = await search();
      if (mine !== sequence) return; // an older answer arriving after a newer one
      $("search-error").textContent = "";
      render(answer);
    } catch (error) {
      if (mine !== sequence) return;
      $("search-error").textContent = `The search failed: ${messageOf(error)}`;
    }
  }

  function render(answer) {
    const total = answer.totalHits ?? 0;
    $("stats").textContent = `${total} result${total === 1 ? "" : "s"} · page ${answer.page} of ${Math.max(answer.totalPages, 1)} · ${answer.processingTimeMs} ms`;
    const first = (answer.page - 1) * HITS_PER_PAGE;
    fill($("hits"), answer.hits.map((hit, i) => hitItem(hit, primaryKey, { index: first + i + 1, total })));
    renderFacets(answer.facetDistribution || {});
    renderPages(answer.page, answer.totalPages);
  }

  function renderFacets(distribution) {
    // A chosen value the current query no longer matches stays listed (count 0), so it can be unchecked.
    const shown = { ...distribution };
    for (const [facet, values] of Object.entries(state.filters)) {
      for (const value of values) shown[facet] = { ...shown[facet], [value]: shown[facet]?.[value] ?? 0 };
    }
    const fieldsets = Object.entries(shown)
      .filter(([, counts]) => Object.keys(counts).length > 0)
      .map(([facet, counts]) =>
        el(
          "fieldset",
          { "data-facet": facet },
          el("legend", {}, facet),
          Object.entries(counts).map(([value, count]) => {
            const chosen = (state.filters[facet] || []).includes(value);
            const input = el("input", { type: "checkbox", value, checked: chosen, onchange: () => toggle(facet, value) });
            return el("label", {}, input, el("span", {}, value), el("span", { class: "count" }, count));
          }),
        ),
      );
    fill($("facets"), fieldsets.length ? fieldsets : el("p", { class: "muted small" }, "No filterable attributes."));
    const chosen = Object.values(state.filters).flat().length;
    $("filter-count").textContent = chosen ? `(${chosen} chosen)` : "";
  }

  function renderPages(page, totalPages) {
    const buttons = [];
    const go = (target) => () => {
      state = { ...state, page: target };
      commit(true);
      box.focus();
    };
    if (page > 1) buttons.push(el("button", { type: "button", onclick: go(page - 1), "aria-label": "Previous page" }, "‹ Previous"));
    const from = Math.max(1, page - 3);
    const to = Math.min(totalPages, page + 3);
    for (let p = from; p <= to; p++) {
      buttons.push(el("button", { type: "button", onclick: go(p), "aria-current": p === page ? "page" : false, "aria-label": `Page ${p}` }, p));
    }
    if (page < totalPages) buttons.push(el("button", { type: "button", onclick: go(page + 1), "aria-label": "Next page" }, "Next ›"));
    fill($("pages"), buttons);
  }

  function toggle(facet, value) {
    const values = new Set(state.filters[facet] || []);
    if (values.has(value)) values.delete(value);
    else values.add(value);
    state = { ...state, page: 1, filters: { ...state.filters, [facet]: [...values] } };
    commit(true);
  }

  /** Puts the state in the URL (a new history entry for page and filter changes) and searches. */
  function commit(push) {
    const url = urlOf(state);
    if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
    run();
  }

  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state = { ...state, q: box.value, page: 1 };
      commit(false);
    }, DEBOUNCE_MS);
  });
  $("search-form").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("popstate", () => {
    state = stateFromUrl();
    box.value = state.q;
    run();
  });

  // Keyboard: ↓/↑ walk the results from the box, Esc returns to it, "/" jumps to it.
  document.addEventListener("keydown", (event) => {
    const items = [...$("hits").children];
    const at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && (document.activeElement === box || at >= 0)) {
      event.preventDefault();
      items[Math.min(at + 1, items.length - 1)]?.focus();
    } else if (event.key === "ArrowUp" && at >= 0) {
      event.preventDefault();
      if (at === 0) box.focus();
      else items[at - 1].focus();
    } else if (event.key === "Escape" && at >= 0) {
      box.focus();
    } else if (event.key === "/" && document.activeElement !== box && !(document.activeElement instanceof HTMLInputElement)) {
      event.preventDefault();
      box.focus();
    }
  });

  index
    .fetchPrimaryKey()
    .then((key) => (primaryKey = key || primaryKey))
    .catch(() => {}) // a search key may not read the index: hits are shown all the same
    .finally(run);
}

function askForKey(notice) {
  $("key-section").hidden = false;
  $("key-notice").textContent = notice;
  $("key-input").focus();
}

async function main() {
  document.title = `Search ${indexUid}`;
  $("title").textContent = `Search “${indexUid}”`;
  const configured = document.querySelector('meta[name="miroir-search-key"]')?.content || "";
  const entered = sessionStorage.getItem(STORED_KEY) || "";
  const key = configured || entered;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(STORED_KEY, $("key-input").value.trim());
    location.reload();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(STORED_KEY);
    location.reload();
  });
  $("forget-key").hidden = !entered || Boolean(configured);

  const powers = await keyPowers(key);
  if (powers.open) return start(null); // the gateway has no master key: every caller may search
  if (!key) {
    return askForKey("No search key is configured for this page (the operator sets one with the gateway's --search-page-key option). Enter a search-only API key to search.");
  }
  if (powers.master || powers.readsKeys) {
    sessionStorage.removeItem(STORED_KEY);
    $("forget-key").hidden = true;
    $("refusal").textContent = powers.master
      ? "This is the master key. The search page never runs with the master key: every visitor could read it and take over the cluster. Use a search-only key (a key whose only action is search)."
      : "This key can manage API keys. The search page runs only with a search-only key (a key whose only action is search).";
    if (!configured) askForKey("Enter a search-only API key.");
    return;
  }
  start(key);
}

main();
