#!/usr/bin/env bash
# Builds kledger and runs it with the demo workload:
#   ./scripts/dev.sh [extra `kledger dev` flags]
#       on its embedded default: nothing to install, nothing kept (the log is in memory)
#   ./scripts/dev.sh --kafka DIR [extra `kledger dev` flags]
#       on a local single-node Apache Kafka (scripts/kafka/cluster.py; the broker is fetched
#       from Maven Central the first time) whose log lives in DIR/kafka and whose projections live
#       in DIR/projections: stop it with Ctrl-C, run the same command again, and every balance is
#       still there. The Kafka node stops with kledger dev.
set -euo pipefail
cd "$(dirname "$0")/.."

kafka_dir=""
if [[ "${1:-}" == "--kafka" ]]; then
  if [[ -z "${2:-}" ]]; then
    echo "usage: $0 --kafka DIR [kledger dev flags]" >&2
    exit 2
  fi
  kafka_dir=$(realpath -m "$2")
  shift 2
fi

./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target kledger

if [[ -z "$kafka_dir" ]]; then
  exec build/bin/kledger dev --demo "$@"
fi

mkdir -p "$kafka_dir"
kafka=(python3 scripts/kafka/cluster.py)
if bootstrap=$("${kafka[@]}" bootstrap --dir "$kafka_dir/kafka" 2>/dev/null | sed -n 's/^bootstrap=//p') \
    && [[ -n "$bootstrap" ]]; then
  echo "dev: using the Kafka node already running in $kafka_dir/kafka ($bootstrap)" >&2
else
  bootstrap=$("${kafka[@]}" start --dir "$kafka_dir/kafka" | sed -n 's/^bootstrap=//p')
  trap '"${kafka[@]}" stop --dir "$kafka_dir/kafka"' EXIT
fi
build/bin/kledger dev --demo --bootstrap "$bootstrap" --data-dir "$kafka_dir/projections" "$@"
