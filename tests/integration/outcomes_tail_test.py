#!/usr/bin/env python3
"""`kledger outcomes tail` end to end (docs/outcomes.md): on a `kledger dev --demo` with a few
instances of our own beside the demo's (applied, rejected and duplicate outcomes on several
partitions), once the processor has applied and published everything:

  - `--from-beginning --exit-at-end --json` gives exactly one outcome per record of the events
    topic: per partition, source offsets 0 .. end-1 in increasing order, each in the outcomes
    partition of the same number;
  - every event the query API lists (GET /v1/instances/{i}/events, all pages) is in the stream
    with the same partition, offset, outcome, reason and type, and per instance the stream holds
    exactly those plus one DUPLICATE per resubmission;
  - `--instance X` gives only X's outcomes, all of them; the human form one line per outcome;
    `--max N` N lines;
  - following (no --from-beginning) shows an outcome published after the start, and SIGINT
    stops it with exit 0;
  - a missing topic exits 1 naming `kledger topics create` (real Kafka only: the embedded broker
    creates any topic asked for); bad flags exit 2; a record that is not an OutcomeRecord is
    named on stderr and skipped (needs kcat, which scripts/setup.sh installs);
  - docs/examples/outcomes_consumer.py, run in a venv with docs/examples/requirements.txt, reads
    the same outcomes, in the venv scripts/setup.sh makes under ~/.cache/kledger
    (KLEDGER_OUTCOMES_EXAMPLE_VENV moves it).

With KLEDGER_TEST_KAFKA_DIR (the kafka label's shared cluster) `kledger dev` runs on that real
broker through --bootstrap with a topic prefix of its own, where read_committed is real.

Usage: outcomes_tail_test.py KLEDGER_BINARY
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEMO_TRANSACTIONS = 1000
# Instances of our own: each opens two accounts, posts two transactions, has one rejected
# (unknown account) and resubmits one (a DUPLICATE in the stream, not in the events list).
EXTRA_INSTANCES = ("acme", "globex", "initech", "umbrella")
EXAMPLE_VENV = os.environ.get("KLEDGER_OUTCOMES_EXAMPLE_VENV",
                              os.path.expanduser("~/.cache/kledger/outcomes-example-venv"))
EXAMPLE_REQUIREMENTS = os.path.join(ROOT, "docs", "examples", "requirements.txt")

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
    return condition


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Dev:
    """`kledger dev --demo` in the background; its stdout lines collected by a thread."""

    def __init__(self, kledger, args, tmp):
        self.lines = []
        self.stderr = open(os.path.join(tmp, "dev.stderr"), "w+")
        self.proc = subprocess.Popen(
            [kledger, "--log-level", "warn", "dev", "--demo", "--http", "127.0.0.1:0",
             "--demo-transactions", str(DEMO_TRANSACTIONS), *args],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read()[-4000:]


def submit_extras(base):
    """Our instances' commands; returns {instance: resubmissions} and {partition: last offset}."""
    last_offset = {}
    duplicates = {}

    def post(instance, path, body):
        status, answer = http("POST", f"{base}/v1/instances/{instance}/{path}", body)
        if not check(status == 202, f"POST {instance}/{path} answered 202 (got {status} {answer})"):
            return None
        p = answer["partition"]
        last_offset[p] = max(last_offset.get(p, -1), int(answer["offset"]))
        return answer

    for instance in EXTRA_INSTANCES:
        post(instance, "accounts", {"address": "assets:cash", "type": "asset", "currency": "USD"})
        post(instance, "accounts",
             {"address": "revenue:sales", "type": "revenue", "currency": "USD"})
        sale = {"source": "shop", "source_idempk": "order-1", "status": "posted",
                "entries": [{"account": "assets:cash", "direction": "debit", "amount": 1000,
                             "currency": "USD"},
                            {"account": "revenue:sales", "direction": "credit", "amount": 1000,
                             "currency": "USD"}]}
        post(instance, "transactions", sale)
        post(instance, "transactions", dict(sale, source_idempk="order-2"))
        post(instance, "transactions", sale)  # the same key again: DUPLICATE
        duplicates[instance] = 1
        unknown = dict(sale, source_idempk="order-3")
        unknown["entries"] = [dict(sale["entries"][0], account="assets:nowhere"),
                              sale["entries"][1]]
        post(instance, "transactions", unknown)  # REJECTED unknown_account
    return duplicates, last_offset


