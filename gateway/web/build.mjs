// Builds dist/: the two pages' scripts bundled with Meilisearch's JS client by esbuild. The
// gateway embeds them in its binary (gateway/src/web.rs), with the HTML and CSS of src/ as they are.
// `node build.mjs --check` builds in memory and fails when dist/ differs (CI runs it).
import { build } from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
const check = process.argv.includes("--check");

async function outputs() {
  const bundled = await build({
    entryPoints: { admin: path.join(here, "src/admin.js"), search: path.join(here, "src/search.js") },
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    legalComments: "eof",
    write: false,
    outdir: dist,
    logLevel: "warning",
  });
  const files = bundled.outputFiles.map((file) => [path.basename(file.path), Buffer.from(file.contents)]);
  return files.sort(([a], [b]) => a.localeCompare(b));
}

const files = await outputs();
if (check) {
  const stale = [];
  for (const [name, contents] of files) {
    const committed = await readFile(path.join(dist, name)).catch(() => null);
    if (!committed || !committed.equals(contents)) stale.push(name);
  }
  if (stale.length) {
    console.error(`gateway/web/dist is not what gateway/web/src builds (${stale.join(", ")}): run \`npm ci && npm run build\` in gateway/web and commit dist/`);
    process.exit(1);
  }
  console.log("gateway/web/dist is up to date");
} else {
  await mkdir(dist, { recursive: true });
  let total = 0;
  for (const [name, contents] of files) {
    await writeFile(path.join(dist, name), contents);
    total += contents.length;
    console.log(`${name}\t${contents.length} bytes`);
  }
  console.log(`total\t${total} bytes`);
}
