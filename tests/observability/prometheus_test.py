#!/usr/bin/env python3
"""Proves deploy/'s PromQL against a real Prometheus server scraping a real kledger.

Starts `kledger dev --demo` on a free port and Debian's Prometheus (1 s scrapes, the alert rules
loaded) on another, drives a little more traffic while Prometheus scrapes, then checks through
Prometheus's HTTP API that every expression of the Grafana dashboard and of the alert rules
parses (a parse error is HTTP 400 "bad_data"), that every dashboard query returns data, and that
every alert rule evaluates without error. Bounded (about a minute); kills what it started.

usage: prometheus_test.py KLEDGER_BINARY PROMETHEUS_BINARY DEPLOY_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

DEADLINE_S = 80


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return 0, str(e)


def query(prom, expr):
    """(http status, decoded answer) of an instant query."""
    status, body = http("GET", prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"status": "error", "error": body}


def dashboard_exprs(deploy):
    with open(os.path.join(deploy, "grafana", "kledger-dashboard.json")) as f:
        dash = json.load(f)
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def wait_for(what, predicate, deadline):
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


def main():
    kledger, prometheus, deploy = sys.argv[1:4]
    deadline = time.monotonic() + DEADLINE_S
    tmp = tempfile.mkdtemp(prefix="kledger-prom-test-")
    procs = []
    failures = []
    try:
        kport, pport = free_port(), free_port()
        kurl, prom = f"http://127.0.0.1:{kport}", f"http://127.0.0.1:{pport}"
        klog = open(os.path.join(tmp, "kledger.log"), "w")
        procs.append(subprocess.Popen(
            [kledger, "dev", "--http", f"127.0.0.1:{kport}", "--demo", "--demo-transactions",
             "200", "-X", "statistics.interval.ms=1000"],
            stdout=klog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

        shutil.copy(os.path.join(deploy, "prometheus", "alerts.yml"), tmp)
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: kledger-processor
    static_configs: [{{targets: ["127.0.0.1:{kport}"]}}]
""")
        plog = open(os.path.join(tmp, "prometheus.log"), "w")
        procs.append(subprocess.Popen(
            [prometheus, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             f"--web.listen-address=127.0.0.1:{pport}"],
            stdout=plog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

        # kledger prints "serving on" once the demo's summary is out: traffic has flowed.
        def demo_done():
            with open(os.path.join(tmp, "kledger.log")) as f:
                return "serving on" in f.read()
        wait_for("kledger dev's demo", demo_done, deadline)
        wait_for("Prometheus", lambda: http("GET", prom + "/-/ready")[0] == 200, deadline)

        # More traffic while Prometheus scrapes, so that rates are not all zero.
        def scraped_enough():
            n = int(time.monotonic() * 2)
            http("POST", kurl + "/v1/instances/promtest/accounts",
                 {"address": f"assets:cash_{n}", "type": "asset", "currency": "USD"})
            _, ans = query(prom, 'count_over_time(kledger_ready[1m]) >= 8')
            return ans.get("status") == "success" and ans["data"]["result"]
        wait_for("8 scrapes of kledger", scraped_enough, deadline)

        panels = dashboard_exprs(deploy)
        # Every dashboard query parses and returns data; Kafka statistics (1 s here) and the
        # RocksDB sampler may need a moment more, so retry until the deadline before failing.
        pending = list(panels)
        while pending and time.monotonic() < deadline:
            still = []
            for title, expr in pending:
                status, ans = query(prom, expr)
                if status == 400 or ans.get("errorType") == "bad_data":
                    failures.append(f"panel '{title}': does not parse: {expr}: {ans.get('error')}")
                elif ans.get("status") != "success" or not ans["data"]["result"]:
                    still.append((title, expr))
            pending = still
            if pending:
                time.sleep(1)
        for title, expr in pending:
            failures.append(f"panel '{title}': no data: {expr}")
        print(f"dashboard: {len(panels)} queries, {len(panels) - len(pending)} with data")

        def loaded_rules():
            groups = json.loads(http("GET", prom + "/api/v1/rules")[1])["data"]["groups"]
            return [r for g in groups for r in g["rules"]]

        # Alert rules: Prometheus loaded them (it refuses a rules file that does not parse);
        # query each expression too, and check each rule evaluated without error.
        rules = loaded_rules()
        if not rules:
            failures.append("Prometheus loaded no alert rules from alerts.yml")
        for rule in rules:
            status, ans = query(prom, rule["query"])
            if status != 200 or ans.get("status") != "success":
                failures.append(f"alert {rule['name']}: query failed: {ans.get('error')}")
        # Before its first evaluation a rule's lastEvaluation is Go's zero time.
        wait_for("one evaluation of every rule",
                 lambda: not any(r.get("lastEvaluation", "0001").startswith("0001")
                                 for r in loaded_rules()), deadline)
        for r in loaded_rules():
            if r.get("health") != "ok":
                failures.append(f"alert {r['name']}: health {r.get('health')}: "
                                f"{r.get('lastError')}")
        print(f"alerts: {len(rules)} rules, all queried")

        # A non-parsing expression must be told apart: the check above is not vacuous.
        status, ans = query(prom, "sum(rate(kledger_commands_total[1m])")
        if status != 400 or ans.get("errorType") != "bad_data":
            failures.append(f"a broken expression was not refused as bad_data: {status} {ans}")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if failures:
            for name in ("kledger.log", "prometheus.log"):
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    with open(path) as f:
                        tail = f.read()[-3000:]
                    print(f"--- {name} (tail)\n{tail}")
        shutil.rmtree(tmp, ignore_errors=True)
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