def wait_caught_up(base, last_offset, timeout_s=60):
    """The stats once every partition is applied to its end and every outcome published."""
    deadline = time.monotonic() + timeout_s
    stats = None
    while time.monotonic() < deadline:
        status, stats = http("GET", f"{base}/v1/stats")
        if status == 200:
            done = True
            for p in stats["partitions"]:
                next_offset = int(p.get("next_offset", 0))
                if (not p.get("owned") or int(p.get("high_watermark", -1)) != next_offset
                        or next_offset <= last_offset.get(p["partition"], -1)
                        or int(p.get("outcomes_published_through", -1)) != next_offset - 1):
                    done = False
            if done:
                return stats
        time.sleep(0.2)
    check(False, f"the processor applied and published everything within {timeout_s} s "
                 f"(last stats: {json.dumps(stats)[:2000]})")
    return None


def listed_events(base, instance):
    events, cursor = [], ""
    while True:
        status, page = http("GET", f"{base}/v1/instances/{instance}/events?limit=1000"
                                   f"&cursor={cursor}")
        if not check(status == 200, f"GET /v1/instances/{instance}/events answered 200"):
            return events
        events.extend(page.get("items", []))
        cursor = page.get("next_cursor", "")
        if not cursor:
            return events


def tail(kledger, kafka_args, *args, timeout=60):
    return subprocess.run([kledger, "--log-level", "warn", "outcomes", "tail", *kafka_args, *args],
                          capture_output=True, text=True, timeout=timeout)


def check_stream(records, stats, base, duplicates):
    """One outcome per record of the events topic, in log order, equal to what the API serves."""
    by_partition = {}
    for r in records:
        check(r["partition"] == r["source_partition"],
              f"outcome of {r['source_partition']}:{r['source_offset']} is in the outcomes "
              f"partition of the same number (found in {r['partition']})")
        by_partition.setdefault(r["source_partition"], []).append(int(r["source_offset"]))
    for p in stats["partitions"]:
        end = int(p["high_watermark"])
        offsets = by_partition.get(p["partition"], [])
        check(offsets == list(range(end)),
              f"partition {p['partition']}: one outcome per record of the events topic, offsets "
              f"0..{end - 1} in increasing order (got {len(offsets)} outcomes, first differences "
              f"{[(i, o) for i, o in enumerate(offsets) if o != i][:5]})")
    check(set(by_partition) <= {p["partition"] for p in stats["partitions"]},
          "no outcome of a partition the events topic lacks")

    for instance in ("demo", *EXTRA_INSTANCES):
        mine = {(r["source_partition"], int(r["source_offset"])): r
                for r in records if r["instance_id"] == instance}
        listed = listed_events(base, instance)
        check(len(listed) > 0, f"the query API lists {instance}'s events")
        listed_at = {}
        for event in listed:
            where = (event["partition"], int(event["offset"]))
            listed_at[where] = event
            r = mine.get(where)
            if not check(r is not None, f"{instance}: event {event['event_id']} at {where} is in "
                                        f"the stream"):
                continue
            for field in ("event_id", "outcome", "reason", "event_type"):
                check(r[field] == event.get(field, ""),
                      f"{instance}: event at {where}: stream {field} {r[field]!r} == API's "
                      f"{event.get(field)!r}")
        # The rest are resubmissions of an event id already decided: DUPLICATE, with the original's
        # reason, after it.
        originals = {e["event_id"]: (e["partition"], int(e["offset"])) for e in listed}
        rest = [r for where, r in mine.items() if where not in listed_at]
        check(len(rest) == duplicates.get(instance, 0),
              f"{instance}: beside the events the API lists, one DUPLICATE per resubmission "
              f"({len(rest)} vs {duplicates.get(instance, 0)})")
        for r in rest:
            original = listed_at.get(originals.get(r["event_id"]))
            check(r["outcome"] == "DUPLICATE" and original is not None
                  and int(original["offset"]) < int(r["source_offset"])
                  and r["reason"] == original.get("reason", ""),
                  f"{instance}: the outcome at {r['source_offset']} not listed by the API is the "
                  f"DUPLICATE of an earlier event, with its reason ({r['outcome']})")

    applied = [r for r in records
               if r["outcome"] == "APPLIED" and r["event_type"] == "transaction_created"]
    check(applied and all(r.get("transaction", {}).get("entries") and r.get("balances")
                          for r in applied),
          "every applied transaction carries the transaction after it and the moved balances")
    outcomes = {r["outcome"] for r in records}
    check({"APPLIED", "REJECTED", "DUPLICATE"} <= outcomes,
          f"the run has applied, rejected and duplicate outcomes (got {sorted(outcomes)})")


def example_python():
    """The python of the example's venv, which scripts/setup.sh makes from
    docs/examples/requirements.txt; None (a failure reported) when it is missing or stale."""
    python = os.path.join(EXAMPLE_VENV, "bin", "python")
    stamp = os.path.join(EXAMPLE_VENV, "requirements.txt")
    with open(EXAMPLE_REQUIREMENTS) as f:
        wanted = f.read()
    current = None
    if os.path.exists(stamp):
        with open(stamp) as f:
            current = f.read()
    if not check(current == wanted and os.path.exists(python),
                 f"the Python example's venv {EXAMPLE_VENV} is there for "
                 f"docs/examples/requirements.txt (scripts/setup.sh makes it)"):
        return None
    return python


