#!/usr/bin/env bash
# Builds kledger and runs it on its embedded default with the demo workload:
#   ./scripts/dev.sh [extra `kledger dev` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target kledger
exec build/bin/kledger dev --demo "$@"
