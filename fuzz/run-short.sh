#!/usr/bin/env bash
# Runs every fuzz target for about a minute each when a nightly toolchain and cargo-fuzz are
# present; otherwise runs the proptest-based fuzz tests of the crates with a large case count.
# Usage: fuzz/run-short.sh [seconds-per-target]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
targets=(filter_parse filter_json payload_json payload_ndjson payload_csv)

if cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
    for target in "${targets[@]}"; do
        echo "== cargo fuzz: $target (${seconds}s)"
        (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds")
    done
else
    echo "nightly + cargo-fuzz not available: running the proptest fuzzers instead" >&2
    export MIROIR_FUZZ_CASES="${MIROIR_FUZZ_CASES:-200000}"
    cargo test --release -p miroir-schemas --lib -- filter::tests::properties::parser_never_panics
    cargo test --release -p miroir-gateway --lib -- documents::payload::tests::arbitrary_bytes_never_panic
fi
