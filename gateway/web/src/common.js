// Helpers both pages share: building DOM nodes without innerHTML (every text the cluster sends
// is data, never markup) and learning what a key may do from the gateway itself.

/** `el("td", {class: "x"}, "text", child)`: an element with attributes and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces `parent`'s children. */
export function fill(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}

/** `fetch` on the gateway with `key` in the Authorization header (never a cookie: a page of
 * another site cannot make the browser send it). */
export function api(path, key, init = {}) {
  const headers = new Headers(init.headers || {});
  if (key) headers.set("Authorization", `Bearer ${key}`);
  return fetch(path, { ...init, headers, credentials: "omit", cache: "no-store" });
}

/**
 * What the gateway lets `key` do, asked of the gateway: `open` when it runs without a master
 * key (every route answers without one), `master` when the key opens Miroir's admin routes
 * (only the master key does), `readsKeys` when it may list API keys.
 */
export async function keyPowers(key) {
  const open = (await api("/_miroir/topology", null)).ok;
  if (open) return { open, master: false, readsKeys: false };
  const master = key ? (await api("/_miroir/topology", key)).ok : false;
  const readsKeys = key ? (await api("/keys?limit=1", key)).ok : false;
  return { open, master, readsKeys };
}

/** A Meilisearch error answer's message, or the thrown error's. */
export function messageOf(error) {
  return error?.cause?.response?.message || error?.message || String(error);
}
