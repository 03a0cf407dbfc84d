"""Is an acked partition the replay did not find gone, or only unknown to the broker it asked?

The replay learns a cluster's topics from one metadata answer (librdkafka asks one broker). One
broker's word is not enough to judge every ack of a partition `lost`: on Tansu each broker has
its own view of the topics in the shared store, and a freshly created topic can be unknown to
one of them for a while (a CI run judged all 300 acked records of a partition lost, high
watermark 0, on one such answer). So before anything is judged, every broker of the cluster is
asked about the missing partitions' topics (a Metadata request on a plain socket, topic
creation off), in up to CONFIRM_ROUNDS rounds within CONFIRM_DEADLINE_S:

- gone: every broker that answered, in every round, said the topic does not exist
  (UNKNOWN_TOPIC_OR_PARTITION) or has no such partition: its acks are `lost`;
- disputed: some broker knows it (serves the partition, or knows the topic but answers it with
  an error of its own): `unreadable`, it exists somewhere and was not read;
- unanswered: no broker answered: `unreadable`.

A broker that does not answer is left out (a broker killed by the drill may still be down); a
disputed partition is not asked again. `judge` is the decision, a pure function of the answers;
`confirm_absent` asks the rounds; `ask_metadata` is the network. This costs nothing when the
replay found every acked partition, and at most the deadline (plus one ask's timeout) when not.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from riftdrill.inventory import Inventory
from riftdrill.security.client import OFF, ClientSecurity, client_security
from riftdrill.verify.check import Absence
from riftdrill.verify.fetch import Connection, FetchFailed, api_versions

API_METADATA = 3
METADATA_MIN_VERSION, METADATA_MAX_VERSION = 4, 8  # the non-flexible versions parse_metadata reads
UNKNOWN_TOPIC_OR_PARTITION = 3
CONFIRM_ROUNDS = 3  # rounds of asking every broker
CONFIRM_DEADLINE_S = 5.0  # no round starts after this
CONFIRM_INTERVAL_S = 1.0  # between rounds: time for a broker's view of the store to catch up
ASK_TIMEOUT_S = 2.0  # connect and each read of one broker's answer

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TopicView:
    """One broker's metadata of one topic: its error code (0: none) and its partitions."""

    error: int = 0
    partitions: frozenset[int] = frozenset()


# What one broker answered about the topics asked (topic -> view), or why it did not answer.
BrokerAnswer = Mapping[str, TopicView] | str
# Ask one broker (by name) about some topics; raises when it does not answer.
Ask = Callable[[str, Sequence[str]], Mapping[str, TopicView]]
# The verifier's question: cluster, acked partitions the replay did not find -> the decision.
Presence = Callable[[str, Collection[TopicPartition]], dict[TopicPartition, Absence]]


def _says_gone(view: TopicView, partition: int) -> bool:
    return view.error == UNKNOWN_TOPIC_OR_PARTITION or (
        view.error == 0 and partition not in view.partitions)


def _knows(view: TopicView) -> str:
    return "serves it" if view.error == 0 else f"knows the topic (error code {view.error})"


def judge(tp: TopicPartition, rounds: Sequence[Mapping[str, BrokerAnswer]]) -> Absence:
    """Gone only if every broker that answered, in every round, said so; else not judged."""
    topic, partition = tp
    name = f"{topic}[{partition}]"
    gone: set[str] = set()
    knows: dict[str, str] = {}
    silent: dict[str, str] = {}
    for answers in rounds:
        for broker, answer in answers.items():
            if isinstance(answer, str):
                silent[broker] = answer
                continue
            view = answer.get(topic)
            if view is None:
                continue  # not asked about it in this round
            if _says_gone(view, partition):
                gone.add(broker)
            else:
                knows.setdefault(broker, _knows(view))
    never = {b: why for b, why in sorted(silent.items()) if b not in gone and b not in knows}
    if knows:
        said = ", ".join(f"{b} {what}" for b, what in sorted(knows.items()))
        others = f"; {', '.join(sorted(gone))} said it does not exist" if gone else ""
        return Absence(gone=False, reason=f"brokers disagree whether {name} exists: the "
                       f"replay's metadata lacked it, {said}{others}; it was not read")
    if not gone:
        why = "; ".join(f"{b}: {w}" for b, w in never.items()) or (
            "no answer named its topic" if any(a for r in rounds for a in r) else
            "no broker to ask")
        return Absence(gone=False, reason=f"no broker answered whether {name} exists ({why})")
    unanswered = f"; no answer from {', '.join(never)}" if never else ""
    return Absence(gone=True, reason=f"every broker that answered ({', '.join(sorted(gone))}) "
                   f"said {name} does not exist, in {len(rounds)} round(s){unanswered}")


def _ask_all(brokers: Sequence[str], topics: Sequence[str], ask: Ask) -> dict[str, BrokerAnswer]:
    def one(broker: str) -> BrokerAnswer:
        try:
            return dict(ask(broker, topics))
        except Exception as exc:  # any failure of one broker is that broker's silence
            return str(exc) or type(exc).__name__

    with ThreadPoolExecutor(max(1, len(brokers)), thread_name_prefix="rd-presence") as pool:
        return dict(zip(brokers, pool.map(one, brokers), strict=True))


