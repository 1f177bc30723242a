//! The one place the harness finds what it runs and reads: Miroir's binaries (beside the
//! running executable), the brokers (environment variable, `PATH` or a known package path), the
//! real Meilisearch binary and the files shared with the rest of the workplace (`../shared`
//! beside the checkout, or `MIROIR_SHARED_DIR`: the corpus and the recorded exchanges).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

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

/// `name` from the environment variable `env`, else found on `PATH`, else at `fallback`. A
/// missing binary is an error that says how to install it: tests fail instead of skipping.
pub fn find_binary(env: &str, name: &str, fallback: Option<&str>, install_hint: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { bail!("{env}={} does not exist", path.display()) };
    }
    let on_path = std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|dir| dir.join(name)).find(|path| path.is_file());
    on_path
        .or_else(|| fallback.map(PathBuf::from).filter(|p| p.is_file()))
        .ok_or_else(|| anyhow!("{name} not found: set {env} or {install_hint} (.ci/run does this)"))
}

/// Paths of the Miroir binaries.
#[derive(Debug, Clone)]
pub struct MiroirBinaries {
    pub gateway: PathBuf,
    pub indexer: PathBuf,
    pub reconciler: PathBuf,
    /// The operators' command line (`miroirctl`).
    pub miroirctl: PathBuf,
}

impl MiroirBinaries {
    /// The binaries in `dir`.
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                bail!(
                    "{} not found; build the binaries first: cargo build --workspace --bins (same profile and CARGO_TARGET_DIR; \
                     add --release for target/release)",
                    path.display()
                )
            }
        };
        Ok(MiroirBinaries {
            gateway: find("miroir-gateway")?,
            indexer: find("miroir-indexer")?,
            reconciler: find("miroir-reconciler")?,
            miroirctl: find("miroirctl")?,
        })
    }

    /// The binaries of the cargo profile directory the running executable belongs to: next to
    /// it (the launcher, a benchmark) or one level up (a test executable lives in
    /// `<profile>/deps`; the binaries belong to other packages, so cargo does not build them for
    /// the test).
    pub fn beside_current_exe() -> Result<Self> {
        let exe = std::env::current_exe().context("locating the running executable")?;
        let dir = exe.parent().context("executable without a directory")?;
        Self::in_dir(dir).or_else(|first| match dir.parent() {
            Some(parent) if dir.ends_with("deps") => Self::in_dir(parent),
            _ => Err(first),
        })
    }
}
