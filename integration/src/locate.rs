//! The files tests and benchmarks share with the rest of the workplace, found relative to the
//! checkout (`../shared` beside it) or through `MIROIR_SHARED_DIR`: the Debian corpus, the
//! recorded Meilisearch exchanges and the real Meilisearch binary. Never an absolute path.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `$MIROIR_SHARED_DIR`, else `shared/` beside the checkout.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("MIROIR_SHARED_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    }
}

/// The Debian packages corpus (63,666 documents, NDJSON, zstd-compressed).
pub fn corpus_path() -> PathBuf {
    shared_dir().join("datasets/debian-packages.ndjson.zst")
}

/// Exchanges recorded from a real Meilisearch 1.50 node.
pub fn transcript_path() -> PathBuf {
    shared_dir().join("meilisearch-reference/transcripts-v1.50.jsonl")
}

/// The real Meilisearch binary every node-backed test runs: `MEILISEARCH_BIN`, else the copy
/// that `shared/meilisearch/unpack` unpacks once into a cache directory. There is no fallback
/// to anything that is not Meilisearch.
pub fn meilisearch_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MEILISEARCH_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("MEILISEARCH_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    let unpack = shared_dir().join("meilisearch/unpack");
    if !unpack.is_file() {
        bail!(
            "no Meilisearch binary: set MEILISEARCH_BIN=/path/to/meilisearch (1.50), or provide {} \
             (MIROIR_SHARED_DIR overrides the shared directory)",
            unpack.display()
        );
    }
    let output = Command::new(&unpack).output().with_context(|| format!("running {}", unpack.display()))?;
    if !output.status.success() {
        bail!("{} failed (is zstd installed?): {}", unpack.display(), String::from_utf8_lossy(&output.stderr));
    }
    let path = PathBuf::from(String::from_utf8(output.stdout).context("unpack prints a UTF-8 path")?.trim());
    if !path.is_file() {
        bail!("{} printed {}, which is not a file", unpack.display(), path.display());
    }
    Ok(path)
}

/// The first `count` documents of the corpus, in corpus order (decompressed with `zstd -dc`,
/// read only as far as needed).
pub fn corpus_documents(count: usize) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    use std::io::BufRead;
    let path = corpus_path();
    let mut child = Command::new("zstd")
        .arg("-dc")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("running zstd -dc (is zstd installed?)")?;
    let reader = std::io::BufReader::new(child.stdout.take().context("zstd's stdout")?);
    let documents = reader
        .lines()
        .take(count)
        .map(|line| Ok(serde_json::from_str(&line.with_context(|| format!("reading {}", path.display()))?)?))
        .collect::<Result<Vec<_>>>();
    // Stopping early leaves zstd writing into a closed pipe: end it.
    child.kill().ok();
    child.wait().ok();
    documents
}
