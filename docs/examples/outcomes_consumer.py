#!/usr/bin/env python3
"""A downstream consumer of kledger's outcome stream (docs/outcomes.md), in Python.

Reads <prefix>.outcomes in a consumer group of its own with isolation.level=read_committed,
decodes each value as a kledger.v1.OutcomeRecord and prints one line per outcome; at the end, a
count per outcome on stderr. Offsets are committed after the records they cover are handled, so a
consumer that crashes sees again at most what it handled since its last commit: the pair
(source_partition, source_offset) is unique per outcome, and a consumer that keeps the last one it
handled per partition with its own state (here: in memory) skips what it has seen.

Set-up (protoc 3.21, Debian 12's, generates code for the protobuf 4.21 runtime):

    python3 -m venv /tmp/kledger-py
    /tmp/kledger-py/bin/pip install -r docs/examples/requirements.txt
    mkdir -p /tmp/kledger-gen
    protoc -I event-schemas --python_out=/tmp/kledger-gen event-schemas/kledger/v1/*.proto
    PYTHONPATH=/tmp/kledger-gen /tmp/kledger-py/bin/python docs/examples/outcomes_consumer.py \
        --bootstrap HOST:PORT --from-beginning
"""
import argparse
import collections
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException
from google.protobuf.message import DecodeError

from kledger.v1 import api_pb2, outcomes_pb2


def describe(record: outcomes_pb2.OutcomeRecord) -> str:
    """One line: where the event is in <prefix>.events, what it was, what became of it."""
    line = (f"p{record.source_partition} @{record.source_offset} {record.instance_id or '-'} "
            f"{record.event_type or '-'} {record.event_id or '-'} "
            f"{api_pb2.Outcome.Name(record.outcome)}")
    if record.reason:
        line += f" {record.reason}"
    if record.outcome == api_pb2.APPLIED and record.HasField("transaction"):
        t = record.transaction
        line += f" {t.source}/{t.source_idempk}"
    # Each account whose balances the event moved, as they are after it (minor units, signed in
    # the account's normal direction).
    for moved in record.balances:
        line += f" {moved.address}={moved.balances.posted.amount} {moved.currency}"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic-prefix", default="kledger", help="topics are PREFIX.outcomes, ...")
    parser.add_argument("--group", default="outcomes-consumer-example",
                        help="this consumer's own group id (never a processor's)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="a new group starts at the first record (default: only new ones)")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="stop once every assigned partition is read to its end")
    parser.add_argument("-X", dest="properties", action="append", default=[],
                        metavar="KEY=VALUE", help="a librdkafka property, repeatable")
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        # The processors publish in Kafka transactions: only committed records are outcomes.
        "isolation.level": "read_committed",
        # Offsets are committed by hand, after the records they cover are handled.
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        # Tells when a partition is read to its end (for --exit-at-end).
        "enable.partition.eof": True,
        **dict(p.split("=", 1) for p in args.properties),
    })
    consumer.subscribe([f"{args.topic_prefix}.outcomes"])

    last_handled = {}  # source partition -> the last source offset handled
    counts = collections.Counter()
    at_end = set()
    try:
        while True:
            messages = consumer.consume(num_messages=500, timeout=1.0)
            consumed = False
            for message in messages:
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                        continue
                    raise KafkaException(message.error())
                at_end.discard(message.partition())
                consumed = True
                record = outcomes_pb2.OutcomeRecord()
                try:
                    record.ParseFromString(message.value())
                except DecodeError:  # not an OutcomeRecord: say so, go on
                    print(f"warning: {message.partition()}:{message.offset()} is not an "
                          "OutcomeRecord; skipped", file=sys.stderr)
                    continue
                if record.source_offset <= last_handled.get(record.source_partition, -1):
                    continue  # replayed after a restart: handled already
                print(describe(record))
                counts[api_pb2.Outcome.Name(record.outcome)] += 1
                last_handled[record.source_partition] = record.source_offset
            if consumed:
                # Everything returned so far is handled: commit the positions past it.
                consumer.commit(asynchronous=False)
            assignment = consumer.assignment()
            if args.exit_at_end and assignment and all(tp.partition in at_end
                                                       for tp in assignment):
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    summary = ", ".join(f"{name.lower()} {n}" for name, n in sorted(counts.items()))
    print(f"{sum(counts.values())} outcomes: {summary or 'none'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
