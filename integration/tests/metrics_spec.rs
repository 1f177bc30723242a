//! `docs/metrics.md` is the one spec of every metric and span: this test fails when a metric the
//! code records (or a span it opens) is missing from it, when the spec names one no code records,
//! or when the kinds differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The crates whose code records metrics.
const PRODUCT_CRATES: [&str; 4] = ["gateway", "indexer", "reconciler", "clients"];
const KINDS: [&str; 3] = ["counter", "gauge", "histogram"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the integration crate sits in the workspace").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `name → kind` for every `counter!("name"`, `gauge!("name"` and `histogram!("name"` in `source`.
fn recorded_in(source: &str, found: &mut BTreeMap<String, String>, file: &Path) {
    for kind in KINDS {
        let call = format!("{kind}!(");
        for (at, _) in source.match_indices(&call) {
            let rest = source[at + call.len()..].trim_start();
            let Some(quoted) = rest.strip_prefix('"') else { continue };
            let name = &quoted[..quoted.find('"').expect("a closed string literal")];
            if let Some(previous) = found.insert(name.to_owned(), kind.to_owned()) {
                assert_eq!(previous, kind, "{name} is recorded as both {previous} and {kind} ({})", file.display());
            }
        }
    }
}

/// The names of every span `source` opens: `info_span!("name"`, `debug_span!("name"`, ….
fn spans_in(source: &str, found: &mut std::collections::BTreeSet<String>) {
    for level in ["trace", "debug", "info", "warn", "error"] {
        let call = format!("{level}_span!(");
        for (at, _) in source.match_indices(&call) {
            let Some(quoted) = source[at + call.len()..].trim_start().strip_prefix('"') else { continue };
            found.insert(quoted[..quoted.find('"').expect("a closed string literal")].to_owned());
        }
    }
}

/// The span names of the spec's table rows: "| `name` | span | …".
fn specified_spans(spec: &str) -> std::collections::BTreeSet<String> {
    spec.lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            (cells.next()? == "span").then(|| name.to_owned())
        })
        .collect()
}

fn product_sources() -> Vec<(PathBuf, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    for crate_dir in PRODUCT_CRATES {
        rust_files(&root.join(crate_dir).join("src"), &mut files);
    }
    files.into_iter().map(|file| (file.clone(), std::fs::read_to_string(&file).unwrap())).collect()
}

#[test]
fn the_spec_names_exactly_the_spans_the_code_opens() {
    let mut opened = std::collections::BTreeSet::new();
    for (_, source) in product_sources() {
        spans_in(&source, &mut opened);
    }
    let spec = specified_spans(&std::fs::read_to_string(workspace_root().join("docs/metrics.md")).unwrap());
    assert!(opened.contains("request") && opened.contains("node_call"), "the scan is not reading the code: {opened:?}");
    assert_eq!(opened, spec, "docs/metrics.md's span table (right) must list every span the code opens (left)");
}

/// `name → kind` from the spec's table rows: "| `name` | kind | …".
fn specified(spec: &str) -> BTreeMap<String, String> {
    spec.lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let kind = cells.next()?;
            name.starts_with("miroir_").then(|| (name.to_owned(), kind.to_owned()))
        })
        .collect()
}

#[test]
fn the_metrics_spec_names_exactly_what_the_code_records() {
    let mut recorded = BTreeMap::new();
    for (file, source) in product_sources() {
        recorded_in(&source, &mut recorded, &file);
    }
    let spec = specified(&std::fs::read_to_string(workspace_root().join("docs/metrics.md")).unwrap());
    assert!(recorded.len() >= 10, "the scan found too few metrics to be reading the code: {recorded:?}");
    assert_eq!(recorded, spec, "docs/metrics.md (right) must list every metric the code records (left), with its kind");
}

#[test]
fn the_scan_reads_names_and_kinds() {
    let mut found = BTreeMap::new();
    recorded_in(
        r#"metrics::counter!("a_total", "x" => y).increment(1); histogram!(
            "b_seconds").record(1.0); gauge!(name)"#,
        &mut found,
        Path::new("x.rs"),
    );
    assert_eq!(found, BTreeMap::from([("a_total".to_owned(), "counter".to_owned()), ("b_seconds".to_owned(), "histogram".to_owned())]));
}
