#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, in build-fuzz/) and fuzzes, each for a
# bounded time, the JSON -> command -> validation path and the processor's record -> event ->
# state machine path. Exits non-zero on any crash, leak or
# sanitizer report; the crashing input is left in build-fuzz/artifacts/.
#   ./scripts/fuzz.sh                        60 s
#   KLEDGER_FUZZ_SECONDS=600 ./scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
seconds="${KLEDGER_FUZZ_SECONDS:-60}"
build=build-fuzz

echo "== fuzz build (clang, address+undefined)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DKLEDGER_FUZZ=ON -DKLEDGER_BUILD_TESTS=OFF \
  -DKLEDGER_SANITIZE=address,undefined -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
cmake --build "$build" -j "$(nproc)" --target kledger_command_fuzzer kledger_event_fuzzer

echo "== fuzzing the command path for ${seconds} s"
# The seed corpus stays as checked in; what the fuzzer learns goes to the build directory.
mkdir -p "$build/corpus" "$build/artifacts"
"$build/bin/kledger_command_fuzzer" "$build/corpus" command-side/fuzz/corpus \
  -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1

echo "== fuzzing the processor's event decoding and state machine for ${seconds} s"
# Records from the topic are untrusted: raw bytes, and valid events with fuzzed fields merged in.
mkdir -p "$build/corpus-events"
"$build/bin/kledger_event_fuzzer" "$build/corpus-events" processors/fuzz/corpus \
  -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/artifacts/event-" -print_final_stats=1
