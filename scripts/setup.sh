#!/usr/bin/env bash
# Installs the Debian 12 packages kledger needs to build, test and run, the Python venvs of the
# HTTP fuzzer (tests/http_fuzz) and of the outcome stream's example, and the browser test's npm
# packages (tests/browser). Idempotent and quiet: packages already present are skipped, so a
# second run costs a few dpkg queries. (The Apache Kafka broker itself comes from Maven Central:
# scripts/kafka/cluster.py fetch.)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librdkafka-dev librocksdb-dev libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libcpp-httplib-dev
  libboost-dev  # Boost.Beast/Asio, the HTTP server's event loop
  libssl-dev zlib1g-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format-14
  kcat prometheus curl python3 python3-yaml python3-venv nlohmann-json3-dev libsimdjson-dev openssl
  openjdk-17-jre-headless maven  # the real Kafka broker of scripts/kafka/cluster.py
  chromium nodejs  # the console's browser test (tests/browser, label browser)
)

# Python packages for tests live in venvs of their own (pinned requirements), each remade only
# when its requirements change: the HTTP fuzzer's (tests/http_fuzz/requirements.txt;
# KLEDGER_HTTP_FUZZ_VENV moves it) and the outcome stream's Python consumer example's
# (docs/examples/requirements.txt, run by tests/integration/outcomes_tail_test.py;
# KLEDGER_OUTCOMES_EXAMPLE_VENV moves it).
install_venv() {
  local what="$1" venv="$2" requirements="$3"
  if [[ -f "$venv/requirements.txt" ]] && cmp -s "$requirements" "$venv/requirements.txt"; then
    return 0
  fi
  echo "setup: installing $what into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >/dev/null
  cp "$requirements" "$venv/requirements.txt"
}

# The console's browser test drives Debian's Chromium with npm's playwright-core, pinned by
# tests/browser/package-lock.json into tests/browser/node_modules (not in git), reinstalled only
# when the lock changes.
install_node_modules() {
  local dir="$1"
  if [[ -f "$dir/node_modules/.package-lock.json" ]] &&
    cmp -s "$dir/package-lock.json" "$dir/node_modules/.kledger-lock.json"; then
    return 0
  fi
  echo "setup: installing the browser test's npm packages into $dir/node_modules" >&2
  (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
  cp "$dir/package-lock.json" "$dir/node_modules/.kledger-lock.json"
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${#missing[@]} package(s): ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The prometheus package starts a system service; tests run their own server on a free port.
  if command -v systemctl >/dev/null 2>&1; then "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  echo "setup: done" >&2
fi
# npm comes with some Node.js builds (NodeSource's) and is a package of its own in Debian's.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing npm" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
root="$(dirname "$0")/.."
install_venv "the HTTP fuzzer" "${KLEDGER_HTTP_FUZZ_VENV:-$HOME/.cache/kledger/http-fuzz-venv}" \
  "$root/tests/http_fuzz/requirements.txt"
install_venv "the outcome stream's Python example" \
  "${KLEDGER_OUTCOMES_EXAMPLE_VENV:-$HOME/.cache/kledger/outcomes-example-venv}" \
  "$root/docs/examples/requirements.txt"
install_node_modules "$root/tests/browser"
