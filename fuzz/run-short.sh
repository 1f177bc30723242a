#!/usr/bin/env bash
# Runs every fuzz target for a while. Two engines:
#   libfuzzer  cargo-fuzz (needs nightly + cargo-fuzz; builds an ASan copy of the whole gateway,
#              several GB of disk);
#   proptest   the proptest fuzzers of the same parsers with MIROIR_FUZZ_CASES cases each, in the
#              dev profile so they reuse the test build (what CI runs).
# MIROIR_FUZZ_ENGINE=auto (default) picks libfuzzer when it is available.
# Usage: fuzz/run-short.sh [seconds-per-target]   (default 60; libfuzzer only)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
engine="${MIROIR_FUZZ_ENGINE:-auto}"
targets=(filter_parse filter_json payload_json payload_ndjson payload_csv)

if [ "$engine" = auto ]; then
    if cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
        engine=libfuzzer
    else
        engine=proptest
    fi
fi

case "$engine" in
libfuzzer)
    for target in "${targets[@]}"; do
        echo "== cargo fuzz: $target (${seconds}s)"
        (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds")
    done
    ;;
proptest)
    export MIROIR_FUZZ_CASES="${MIROIR_FUZZ_CASES:-200000}"
    echo "== proptest fuzzers, ${MIROIR_FUZZ_CASES} cases each"
    cargo test -p miroir-schemas --lib -- filter::tests::properties::parser_never_panics
    cargo test -p miroir-schemas --lib -- payload::tests::arbitrary_bytes_never_panic
    ;;
*)
    echo "unknown MIROIR_FUZZ_ENGINE=$engine (auto, libfuzzer, proptest)" >&2
    exit 2
    ;;
esac
