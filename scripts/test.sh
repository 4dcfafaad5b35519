#!/usr/bin/env bash
# Builds kledger and runs the whole test suite: unit and multi-process integration tests on the
# release build, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
#   ./scripts/test.sh            everything
#   KLEDGER_SKIP_SANITIZERS=1 ./scripts/test.sh   skip the sanitizer pass (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)

echo "== release build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "== release tests (unit, integration)"
ctest --preset release -j "$jobs" --timeout 300

if [[ "${KLEDGER_SKIP_SANITIZERS:-0}" != "1" ]]; then
  echo "== asan-ubsan build"
  cmake --preset asan-ubsan >/dev/null
  cmake --build --preset asan-ubsan -j "$jobs"
  echo "== asan-ubsan unit tests"
  ctest --preset asan-ubsan -j "$jobs" --timeout 300
fi
[[ "${KLEDGER_SKIP_FUZZ:-0}" == "1" ]] || ./scripts/fuzz.sh  # bounded libFuzzer run (KLEDGER_FUZZ_SECONDS)
