#!/usr/bin/env python3
"""Checks deploy/'s compose file and Kubernetes manifests without a cluster.

Every file must parse as YAML; every image must be pinned and be one of the images deploy/
documents (the kledger image must be built by deploy/Dockerfile); every `kledger` command line
and KLEDGER_* variable must name a flag of the binary (per its --help); every port must agree
between the --http flag, the container, the probes, the Services and the Prometheus targets; and
each Service / PodDisruptionBudget must select a workload. Offline: it cannot ask a registry
whether an image exists, so third-party images are checked against the pinned list below, which
deploy/README.md names. The Kafka image's version is the one the tests run (scripts/kafka/pom.xml).

usage: manifests_test.py KLEDGER_BINARY DEPLOY_DIR
"""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

POM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "kafka",
                   "pom.xml")
KAFKA_VERSION = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", open(POM).read()).group(1)
THIRD_PARTY_IMAGES = {f"apache/kafka:{KAFKA_VERSION}", "prom/prometheus:v2.53.0",
                      "grafana/grafana:10.4.2"}
KLEDGER_IMAGE = re.compile(r"^kledger:\d+\.\d+\.\d+$")

failures = []
_help = {}


def fail(msg):
    failures.append(msg)


def help_text(kledger, sub):
    """`kledger [SUB...] --help`; `sub` is None, a subcommand or a tuple of nested ones."""
    path = () if sub is None else (sub,) if isinstance(sub, str) else tuple(sub)
    if path not in _help:
        args = [kledger, *path, "--help"]
        _help[path] = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
    return _help[path]


def subcommands(kledger, path):
    """The subcommands `kledger PATH --help` lists."""
    text = help_text(kledger, path).split("Subcommands:", 1)
    return re.findall(r"^  (\w+) ", text[1], re.M) if len(text) == 2 else []


def known_flags(kledger, path):
    text = help_text(kledger, None) + "".join(
        help_text(kledger, path[:n]) for n in range(1, len(path) + 1))
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))


def known_env(kledger):
    paths, todo = [], [()]
    while todo:
        path = todo.pop()
        paths.append(path)
        todo += [path + (s,) for s in subcommands(kledger, path)]
    return {e for p in paths for e in re.findall(r"Env:(KLEDGER_\w+)", help_text(kledger, p))}


def check_kledger_args(kledger, where, args):
    """Checks a kledger command line (subcommands first, e.g. `topics create`); returns its --http
    port or None."""
    path = ()
    while len(path) < len(args) and args[len(path)] in subcommands(kledger, path):
        path += (args[len(path)],)
    needs_more = re.search(r"^Usage: .* SUBCOMMAND$", help_text(kledger, path), re.M)
    if not path or needs_more:
        fail(f"{where}: unknown or incomplete kledger subcommand '{' '.join(args[:len(path) + 1])}'")
        return None
    flags = known_flags(kledger, path)
    port = None
    for i, arg in enumerate(args[len(path):], start=len(path)):
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            if name not in flags:
                fail(f"{where}: kledger {' '.join(path)} has no flag {name}")
        if args[i - 1] == "--http":
            port = int(arg.rsplit(":", 1)[1])
    return port


def check_image(where, image, kledger_built=True):
    if KLEDGER_IMAGE.match(image):
        if not kledger_built:
            fail(f"{where}: {image} is built by deploy/Dockerfile, but nothing here builds it")
    elif image not in THIRD_PARTY_IMAGES:
        fail(f"{where}: image {image} is not one of the pinned images {sorted(THIRD_PARTY_IMAGES)}")


def check_env(kledger, where, names):
    for name in names:
        if name.startswith("KLEDGER_") and name not in known_env(kledger):
            fail(f"{where}: {name} is no kledger flag's environment variable")