def run_example(kafka_args, tmp, records):
    python = example_python()
    if python is None:
        return
    gen = os.path.join(tmp, "gen")
    os.makedirs(gen)
    schemas = os.path.join(ROOT, "event-schemas")
    protos = sorted(os.path.join(schemas, "kledger", "v1", name)
                    for name in os.listdir(os.path.join(schemas, "kledger", "v1"))
                    if name.endswith(".proto"))
    subprocess.run(["protoc", "-I", schemas, f"--python_out={gen}", *protos], check=True)
    bootstrap = kafka_args[kafka_args.index("--bootstrap") + 1]
    prefix = kafka_args[kafka_args.index("--topic-prefix") + 1]
    run = subprocess.run(
        [python, os.path.join(ROOT, "docs", "examples", "outcomes_consumer.py"), "--bootstrap",
         bootstrap, "--topic-prefix", prefix, "--group", f"outcomes-example-{os.getpid()}",
         "--from-beginning", "--exit-at-end"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=gen))
    lines = run.stdout.splitlines()
    if not check(run.returncode == 0, f"the Python example exits 0 (got {run.returncode}: "
                                      f"{run.stderr[-2000:]})"):
        return
    expected = sorted(f"p{r['source_partition']} @{r['source_offset']} {r['event_id'] or '-'} "
                      f"{r['outcome']}" for r in records)
    got = sorted(" ".join(line.split()[i] for i in (0, 1, 4, 5)) for line in lines)
    check(got == expected, f"the Python example reads the same {len(expected)} outcomes as "
                           f"the tail (got {len(got)})")
    print(f"python example: {len(lines)} outcomes read; {run.stderr.strip().splitlines()[-1]}")


def check_foreign_record(kledger, kafka_args, bootstrap, prefix, records):
    kcat = shutil.which("kcat")
    if not check(kcat is not None, "kcat is installed (scripts/setup.sh installs it)"):
        return
    partition = next(r["partition"] for r in records if r["instance_id"] == "acme")
    before = tail(kledger, kafka_args, "--from-beginning", "--exit-at-end", "--instance", "acme")
    subprocess.run([kcat, "-P", "-b", bootstrap, "-t", f"{prefix}.outcomes", "-k", "acme", "-p",
                    str(partition)], input="\x07 not a protobuf", text=True, check=True,
                   timeout=30)
    run = tail(kledger, kafka_args, "--from-beginning", "--exit-at-end", "--instance", "acme")
    warning = re.search(rf"record {partition}:(\d+) of {re.escape(prefix)}.outcomes is not an "
                        r"OutcomeRecord", run.stderr)
    check(run.returncode == 0 and warning is not None and run.stdout == before.stdout,
          f"a record that is not an OutcomeRecord is named on stderr and skipped (exit "
          f"{run.returncode}, stderr {run.stderr[-300:]!r})")


