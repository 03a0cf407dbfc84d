"""The compatibility workflows: each a real client interaction, named once for every client.

A workflow's id is its key in every matrix file and in an engine's declarations
(`engines/<engine>.py: COMPAT_UNSUPPORTED`); the area groups the matrix's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Area = Literal["produce", "transactions", "compression", "consume", "groups", "offsets",
               "admin", "storage", "security"]
Client = Literal["librdkafka", "java"]
CLIENTS: tuple[Client, ...] = get_args(Client)


@dataclass(frozen=True)
class Workflow:
    id: str
    area: Area
    title: str


WORKFLOWS: tuple[Workflow, ...] = (
    Workflow("produce-acks-0", "produce", "produce with acks=0, read every record back"),
    Workflow("produce-acks-1", "produce", "produce with acks=1, offsets returned and read back"),
    Workflow("produce-acks-all", "produce", "produce with acks=all, offsets returned and read back"),
    Workflow("idempotent-producer", "produce",
             "enable.idempotence: contiguous offsets, no duplicates"),
    Workflow("keyed-partitioning", "produce", "records of one key land in one partition, in order"),
    Workflow("headers", "produce", "record headers (incl. repeated keys, empty value) round-trip"),
    Workflow("large-message", "produce",
             "a record at the topic's max.message.bytes is accepted, one above it is rejected"),
    Workflow("compression-gzip", "compression", "gzip batches round-trip"),
    Workflow("compression-snappy", "compression", "snappy batches round-trip"),
    Workflow("compression-lz4", "compression", "lz4 batches round-trip"),
    Workflow("compression-zstd", "compression", "zstd batches round-trip"),
    Workflow("transaction-commit", "transactions", "a committed transaction is visible to read_committed"),
    Workflow("transaction-abort", "transactions",
             "an aborted transaction is hidden from read_committed, visible to read_uncommitted"),
    Workflow("read-committed-lso", "transactions",
             "read_committed stops at an open transaction until it commits"),
    Workflow("zombie-fencing", "transactions",
             "a second producer with the same transactional.id fences the first"),
    Workflow("consume-transform-produce", "transactions",
             "offsets sent to a transaction commit with it (exactly-once read-process-write)"),
    Workflow("group-join-leave", "groups",
             "two members share the partitions; one leaves, the other takes all"),
    Workflow("rebalance-eager", "groups", "range assignor: a join revokes and reassigns everything"),
    Workflow("rebalance-cooperative", "groups",
             "cooperative-sticky: a join moves only some partitions, the rest stay"),
    Workflow("static-membership", "groups",
             "group.instance.id: a member that rejoins within the session keeps its partitions"),
    Workflow("admin-groups", "groups", "list, describe and delete a consumer group"),
    Workflow("offset-commit-fetch", "offsets", "commit offsets, a new member resumes from them"),
    Workflow("offset-reset", "offsets",
             "auto.offset.reset earliest/latest, and offsets altered by the admin"),
    Workflow("list-offsets-time", "offsets", "ListOffsets: earliest, latest and by timestamp"),
    Workflow("seek-pause-resume", "consume", "seek back to an offset; pause and resume a partition"),
    Workflow("delete-records", "storage", "DeleteRecords moves the log start offset"),
    Workflow("log-compaction", "storage",
             "cleanup.policy=compact keeps a key's latest value; a keyless record is refused"),
    Workflow("retention", "storage", "retention.ms drops old segments: the log start offset moves"),
    Workflow("admin-topics", "admin", "create and delete a topic; an existing name is refused"),
    Workflow("admin-partitions", "admin", "add partitions to a topic"),
    Workflow("admin-configs", "admin", "describe and incrementally alter topic configs"),
    Workflow("admin-cluster", "admin", "describe the cluster: id, controller, brokers, racks"),
    Workflow("acl-admin", "security", "create, describe and delete ACLs"),
    Workflow("acl-enforcement", "security", "a principal without an ACL is refused; granted, it writes"),
    Workflow("sasl-scram", "security",
             "SASL/SCRAM-SHA-512: the right password authenticates, a wrong one is refused"),
    Workflow("tls", "security", "TLS: the deploy's CA verifies the brokers; plaintext is refused"),
    Workflow("quotas", "security", "a produce quota for a client id is set, described and removed"),
)

WORKFLOW_IDS: tuple[str, ...] = tuple(w.id for w in WORKFLOWS)


def workflow(wid: str) -> Workflow:
    for w in WORKFLOWS:
        if w.id == wid:
            return w
    raise KeyError(wid)
