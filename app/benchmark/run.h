// `kledger benchmark`'s engine: runs the embedded broker, the same-run ceilings, the command path
// through the C++ API and real processors applying what it appended (measured apart, in
// rounds), the command path over HTTP (/v1/batch), a paced end-to-end latency phase, and the
// exactly-once verification.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "app/benchmark/workload.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "projections/store.h"

namespace kledger::app::bench {

struct BenchmarkOptions {
  WorkloadOptions workload;
  int batch_size = 2000;      // records per WriteBatch: processors and the RocksDB ceiling; 2000
  int processors = 1;         // processors in the group, in this process; default 1
  int64_t in_flight = 10000;  // unacknowledged commands at most; default 10,000
  // The C++ API the command path uses: "async" (CommandClient::SubmitAsync, a callback per
  // command) or "future" (CommandClient::Submit, a future per command). Default "async".
  std::string command_api = "async";
  // How processors write each poll's commit: "pipelined" (on their write thread, while the next
  // poll is applied; the default) or "inline" (the apply thread writes and waits).
  std::string apply_writes = "pipelined";
  // Whether the processors publish the outcome stream (outbox and relay), as they do by
  // default in production. Default true.
  bool outcomes = true;
  // The command path over HTTP: commands per POST /v1/batch (at most the gateway's 1000), and
  // the connections posting at once. Defaults 100 and 4.
  int http_batch = 100;
  int http_clients = 4;
  // The single-transfer HTTP phase: keep-alive connections posting one transfer a request at
  // once. Default 64 (the gateway serves 64 requests at once by default).
  int http_single_clients = 64;
  double latency_seconds = 5;  // length of the paced latency phase; default 5 s
  // Transfers per second of the paced latency phase; 0 (the default): half the sustained rate.
  // Issue 21's latency target is set at 10,000/s.
  double latency_rate = 0;
  // RocksDB settings of the processors' stores and of the RocksDB ceiling (path ignored).
  projections::StoreOptions store;
  // Bytes one round may append to one partition before its consumers read it: the embedded
  // broker keeps ~5 MiB per partition and drops the rest silently. Default 2.5 MiB.
  int64_t backlog_bytes_per_partition = 5 * 1024 * 1024 / 2;
  kafka::Properties overrides;  // -X key=value on top of the dev client defaults
  // A Kafka cluster to run on instead of the embedded broker (e.g. scripts/kafka/cluster.py's);
  // the run makes topics of its own there (kledger-bench-<time>.*) with this replication factor.
  std::string bootstrap;
  int replication_factor = 1;
};

struct BenchmarkReport {
  nlohmann::json json;    // the figures, in the shape `--json` writes
  bool verified = false;  // every event applied exactly once, books balanced
  std::string failure;    // why not, when not
};

// Runs the benchmark. An error when it could not run at all; a report with verified=false when
// it ran but records were lost, doubled or left unapplied — a failed run, not a fast one.
Result<BenchmarkReport> RunBenchmark(const BenchmarkOptions& options);

// The report as a table, with the ratios to the ceilings and the targets.
void PrintReport(const BenchmarkReport& report, std::FILE* out);

}  // namespace kledger::app::bench
