//! The Debian packages corpus (63,666 documents, NDJSON, zstd-compressed), read only as far as
//! a test or benchmark needs it.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// The first `count` lines of the corpus at `path` (decompressed with `zstd -dc`).
pub fn corpus_lines(path: &Path, count: usize) -> Result<Vec<String>> {
    let mut child = Command::new("zstd")
        .arg("-dc")
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running zstd -dc (is zstd installed?)")?;
    let reader = std::io::BufReader::new(child.stdout.take().context("zstd's stdout")?);
    let lines = reader.lines().take(count).collect::<std::io::Result<Vec<_>>>().with_context(|| format!("reading {}", path.display()));
    // Stopping early leaves zstd writing into a closed pipe: end it.
    child.kill().ok();
    child.wait().ok();
    lines
}

/// The first `count` documents of the shared corpus, in corpus order.
pub fn corpus_documents(count: usize) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    corpus_lines(&crate::locate::corpus_path(), count)?.iter().map(|line| Ok(serde_json::from_str(line)?)).collect()
}
