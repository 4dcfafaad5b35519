#!/usr/bin/env python3
"""A local Apache Kafka cluster on loopback, for tests, `kledger dev`, the benchmark and people.

The broker comes from Maven Central (scripts/kafka/pom.xml pins the version) and runs as plain
JVM processes in KRaft mode: every node is broker and controller at once. A cluster lives in one
directory: each node's properties, data and log under node-N/, and cluster.json with its ports,
process ids and bootstrap address. Settings are light enough for a 2-core machine.

    cluster.py fetch [--version V]              download the broker jars once (cached)
    cluster.py start --dir D [--nodes 1|3]      format (first time only), start, wait until ready,
                                                print bootstrap=HOST:PORT,...; the JVMs stay up
    cluster.py run --dir D [...]                start, then stay in the foreground until Ctrl-C
    cluster.py stop --dir D [--delete[-data]]   SIGTERM every node (SIGKILL after --timeout)
    cluster.py kill --dir D --node N            SIGKILL one node's JVM (chaos)
    cluster.py start-node --dir D --node N      start one stopped node again, wait for it
    cluster.py controller --dir D               print the node id of the active controller
    cluster.py bootstrap --dir D                print bootstrap=..., and nodes=N
    cluster.py status --dir D                   print cluster.json with each node's liveness

A cluster directory that already holds a formatted cluster is started again as it was (its logs
are kept), so `start` after `stop` resumes with every record. Environment: KLEDGER_KAFKA_VERSION
(default: the pom's), KLEDGER_KAFKA_CACHE (default ~/.cache/kledger/kafka), JAVA (default java),
KLEDGER_KAFKA_JVM_OPTS (more JVM flags, split as a shell would, for every JVM this starts: the
nodes and the storage format; after the defaults of jvm_command, which they override: e.g.
"-Xmx1024m" or another collector, "-XX:-UseG1GC -XX:+UseParallelGC").
"""

import argparse
import base64
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
POM = HERE / "pom.xml"


def pinned_version():
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    return match.group(1)


def cache_root():
    default = pathlib.Path.home() / ".cache" / "kledger" / "kafka"
    return pathlib.Path(os.environ.get("KLEDGER_KAFKA_CACHE", default))


def java():
    return os.environ.get("JAVA", "java")


def log(message):
    print(f"kafka: {message}", file=sys.stderr, flush=True)


def die(message):
    log(message)
    sys.exit(1)


# ---- fetch ----------------------------------------------------------------------------------

def fetch(version):
    """The directory of the broker's jars for `version`, downloaded by Maven the first time."""
    libs = cache_root() / version / "libs"
    done = libs.parent / "complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        die("mvn not found: run scripts/setup.sh (it installs Maven and OpenJDK 17)")
    log(f"fetching Apache Kafka {version} from Maven Central into {libs} (once per machine)")
    shutil.rmtree(libs, ignore_errors=True)
    libs.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-Dkafka.version={version}", f"-Dkafka.libs={libs}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        die(f"Maven could not fetch org.apache.kafka:kafka_2.13:{version}:\n{result.stdout[-3000:]}")
    done.write_text(version + "\n")
    return libs


# ---- configuration ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_cluster_id():
    # Kafka's Uuid.randomUuid(): URL-safe base64 of 16 random bytes, never starting with '-'.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def node_properties(cluster, node):
    n = len(cluster["nodes"])
    me = cluster["nodes"][str(node)]
    voters = ",".join(f"{i}@127.0.0.1:{v['controller_port']}" for i, v in cluster["nodes"].items())
    listeners = [f"PLAINTEXT://127.0.0.1:{me['port']}", f"CONTROLLER://127.0.0.1:{me['controller_port']}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{me['port']}"]
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    props = {
        "process.roles": "broker,controller",
        "node.id": node,
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(pathlib.Path(cluster["dir"]) / f"node-{node}" / "data"),
        # Topics come from `kledger topics create`, never from a client's typo.
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": min(3, n),
        "min.insync.replicas": min(2, n),
        "offsets.topic.replication.factor": min(3, n),
        "offsets.topic.num.partitions": 8,
        "transaction.state.log.replication.factor": min(3, n),
        "transaction.state.log.min.isr": min(2, n),
        "transaction.state.log.num.partitions": 8,
        "unclean.leader.election.enable": "false",
        "group.initial.rebalance.delay.ms": 0,
        # Light on a 2-core machine.
        "num.network.threads": 2,
        "num.io.threads": 2,
        "background.threads": 2,
        "num.replica.fetchers": 1,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.threads": 1,
        "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
        "log.retention.check.interval.ms": cluster["retention_check_ms"],
        # Fail over within seconds when a node dies (tests kill them).
        "replica.lag.time.max.ms": 10000,
        "broker.session.timeout.ms": 6000,
        "broker.heartbeat.interval.ms": 1000,
        "controller.quorum.election.timeout.ms": 1000,
        "controller.quorum.fetch.timeout.ms": 2000,
    }
    sasl = cluster.get("sasl_ssl")
    if sasl:
        listeners.append(f"SASL_SSL://127.0.0.1:{me['sasl_ssl_port']}")
        advertised.append(f"SASL_SSL://127.0.0.1:{me['sasl_ssl_port']}")
        protocols += ",SASL_SSL:SASL_SSL"
        users = " ".join(f'user_{u}="{p}"' for u, p in sasl["users"].items())
        props.update({
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required " + users + ";",
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": sasl["keystore"],
        })
    props["listeners"] = ",".join(listeners)
    props["advertised.listeners"] = ",".join(advertised)
    props["listener.security.protocol.map"] = protocols
    props.update(cluster.get("overrides", {}))
    return "".join(f"{k}={v}\n" for k, v in props.items())