def main() -> int:
    kledger = sys.argv[1]
    prefix = "kledger"
    dev_args = []
    kafka_dir = os.environ.get("KLEDGER_TEST_KAFKA_DIR")
    if kafka_dir:
        tool = os.path.join(ROOT, "scripts", "kafka", "cluster.py")
        out = subprocess.run([sys.executable, tool, "bootstrap", "--dir", kafka_dir],
                             capture_output=True, text=True, check=True).stdout
        prefix = f"outcomes-tail-{os.getpid()}-{int(time.time())}"
        dev_args = ["--bootstrap", out.split("bootstrap=", 1)[1].split()[0], "--topic-prefix",
                    prefix]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kledger-outcomes-tail-") as tmp:
        dev = Dev(kledger, dev_args, tmp)
        try:
            match = dev.wait_for_line(r"kledger dev: http=(\S+) bootstrap=(\S+)", 60)
            if not match:
                print(f"FAIL: kledger dev did not start\n{dev.stderr_tail()}")
                return 1
            base, bootstrap = match.group(1), match.group(2)
            kafka_args = ["--bootstrap", bootstrap, "--topic-prefix", prefix]
            duplicates, last_offset = submit_extras(base)
            if not dev.wait_for_line(r"kledger dev: serving on", 120):
                print(f"FAIL: the demo did not finish\n{dev.stderr_tail()}")
                return 1
            stats = wait_caught_up(base, last_offset)
            if stats is None:
                print("FAIL: " + "; ".join(failures))
                return 1

            # The whole stream, as JSON.
            run = tail(kledger, kafka_args, "--from-beginning", "--exit-at-end", "--json")
            check(run.returncode == 0, f"tail --json exits 0 (got {run.returncode}: "
                                       f"{run.stderr[-2000:]})")
            records = [json.loads(line) for line in run.stdout.splitlines()]
            total = sum(int(p["high_watermark"]) for p in stats["partitions"])
            check(len(records) == total,
                  f"as many outcomes as records in the events topic ({len(records)} vs {total})")
            check_stream(records, stats, base, duplicates)

            # One instance: only its partition, only its records.
            for instance in ("acme", "demo"):
                run = tail(kledger, kafka_args, "--from-beginning", "--exit-at-end", "--json",
                           "--instance", instance)
                mine = [json.loads(line) for line in run.stdout.splitlines()]
                expected = [r for r in records if r["instance_id"] == instance]
                check(run.returncode == 0 and mine == expected,
                      f"--instance {instance} gives exactly its {len(expected)} outcomes in order "
                      f"(got {len(mine)}, exit {run.returncode})")

            # The human form: one line per outcome, the event's place first.
            run = tail(kledger, kafka_args, "--from-beginning", "--exit-at-end")
            lines = run.stdout.splitlines()
            check(run.returncode == 0 and len(lines) == len(records),
                  f"the human form prints one line per outcome ({len(lines)} vs {len(records)})")
            check(all(re.match(r"p\d+ @\d+ \S+ \S+ \S+  [A-Z_]+", line) for line in lines),
                  "each human line starts with p<partition> @<offset> instance type id  OUTCOME")
            check(any("APPLIED" in line and "| after:" in line for line in lines),
                  "an applied transaction's line shows the balances after it")
            check(any(re.search(r"REJECTED unknown_account", line) for line in lines),
                  "a rejected event's line shows its reason")
            print("human form, first lines:\n  " + "\n  ".join(lines[:3]))

            run = tail(kledger, kafka_args, "--from-beginning", "--max", "5")
            check(run.returncode == 0 and len(run.stdout.splitlines()) == 5,
                  f"--max 5 prints 5 lines and exits 0 (got {len(run.stdout.splitlines())}, "
                  f"exit {run.returncode})")

            # Errors: a topic that is not there (real Kafka only: the embedded broker creates
            # every topic a metadata request names), flags that make no sense.
            if kafka_dir:
                run = tail(kledger, ["--bootstrap", bootstrap, "--topic-prefix", f"{prefix}-none"],
                           "--exit-at-end")
                check(run.returncode == 1 and "kledger topics create" in run.stderr,
                      f"a missing topic exits 1 naming `kledger topics create` (got "
                      f"{run.returncode}: {run.stderr[-500:]})")
            for bad in (["--max", "-1"], ["--instance", "not an id"]):
                run = tail(kledger, kafka_args, *bad)
                check(run.returncode == 2, f"tail {' '.join(bad)} exits 2 (got {run.returncode})")

            run_example(kafka_args, tmp, records)

            # Following: an outcome published after the start shows up; SIGINT stops it. The
            # tail starts at the end once it has assigned its partitions, which it does not
            # announce: post until a line comes.
            follower = subprocess.Popen(
                [kledger, "--log-level", "warn", "outcomes", "tail", *kafka_args, "--instance",
                 "acme"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            followed = []
            threading.Thread(target=lambda: followed.extend(follower.stdout), daemon=True).start()
            deadline = time.monotonic() + 30
            n = 0
            while not followed and time.monotonic() < deadline:
                n += 1
                http("POST", f"{base}/v1/instances/acme/transactions",
                     {"source": "follow", "source_idempk": f"f-{n}", "status": "posted",
                      "entries": [{"account": "assets:cash", "direction": "debit",
                                   "amount": 5, "currency": "USD"},
                                  {"account": "revenue:sales", "direction": "credit",
                                   "amount": 5, "currency": "USD"}]})
                time.sleep(0.5)
            check(any("follow/f-" in line for line in followed),
                  f"following, a new outcome is printed (got {followed[:3]})")
            follower.send_signal(signal.SIGINT)
            try:
                code = follower.wait(timeout=10)
                check(code == 0, f"SIGINT stops the follower with exit 0 (got {code})")
            except subprocess.TimeoutExpired:
                follower.kill()
                check(False, "SIGINT stops the follower within 10 s")

            # A record that is not an OutcomeRecord: a warning naming it, and the rest printed.
            # Last, as the relay would trip over it when it next recovers its position.
            check_foreign_record(kledger, kafka_args, bootstrap, prefix, records)
        finally:
            dev.stop()

    if failures:
        print("FAIL: " + "\n  ".join(failures))
        return 1
    print(f"outcomes tail test: OK ({len(records)} outcomes, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