def confirm_absent(missing: Collection[TopicPartition], brokers: Sequence[str], ask: Ask, *,
                   rounds: int = CONFIRM_ROUNDS, deadline_s: float = CONFIRM_DEADLINE_S,
                   interval_s: float = CONFIRM_INTERVAL_S,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> dict[TopicPartition, Absence]:
    """Ask every broker about `missing`, round after round (at most `rounds`, none started after
    `deadline_s`), until every partition is disputed or the rounds are done; then judge each."""
    end = clock() + deadline_s
    history: list[dict[str, BrokerAnswer]] = []
    pending = set(missing)
    for n in range(max(1, rounds)):
        history.append(_ask_all(brokers, sorted({t for t, _ in pending}), ask))
        # A partition some broker knows is decided (disputed): no later round makes it gone.
        pending = {tp for tp in pending if not _known(tp, history)}
        if not pending or not brokers or n + 1 >= rounds or clock() + interval_s > end:
            break
        sleep(interval_s)
    return {tp: judge(tp, history) for tp in missing}


def _known(tp: TopicPartition, rounds: Sequence[Mapping[str, BrokerAnswer]]) -> bool:
    for answers in rounds:
        for answer in answers.values():
            if not isinstance(answer, str):
                view = answer.get(tp[0])
                if view is not None and not _says_gone(view, tp[1]):
                    return True
    return False


def metadata_request(topics: Sequence[str], version: int) -> bytes:
    """A Metadata request body (v4-v8) for `topics`, never creating them."""
    body = struct.pack(">i", len(topics))
    for t in topics:
        raw = t.encode()
        body += struct.pack(">h", len(raw)) + raw
    body += b"\x00"  # allow_auto_topic_creation: false
    if version >= 8:
        body += b"\x00\x00"  # include cluster / topic authorized operations: false
    return body


def parse_metadata(view: memoryview | bytes, version: int) -> dict[str, TopicView]:
    """The topics of a Metadata response body (v4-v8, after the correlation id)."""
    pos = 4  # throttle_time_ms

    def i32() -> int:
        nonlocal pos
        (v,) = struct.unpack_from(">i", view, pos)
        pos += 4
        return int(v)

    def i16() -> int:
        nonlocal pos
        (v,) = struct.unpack_from(">h", view, pos)
        pos += 2
        return int(v)

    def string() -> str:
        nonlocal pos
        n = i16()
        raw = bytes(view[pos : pos + max(n, 0)])
        pos += max(n, 0)
        return raw.decode()

    for _ in range(i32()):  # brokers: node_id, host, port, rack
        i32()
        string()
        i32()
        string()
    string()  # cluster_id
    i32()  # controller_id
    topics: dict[str, TopicView] = {}
    for _ in range(i32()):
        error = i16()
        name = string()
        pos += 1  # is_internal
        partitions: set[int] = set()
        for _ in range(i32()):
            i16()  # the partition's error: it still exists
            partitions.add(i32())
            i32()  # leader
            if version >= 7:
                i32()  # leader epoch
            for _ in range(3 if version >= 5 else 2):  # replicas, isr, offline replicas
                n = max(i32(), 0)  # (read before `pos +=`, which would load pos first)
                pos += 4 * n
        if version >= 8:
            i32()  # topic authorized operations
        topics[name] = TopicView(error=error, partitions=frozenset(partitions))
    return topics


def ask_metadata(host: str, port: int, topics: Sequence[str],
                 timeout_s: float = ASK_TIMEOUT_S,
                 security: ClientSecurity = OFF) -> dict[str, TopicView]:
    """One broker's own view of `topics` (never another broker's: no client library routing).
    Raises FetchFailed (or struct.error on a garbled answer) when it does not answer."""
    conn = Connection(host, port, timeout_s=timeout_s, buffer_bytes=1 << 16, security=security)
    try:
        served = api_versions(conn, API_METADATA)
        if (served is None or served[0] > METADATA_MAX_VERSION
                or served[1] < METADATA_MIN_VERSION):
            raise FetchFailed(f"does not serve Metadata v{METADATA_MIN_VERSION}-"
                              f"v{METADATA_MAX_VERSION} (serves {served})")
        version = min(served[1], METADATA_MAX_VERSION)
        return parse_metadata(conn.request(API_METADATA, version,
                                           metadata_request(topics, version)), version)
    finally:
        conn.close()


def presence_for(inv: Inventory, security: ClientSecurity | None = None) -> Presence:
    """The verifier's default: ask every broker the inventory lists for the cluster, as the
    verifier principal (`security`, default: the inventory's)."""
    reader = security if security is not None else client_security(inv.security, "verifier")

    def presence(cluster: str, missing: Collection[TopicPartition]
                 ) -> dict[TopicPartition, Absence]:
        addresses = {b.name: (b.address, b.port) for b in inv.brokers if b.cluster == cluster}
        return confirm_absent(missing, sorted(addresses),
                              lambda name, topics: ask_metadata(*addresses[name], topics,
                                                                security=reader))

    return presence