def jvm_command(cluster, main_class, *args):
    libs = fetch(cluster["version"])
    return [java(), f"-Xms{cluster['heap_mb'] // 2}m", f"-Xmx{cluster['heap_mb']}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:ParallelGCThreads=1",
            "-XX:ConcGCThreads=1", "-XX:CICompilerCount=2", "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn",
            *shlex.split(os.environ.get("KLEDGER_KAFKA_JVM_OPTS", "")),
            "-cp", f"{libs}/*", main_class, *args]


def cluster_file(directory):
    return pathlib.Path(directory) / "cluster.json"


def load(directory):
    path = cluster_file(directory)
    if not path.exists():
        die(f"{directory} holds no cluster (no cluster.json): start one with `start --dir {directory}`")
    return json.loads(path.read_text())


def save(cluster):
    path = cluster_file(cluster["dir"])
    path.write_text(json.dumps(cluster, indent=2) + "\n")


def bootstrap(cluster, listener="port"):
    return ",".join(f"127.0.0.1:{v[listener]}" for v in cluster["nodes"].values())


# ---- processes --------------------------------------------------------------------------------

def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def node_dir(cluster, node):
    return pathlib.Path(cluster["dir"]) / f"node-{node}"


def format_nodes(cluster):
    procs = []
    for node in cluster["nodes"]:
        d = node_dir(cluster, node)
        if (d / "data" / "meta.properties").exists():
            continue
        out = open(d / "format.log", "w")
        procs.append((node, out, subprocess.Popen(
            jvm_command(cluster, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                        "-t", cluster["cluster_id"], "-c", str(d / "server.properties")),
            stdout=out, stderr=subprocess.STDOUT)))
    for node, out, p in procs:
        if p.wait() != 0:
            out.close()
            die(f"formatting node {node} failed: {(node_dir(cluster, node) / 'format.log').read_text()[-2000:]}")
        out.close()


