#!/usr/bin/env python3
"""Generated-request fuzzing of every route of a live `kledger dev` against docs/openapi.json.

Starts `kledger dev` (embedded broker, a temporary data dir, bearer tokens on, a free port) and
runs schemathesis (pinned in requirements.txt, installed by scripts/setup.sh into its own venv)
against the /openapi.json the server itself serves, a bounded number of examples per operation.
Fails on any of:
  - a 5xx answer (not_a_server_error);
  - an answer the document does not describe: status, content type, body or headers
    (status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance);
  - the server dead or not answering /healthz at the end, or not stopping cleanly on SIGTERM;
  - anything appended by a refused request: the commands the fuzzer got accepted (202s, and the
    202 items of /v1/batch's 200s) must equal the command side's count of appended events and,
    once the processor has caught up, the processor's count of processed events.
Prints the number of generated requests.

usage: run.py KLEDGER_BINARY
environment: KLEDGER_HTTP_FUZZ_VENV (default ~/.cache/kledger/http-fuzz-venv),
             KLEDGER_HTTP_FUZZ_EXAMPLES (per operation, default 100),
             KLEDGER_HTTP_FUZZ_SEED (default 1; "random" for a fresh one)
"""
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")
READY_TIMEOUT_S = 60
FUZZ_TIMEOUT_S = 150
CATCH_UP_TIMEOUT_S = 30


