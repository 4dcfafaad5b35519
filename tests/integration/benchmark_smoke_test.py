#!/usr/bin/env python3
"""Smoke test of `kledger benchmark` (issue 7): a tiny workload runs every phase, verifies that
each event was applied exactly once, and writes the JSON report in the documented shape. With
KLEDGER_TEST_KAFKA_DIR (the kafka label's shared cluster) it runs on that real broker through
--bootstrap, the ceilings included.

Usage: benchmark_smoke_test.py KLEDGER_BINARY
"""
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    kledger = sys.argv[1]
    broker = []
    kafka_dir = os.environ.get("KLEDGER_TEST_KAFKA_DIR")
    if kafka_dir:
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                            "kafka", "cluster.py")
        out = subprocess.run([sys.executable, tool, "bootstrap", "--dir", kafka_dir],
                             capture_output=True, text=True, check=True).stdout
        broker = ["--bootstrap", out.split("bootstrap=", 1)[1].split()[0]]
    with tempfile.TemporaryDirectory(prefix="kledger-bench-smoke-") as tmp:
        report_path = os.path.join(tmp, "bench.json")
        run = subprocess.run(
            [kledger, "--log-level", "warn", "benchmark", "--transfers", "2000", "--accounts",
             "100", "--partitions", "4", "--pending-ratio", "0.1", "--latency-seconds", "1", "--latency-rate", "500",
             "--json", report_path, *broker],
            capture_output=True, text=True, timeout=240)
        sys.stdout.write(run.stdout)
        if run.returncode != 0:
            sys.stderr.write(run.stderr[-4000:])
            print(f"FAIL: kledger benchmark exited {run.returncode}")
            return 1
        with open(report_path) as f:
            report = json.load(f)

    failures = []

    def check(condition, what):
        if not condition:
            failures.append(what)

    for key in ("ceilings", "command", "apply", "e2e_latency_ms", "ratios", "rss_mb",
                "verification"):
        check(key in report, f"report has '{key}'")
    check(report["parameters"]["broker"] == ("kafka" if broker else "embedded"),
          "parameters.broker names the broker the run used")
    check(report["command"]["commands_per_s"] > 0, "commands_per_s > 0")
    http = report["command"].get("http_batch", {})
    check(http.get("commands_per_s", 0) > 0, "command.http_batch.commands_per_s > 0")
    # 2000 commands of the HTTP phase in requests of 100 (the default batch).
    check(http.get("commands") == 2000 and http.get("requests") == 20,
          "the HTTP phase posted every command, 100 a request")
    check(report["apply"]["txn_per_s"] > 0, "txn_per_s > 0")
    # The producing thread of the raw ceiling and the command path's submitting thread ("other")
    # ran for every record: their CPU is what the command ratio compares.
    check(report["ceilings"].get("kafka_produce_cpu_us_per_record", {}).get("other", 0) > 0,
          "ceilings.kafka_produce_cpu_us_per_record.other > 0")
    check(report["command"]["cpu_us_per_command"].get("other", 0) > 0,
          "command.cpu_us_per_command.other > 0")
    for p in ("p50", "p99", "p999"):
        check(report["e2e_latency_ms"][p] > 0, f"e2e_latency_ms.{p} > 0")
    for r in ("command_vs_produce", "http_batch_vs_produce", "apply_vs_rocksdb"):
        check(report["ratios"][r] > 0, f"ratios.{r} > 0")
    check(report["rss_mb"]["peak"] > 0, "rss_mb.peak > 0")
    # Issue 21's targets: the CPU figures they judge, each from the phase it names.
    i21 = report.get("issue_21", {})
    apply_cpu = report["apply"]["cpu_us_per_event"]
    check(abs(i21.get("apply_cpu_us_per_event", -1)
              - sum(v for k, v in apply_cpu.items() if k != "broker")) < 1e-6,
          "issue_21.apply_cpu_us_per_event sums the apply phase's threads but the broker's")
    for figure in ("http_batch_cpu_us_per_command", "http_single_cpu_us_per_request"):
        check(i21.get(figure, 0) > 0, f"issue_21.{figure} > 0")
    check(set(i21.get("targets", {})) == {
        "apply_cpu_le_8us_per_event", "http_batch_cpu_le_8us_per_command",
        "http_single_cpu_le_25us_per_request", "http_single_none_refused",
        "e2e_p99_le_25ms_at_10k_per_s", "apply_vs_rocksdb_ge_0.7", "rss_flat_second_half"},
        "issue_21.targets names each of issue 21's targets")
    check(abs(report["e2e_latency_ms"]["load_per_s"] - 500) < 1e-6,
          "the latency phase paced at --latency-rate")
    v = report["verification"]
    check(v["ok"], "verification ok")
    # 2000 transfers, 10% of them pending and posted later, 100 accounts, the HTTP phase's 2000
    # (and its warm-up), plus the latency phase.
    check(v["events_acked"] >= 2000 + 200 + 100 + 2000, "every workload event was acknowledged")
    check(v["applied"] == v["events_acked"], "applied == acknowledged: each event exactly once")
    check(v["duplicate"] == 0 and v["rejected"] == 0 and v["dead_lettered"] == 0,
          "no duplicate, rejected or dead-lettered outcome")
    check(v["trial_balance_zero_and_complete"], "trial balance zero and complete")
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("benchmark smoke test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