def start_node(cluster, node):
    d = node_dir(cluster, node)
    me = cluster["nodes"][str(node)]
    if alive(me.get("pid")):
        return
    (d / "server.properties").write_text(node_properties(cluster, int(node)))
    logfile = open(d / "server.log", "a")
    p = subprocess.Popen(jvm_command(cluster, "kafka.Kafka", str(d / "server.properties")),
                         stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    logfile.close()
    me["pid"] = p.pid
    me["log_offset"] = (d / "server.log").stat().st_size
    save(cluster)


def node_started(cluster, node):
    """True once node's log says the server started, since its latest start."""
    me = cluster["nodes"][str(node)]
    path = node_dir(cluster, node) / "server.log"
    with open(path, "rb") as f:
        f.seek(me.get("log_offset", 0))
        return b"Kafka Server started" in f.read()


def wait_ready(cluster, nodes, timeout):
    deadline = time.monotonic() + timeout
    pending = set(str(n) for n in nodes)
    while pending:
        for node in list(pending):
            pid = cluster["nodes"][node]["pid"]
            if not alive(pid):
                tail = (node_dir(cluster, node) / "server.log").read_text(errors="replace")[-3000:]
                die(f"node {node} (pid {pid}) exited while starting; its log ends:\n{tail}")
            if node_started(cluster, node):
                pending.discard(node)
        if pending and time.monotonic() > deadline:
            die(f"node(s) {sorted(pending)} not started within {timeout} s; logs in {cluster['dir']}")
        time.sleep(0.2)
    # Started nodes may still be registering with the controller: wait until metadata lists them.
    want = len([n for n, v in cluster["nodes"].items() if alive(v.get("pid"))])
    while True:
        brokers = metadata_brokers(cluster)
        if brokers is not None and brokers >= want:
            return
        if time.monotonic() > deadline:
            die(f"metadata lists {brokers} of {want} live brokers after {timeout} s")
        time.sleep(0.3)


def metadata_brokers(cluster):
    live = [v for v in cluster["nodes"].values() if alive(v.get("pid"))]
    if not live or shutil.which("kcat") is None:
        return None
    try:
        out = subprocess.run(["kcat", "-b", ",".join(f"127.0.0.1:{v['port']}" for v in live),
                              "-L", "-J", "-m", "3"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    try:
        return len(json.loads(out.stdout).get("brokers", []))
    except json.JSONDecodeError:
        return None


def stop_nodes(cluster, nodes, timeout):
    for node in nodes:
        pid = cluster["nodes"][str(node)].get("pid")
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for node in nodes:
        pid = cluster["nodes"][str(node)].get("pid")
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            log(f"node {node} (pid {pid}) still running after {timeout} s: SIGKILL")
            os.kill(pid, signal.SIGKILL)
        cluster["nodes"][str(node)]["pid"] = None
    save(cluster)


def active_controller(cluster):
    """The quorum leader, from the freshest quorum-state file of a live node, or None."""
    best = None
    for node, v in cluster["nodes"].items():
        if not alive(v.get("pid")):
            continue
        path = node_dir(cluster, node) / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        epoch, leader = state.get("leaderEpoch", -1), state.get("leaderId", -1)
        if leader >= 0 and (best is None or epoch > best[0]):
            best = (epoch, leader)
    if best is None or not alive(cluster["nodes"].get(str(best[1]), {}).get("pid")):
        return None
    return best[1]


def watch_owner(cluster, owner_pid):
    """Forks a watcher that stops the cluster once `owner_pid` is gone (a test that crashed)."""
    if os.fork() != 0:
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while alive(owner_pid):
        time.sleep(0.5)
        if not cluster_file(cluster["dir"]).exists():
            os._exit(0)
    try:
        current = load(cluster["dir"])
        stop_nodes(current, list(current["nodes"]), 10)
    finally:
        os._exit(0)


# ---- commands ---------------------------------------------------------------------------------

def pairs(items, separator, usage):
    """`items` of the form KEY<separator>VALUE as a dict; a clear error for any other form."""
    out = {}
    for item in items:
        key, sep, value = item.partition(separator)
        if not key or not sep:
            die(f"{item!r} is not of the form {usage.split(' ', 1)[1]} ({usage})")
        out[key] = value
    return out


def cmd_start(args, foreground=False):
    directory = pathlib.Path(args.dir).resolve()
    if args.fresh and directory.exists():
        if cluster_file(directory).exists():
            old = load(directory)
            stop_nodes(old, list(old["nodes"]), 10)
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if cluster_file(directory).exists():
        cluster = load(directory)
        if any(alive(v.get("pid")) for v in cluster["nodes"].values()):
            die(f"a cluster already runs in {directory}: bootstrap={bootstrap(cluster)}")
        log(f"starting the existing {len(cluster['nodes'])}-node cluster in {directory}")
    else:
        cluster = {
            "dir": str(directory),
            "version": args.version,
            "cluster_id": random_cluster_id(),
            "heap_mb": args.heap_mb,
            "retention_check_ms": args.retention_check_ms,
            "overrides": pairs(args.override, "=", "--override KEY=VALUE"),
            "nodes": {},
        }
        for node in range(1, args.nodes + 1):
            ports = {"port": free_port(), "controller_port": free_port(), "pid": None}
            if args.sasl_ssl_keystore:
                ports["sasl_ssl_port"] = free_port()
            cluster["nodes"][str(node)] = ports
            (directory / f"node-{node}").mkdir(exist_ok=True)
        if args.sasl_ssl_keystore:
            users = pairs(args.sasl_user, ":", "--sasl-user NAME:PASSWORD")
            if not users:
                die("--sasl-ssl-keystore needs at least one --sasl-user NAME:PASSWORD")
            cluster["sasl_ssl"] = {"keystore": str(pathlib.Path(args.sasl_ssl_keystore).resolve()),
                                   "users": users}
        for node in cluster["nodes"]:
            (node_dir(cluster, node) / "server.properties").write_text(
                node_properties(cluster, int(node)))
        save(cluster)
        log(f"formatting a {args.nodes}-node KRaft cluster (Kafka {args.version}) in {directory}")
    format_nodes(cluster)  # nodes formatted by an earlier start are left as they are
    started = time.monotonic()
    try:
        for node in cluster["nodes"]:
            start_node(cluster, node)
        wait_ready(cluster, list(cluster["nodes"]), args.timeout)
    except SystemExit:
        # A cluster that did not come up whole is stopped, not left half running.
        stop_nodes(cluster, list(cluster["nodes"]), 10)
        raise
    log(f"ready in {time.monotonic() - started:.1f} s; logs under {directory}/node-*/server.log")
    if args.owner_pid:
        watch_owner(cluster, args.owner_pid)
    print(f"bootstrap={bootstrap(cluster)}", flush=True)
    if cluster.get("sasl_ssl"):
        print(f"sasl_ssl_bootstrap={bootstrap(cluster, 'sasl_ssl_port')}", flush=True)
    if not foreground:
        return
    log("running; Ctrl-C stops the cluster (its data stays for the next start)")
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.5)
    stop_nodes(cluster, list(cluster["nodes"]), args.timeout)
    log("stopped")


def cmd_stop(args):
    if not cluster_file(args.dir).exists():
        return
    cluster = load(args.dir)
    stop_nodes(cluster, list(cluster["nodes"]), args.timeout)
    if args.delete:
        shutil.rmtree(cluster["dir"])
    elif args.delete_data:
        for node in cluster["nodes"]:
            shutil.rmtree(node_dir(cluster, node) / "data", ignore_errors=True)


def cmd_kill(args):
    cluster = load(args.dir)
    pid = cluster["nodes"][str(args.node)].get("pid")
    if not alive(pid):
        die(f"node {args.node} is not running")
    os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.05)
    cluster["nodes"][str(args.node)]["pid"] = None
    save(cluster)


def cmd_start_node(args):
    cluster = load(args.dir)
    start_node(cluster, str(args.node))
    wait_ready(cluster, [str(args.node)], args.timeout)


def cmd_controller(args):
    leader = active_controller(load(args.dir))
    if leader is None:
        die("no live node knows an active controller")
    print(leader)


def cmd_bootstrap(args):
    cluster = load(args.dir)
    if not any(alive(v.get("pid")) for v in cluster["nodes"].values()):
        die(f"no node of the cluster in {args.dir} is running")
    print(f"bootstrap={bootstrap(cluster)}")
    if cluster.get("sasl_ssl"):
        print(f"sasl_ssl_bootstrap={bootstrap(cluster, 'sasl_ssl_port')}")
    print(f"nodes={len(cluster['nodes'])}")


def cmd_status(args):
    cluster = load(args.dir)
    for v in cluster["nodes"].values():
        v["alive"] = alive(v.get("pid"))
    cluster["bootstrap"] = bootstrap(cluster)
    cluster["active_controller"] = active_controller(cluster)
    print(json.dumps(cluster, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    version = os.environ.get("KLEDGER_KAFKA_VERSION") or pinned_version()

    p = sub.add_parser("fetch", help="download the broker jars (cached)")
    p.add_argument("--version", default=version)
    for name in ("start", "run"):
        p = sub.add_parser(name, help="start a cluster" + (" in the foreground" if name == "run" else ""))
        p.add_argument("--dir", required=True, help="the cluster's directory (kept across starts)")
        p.add_argument("--nodes", type=int, default=1, choices=[1, 3])
        p.add_argument("--version", default=version, help="Kafka version (default %(default)s)")
        p.add_argument("--heap-mb", type=int, default=512, help="JVM heap per node")
        p.add_argument("--timeout", type=float, default=90, help="seconds to wait for readiness")
        p.add_argument("--retention-check-ms", type=int, default=300000,
                       help="log.retention.check.interval.ms (tests of retention lower it)")
        p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                       help="a broker property for every node (first start only)")
        p.add_argument("--sasl-ssl-keystore", metavar="PEM",
                       help="add a SASL_SSL listener (PLAIN) with this PEM key and certificate")
        p.add_argument("--sasl-user", action="append", default=[], metavar="NAME:PASSWORD")
        p.add_argument("--owner-pid", type=int, help="stop the cluster when this process is gone")
        p.add_argument("--fresh", action="store_true",
                       help="stop a cluster left in --dir and delete the directory first")
    for name in ("stop", "kill", "start-node", "controller", "bootstrap", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True)
        if name == "stop":
            p.add_argument("--delete", action="store_true", help="then delete the directory")
            p.add_argument("--delete-data", action="store_true",
                           help="then delete the nodes' data, keeping their logs")
        if name in ("kill", "start-node"):
            p.add_argument("--node", type=int, required=True)
        p.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()

    if args.command == "fetch":
        print(fetch(args.version))
    elif args.command == "start":
        cmd_start(args)
    elif args.command == "run":
        cmd_start(args, foreground=True)
    else:
        {"stop": cmd_stop, "kill": cmd_kill, "start-node": cmd_start_node,
         "controller": cmd_controller, "bootstrap": cmd_bootstrap,
         "status": cmd_status}[args.command](args)


if __name__ == "__main__":
    main()
