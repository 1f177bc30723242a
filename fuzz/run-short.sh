#!/usr/bin/env bash
# Runs every fuzz target for a while. Two engines:
#   libfuzzer  cargo-fuzz with AddressSanitizer. Uses a nightly toolchain when one is installed,
#              otherwise the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs unstable flags);
#   proptest   the proptest fuzzers of the same parsers with MIROIR_FUZZ_CASES cases each, in the
#              dev profile so they reuse the test build.
# MIROIR_FUZZ_ENGINE=auto (default) uses libfuzzer when cargo-fuzz is installed and the targets
# build, and falls back to proptest otherwise. A crash found by either engine fails the run.
# Usage: fuzz/run-short.sh [seconds-per-target]   (default 60; libfuzzer only)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
engine="${MIROIR_FUZZ_ENGINE:-auto}"
targets=(filter_parse filter_json payload_json payload_ndjson payload_csv)

cargo_fuzz() {
    if cargo +nightly --version >/dev/null 2>&1; then
        (cd fuzz && cargo +nightly fuzz "$@")
    else
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz "$@")
    fi
}

if [ "$engine" = auto ] || [ "$engine" = libfuzzer ]; then
    if cargo fuzz --version >/dev/null 2>&1 && cargo_fuzz build; then
        engine=libfuzzer
    elif [ "$engine" = libfuzzer ]; then
        echo "cargo-fuzz is missing or the fuzz targets do not build" >&2
        exit 1
    else
        echo "cargo-fuzz unavailable or the targets do not build here: using the proptest engine" >&2
        engine=proptest
    fi
fi

case "$engine" in
libfuzzer)
    for target in "${targets[@]}"; do
        echo "== cargo fuzz: $target (${seconds}s)"
        cargo_fuzz run "$target" -- -max_total_time="$seconds"
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