def get(url, token=None, timeout=5):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=timeout) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def metric_sum(metrics_text, name, labels=None):
    """The sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for line in metrics_text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(sample_labels.get(k) == v for k, v in (labels or {}).items()):
            total += float(m.group(3))
    return int(total)


def accepted_commands(har_path):
    """(requests, accepted): every request the fuzzer sent, and the commands accepted among them
    (a 202, or a 202 item of a /v1/batch 200)."""
    with open(har_path) as f:
        entries = json.load(f)["log"]["entries"]
    accepted = 0
    for entry in entries:
        request, response = entry["request"], entry["response"]
        if request["method"] != "POST":
            continue
        if response["status"] == 202:
            accepted += 1
        elif response["status"] == 200 and request["url"].split("?")[0].endswith("/v1/batch"):
            body = json.loads(response["content"].get("text") or "{}")
            accepted += sum(1 for item in body.get("results", []) if item.get("status") == 202)
    return len(entries), accepted


def start_dev(kledger, tmp, token_file):
    log = open(os.path.join(tmp, "kledger-dev.log"), "w")
    dev = subprocess.Popen(
        [kledger, "--log-level", "warn", "dev", "--http", "127.0.0.1:0", "--partitions", "4",
         "--data-dir", os.path.join(tmp, "data"), "--auth-tokens", token_file,
         # A generated ?min_offset= far ahead waits this long before its 503, not 10 s.
         "--read-your-writes-timeout-ms", "200"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    line = dev.stdout.readline()  # "kledger dev: http=URL bootstrap=... data=..."
    m = re.search(r"http=(\S+)", line)
    if not m:
        dev.kill()
        log.close()
        with open(log.name) as f:
            raise RuntimeError(f"kledger dev did not start (said {line!r}): {f.read()[-2000:]}")
    return dev, m.group(1)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    kledger = sys.argv[1]
    venv = os.environ.get("KLEDGER_HTTP_FUZZ_VENV",
                          os.path.expanduser("~/.cache/kledger/http-fuzz-venv"))
    st = os.path.join(venv, "bin", "st")
    if not os.access(st, os.X_OK):
        print(f"FAIL: schemathesis is not installed in {venv}: run scripts/setup.sh")
        return 1
    examples = os.environ.get("KLEDGER_HTTP_FUZZ_EXAMPLES", "100")
    seed = os.environ.get("KLEDGER_HTTP_FUZZ_SEED", "1")
    if seed == "random":
        seed = str(secrets.randbelow(2**31))

    started = time.monotonic()
    failures = []
    with tempfile.TemporaryDirectory(prefix="kledger-http-fuzz-") as tmp:
        token = secrets.token_hex(16)
        token_file = os.path.join(tmp, "tokens")
        with open(token_file, "w") as f:
            f.write(f"{token} * submit,query,admin\n")
        dev, url = start_dev(kledger, tmp, token_file)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while get(url + "/readyz")[0] != 200:
                if time.monotonic() > deadline or dev.poll() is not None:
                    raise RuntimeError(f"kledger dev at {url} not ready in {READY_TIMEOUT_S} s")
                time.sleep(0.2)

            har = os.path.join(tmp, "fuzz.har")
            # --generation-database none: nothing is kept between runs; the seed reproduces one.
            # No coverage phase: on two cores it takes minutes, and on Debian 12's Python 3.11.2
            # it trips a CPython bug (SystemError "AST constructor recursion depth mismatch").
            # The fuzzing phase draws both valid and invalid requests (--mode all).
            cmd = [st, "run", url + "/openapi.json", "--checks", CHECKS,
                   "--phases", "examples,fuzzing", "--mode", "all", "--max-examples", examples,
                   "--seed", seed, "--workers", "2", "--request-timeout", "10",
                   "--generation-database", "none", "--no-color", "--max-failures", "20",
                   "--header", f"Authorization: Bearer {token}", "--report", "har",
                   "--report-har-path", har, "--output-truncate", "true"]
            print(f"http fuzz: kledger dev at {url}, schemathesis seed {seed}, {examples} "
                  f"examples per operation", flush=True)
            fuzz = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                                  timeout=FUZZ_TIMEOUT_S)
            if fuzz.returncode != 0:
                sys.stdout.write(fuzz.stdout[-20000:])
                sys.stdout.write(fuzz.stderr[-4000:])
                failures.append(f"schemathesis found problems (exit {fuzz.returncode}; rerun "
                                f"with KLEDGER_HTTP_FUZZ_SEED={seed})")
            requests, accepted = accepted_commands(har)

            if dev.poll() is not None or get(url + "/healthz")[0] != 200:
                failures.append("kledger dev is no longer serving after the fuzzing")
            else:
                # The command side's count of appended events, and the processor's of processed
                # ones once it has caught up: a refused request that appended would show in both.
                metrics = get(url + "/metrics", token)[1]
                appended = metric_sum(metrics, "kledger_commands_total", {"result": "accepted"})
                deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
                while True:
                    metrics = get(url + "/metrics", token)[1]
                    processed = metric_sum(metrics, "kledger_events_processed_total")
                    if processed >= accepted or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                time.sleep(1)  # anything more still arriving would be a refused request's
                processed = metric_sum(get(url + "/metrics", token)[1],
                                       "kledger_events_processed_total")
                print(f"http fuzz: {requests} requests generated; {accepted} commands accepted, "
                      f"{appended} events appended, {processed} processed", flush=True)
                if appended != accepted:
                    failures.append(f"the command side appended {appended} events but accepted "
                                    f"{accepted} commands: a refused request appended")
                if processed != accepted:
                    failures.append(f"the processor processed {processed} events but {accepted} "
                                    f"commands were accepted")
            if requests == 0:
                failures.append("schemathesis sent no request")
        finally:
            dev.terminate()
            try:
                code = dev.wait(timeout=20)
                if code != 0:
                    failures.append(f"kledger dev exited {code} on SIGTERM")
            except subprocess.TimeoutExpired:
                dev.kill()
                failures.append("kledger dev did not stop within 20 s of SIGTERM")
            if failures:
                with open(os.path.join(tmp, "kledger-dev.log")) as f:
                    sys.stdout.write("--- kledger dev log (tail)\n" + f.read()[-4000:])

    seconds = time.monotonic() - started
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"http fuzz: {'FAILED' if failures else 'passed'} in {seconds:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