def check_compose(kledger, deploy):
    path = os.path.join(deploy, "compose", "docker-compose.yml")
    with open(path) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    http_ports = {}
    for name, svc in services.items():
        where = f"compose service {name}"
        build = svc.get("build")
        if build:
            dockerfile = os.path.normpath(os.path.join(os.path.dirname(path), build["context"],
                                                       build["dockerfile"]))
            if not os.path.isfile(dockerfile):
                fail(f"{where}: build names {dockerfile}, which does not exist")
        check_image(where, svc["image"], kledger_built=bool(build))
        check_env(kledger, where, (svc.get("environment") or {}).keys())
        for dep in svc.get("depends_on") or []:
            if dep not in services:
                fail(f"{where}: depends on unknown service {dep}")
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                if not os.path.exists(os.path.join(os.path.dirname(path), source)):
                    fail(f"{where}: mounts {source}, which does not exist")
            elif source not in (compose.get("volumes") or {}):
                fail(f"{where}: volume {source} is not declared")
        if not KLEDGER_IMAGE.match(svc["image"]):
            continue
        port = check_kledger_args(kledger, where, svc["command"])
        if port is None:
            # A one-shot job (`topics create`) serves nothing; anything else must serve.
            if svc.get("restart") != "no":
                fail(f"{where}: runs until stopped but serves no --http")
            continue
        http_ports[name] = port
        published = [int(str(p).rsplit(":", 1)[1]) for p in svc.get("ports", [])]
        if published and port not in published:
            fail(f"{where}: publishes container ports {published} but serves on {port}")
        health = " ".join(svc.get("healthcheck", {}).get("test", []))
        for probe_port in re.findall(r"localhost:(\d+)/", health):
            if int(probe_port) != port:
                fail(f"{where}: health check probes port {probe_port}, kledger serves on {port}")
        # Static membership: each processor its own group.instance.id.
        if svc["command"][0] == "processor":
            if f"group.instance.id={name}" not in svc["command"]:
                fail(f"{where}: expected -X group.instance.id={name}")

    with open(os.path.join(deploy, "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    for job in prom["scrape_configs"]:
        for sc in job["static_configs"]:
            for target in sc["targets"]:
                host, port = target.rsplit(":", 1)
                if host not in http_ports:
                    fail(f"prometheus job {job['job_name']}: target {target} is no kledger service")
                elif http_ports[host] != int(port):
                    fail(f"prometheus job {job['job_name']}: {target}, but {host} serves on "
                         f"{http_ports[host]}")
    scraped = {t.rsplit(":", 1)[0] for j in prom["scrape_configs"] for s in j["static_configs"]
               for t in s["targets"]}
    for name in http_ports:
        if name not in scraped:
            fail(f"prometheus.yml does not scrape compose service {name}")
    print(f"compose: {len(services)} services checked")


def pod_spec(doc):
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def check_k8s(kledger, deploy):
    docs = []
    for path in sorted(glob.glob(os.path.join(deploy, "k8s", "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    for key in ("apiVersion", "kind", "metadata"):
                        if key not in doc:
                            fail(f"{path}: a document has no {key}")
                    docs.append((os.path.basename(path), doc))
    if not docs:
        fail("deploy/k8s holds no manifests")
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for _, d in docs
                  if d["kind"] == "ConfigMap"}
    workloads = []  # (labels, container ports)
    for path, doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = f"{path} {doc['kind']} {doc['metadata']['name']}"
        labels = doc["spec"]["template"].get("metadata", {}).get("labels", {})
        if doc["kind"] != "Job":
            selector = doc["spec"]["selector"]["matchLabels"]
            if any(labels.get(k) != v for k, v in selector.items()):
                fail(f"{where}: selector {selector} does not match its pod labels {labels}")
        ports = set()
        volumes = {v["name"] for v in spec.get("volumes", [])}
        volumes |= {t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"]:
            cwhere = f"{where} container {c['name']}"
            check_image(cwhere, c["image"])
            env = {e["name"] for e in c.get("env", [])}
            for ref in c.get("envFrom", []):
                name = ref.get("configMapRef", {}).get("name")
                if name not in configmaps:
                    fail(f"{cwhere}: envFrom names unknown ConfigMap {name}")
                else:
                    env |= set(configmaps[name])
            check_env(kledger, cwhere, env)
            cports = {p["containerPort"] for p in c.get("ports", [])}
            ports |= cports
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in c and c[probe]["httpGet"]["port"] not in cports:
                    fail(f"{cwhere}: {probe} port {c[probe]['httpGet']['port']} is not a "
                         f"container port {sorted(cports)}")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    fail(f"{cwhere}: mounts unknown volume {m['name']}")
            args = c.get("args", [])
            for var in re.findall(r"\$\((\w+)\)", " ".join(args)):
                if var not in env:
                    fail(f"{cwhere}: args use $({var}), which the container does not define")
            if KLEDGER_IMAGE.match(c["image"]):
                port = check_kledger_args(kledger, cwhere, args)
                if doc["kind"] == "Job":
                    continue  # one-shot (`topics create`): no port, no probes
                if port not in cports:
                    fail(f"{cwhere}: kledger serves on {port}, container ports {sorted(cports)}")
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in c:
                        fail(f"{cwhere}: no {probe}")
                if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                    fail(f"{cwhere}: readinessProbe should GET /readyz")
                if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                    fail(f"{cwhere}: livenessProbe should GET /healthz")
                if doc["kind"] == "StatefulSet" and \
                        "group.instance.id=$(POD_NAME)" not in args:
                    fail(f"{cwhere}: a processor StatefulSet needs -X group.instance.id=$(POD_NAME)")
        workloads.append((labels, ports))

    for path, doc in docs:
        where = f"{path} {doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"]
        elif doc["kind"] == "PodDisruptionBudget":
            selector = doc["spec"]["selector"]["matchLabels"]
        else:
            continue
        selected = [p for labels, p in workloads
                    if all(labels.get(k) == v for k, v in selector.items())]
        if not selected:
            fail(f"{where}: selects no workload ({selector})")
        for port in doc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            if not any(target in p for p in selected):
                fail(f"{where}: targetPort {target} is no container port of what it selects")
    print(f"k8s: {len(docs)} documents checked")


def main():
    kledger, deploy = sys.argv[1:3]
    check_compose(kledger, deploy)
    check_k8s(kledger, deploy)
    with open(os.path.join(deploy, "grafana", "kledger-dashboard.json")) as f:
        json.load(f)
    with open(os.path.join(deploy, "README.md")) as f:
        readme = f.read()
    for image in THIRD_PARTY_IMAGES:
        if image not in readme:
            fail(f"deploy/README.md does not name the image {image}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
