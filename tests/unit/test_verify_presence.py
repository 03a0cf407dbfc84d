"""An acked partition the replay did not find: gone only when every broker agrees.

The decision is tested on fake broker answers; the wire (ApiVersions + Metadata on a socket)
on a tiny fake broker on 127.0.0.1; the verifier end to end with a fake replay and presence.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from riftdrill.inventory import Broker, Cloud, Cluster, Inventory
from riftdrill.load.fence import FenceSet
from riftdrill.load.ledger import LedgerWriter
from riftdrill.verify import verifier
from riftdrill.verify.check import Absence, PartitionRead
from riftdrill.verify.fetch import FetchFailed
from riftdrill.verify.presence import (
    API_METADATA,
    UNKNOWN_TOPIC_OR_PARTITION,
    TopicView,
    ask_metadata,
    confirm_absent,
    judge,
    presence_for,
)
from riftdrill.verify.report import expand

SERVES = TopicView(error=0, partitions=frozenset({0, 1}))
UNKNOWN = TopicView(error=UNKNOWN_TOPIC_OR_PARTITION)
LEADER_NOT_AVAILABLE = 5


class FakeCluster:
    """Brokers' answers per round: broker -> a view of topic "t", or an exception to raise."""

    def __init__(self, *rounds: Mapping[str, TopicView | Exception]) -> None:
        self.rounds = rounds
        self.round = 0
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.now = 0.0
        self.lock = threading.Lock()

    def ask(self, broker: str, topics: Sequence[str]) -> Mapping[str, TopicView]:
        with self.lock:
            self.asked.append((broker, tuple(topics)))
        answer = self.rounds[min(self.round, len(self.rounds) - 1)][broker]
        if isinstance(answer, Exception):
            raise answer
        return {t: answer for t in topics}

    def sleep(self, s: float) -> None:
        self.now += s
        self.round += 1

    def confirm(self, missing: Collection[tuple[str, int]] = (("t", 0),),
                **kw: float) -> dict[tuple[str, int], Absence]:
        brokers = sorted(self.rounds[0])
        return confirm_absent(missing, brokers, self.ask, clock=lambda: self.now,
                              sleep=self.sleep, **kw)  # type: ignore[arg-type]


def test_one_broker_says_gone_another_serves_it_is_not_lost() -> None:
    cluster = FakeCluster({"b1": UNKNOWN, "b2": SERVES})
    absence = cluster.confirm()[("t", 0)]
    assert not absence.gone
    assert "disagree" in absence.reason and "b2 serves it" in absence.reason
    assert "b1 said it does not exist" in absence.reason
    assert len(cluster.asked) == 2  # disputed at once: not asked again


def test_all_brokers_consistently_say_gone_is_lost() -> None:
    cluster = FakeCluster({"b1": UNKNOWN, "b2": UNKNOWN, "b3": UNKNOWN})
    absence = cluster.confirm(rounds=3)[("t", 0)]
    assert absence.gone
    assert "every broker that answered (b1, b2, b3)" in absence.reason
    assert "3 round(s)" in absence.reason
    assert len(cluster.asked) == 9  # every broker, every round


def test_no_broker_reachable_is_unreadable_naming_why() -> None:
    refused = ConnectionRefusedError("connection refused")
    cluster = FakeCluster({"b1": refused, "b2": FetchFailed("connect 10.0.0.2:9092: timed out")})
    absence = cluster.confirm()[("t", 0)]
    assert not absence.gone
    assert absence.reason.startswith("no broker answered whether t[0] exists")
    assert "b1: connection refused" in absence.reason and "b2: connect" in absence.reason


def test_a_broker_that_learns_the_topic_in_a_later_round_makes_it_not_lost() -> None:
    """Tansu: a freshly created topic unknown to every broker asked first, then served."""
    cluster = FakeCluster({"b1": UNKNOWN, "b2": UNKNOWN}, {"b1": UNKNOWN, "b2": SERVES})
    absence = cluster.confirm()[("t", 0)]
    assert not absence.gone and "b2 serves it" in absence.reason
    assert cluster.round == 1  # stopped asking once disputed


def test_a_silent_broker_is_left_out_of_the_agreement() -> None:
    down = OSError("connection refused")
    cluster = FakeCluster({"b1": UNKNOWN, "b2": down}, {"b1": down, "b2": down},
                          {"b1": UNKNOWN, "b2": down})
    absence = cluster.confirm()[("t", 0)]
    assert absence.gone
    assert "(b1)" in absence.reason and "no answer from b2" in absence.reason


def test_a_topic_known_with_an_error_or_without_the_partition() -> None:
    busy = TopicView(error=LEADER_NOT_AVAILABLE)
    absences = FakeCluster({"b1": UNKNOWN, "b2": busy}).confirm()
    assert not absences[("t", 0)].gone
    assert "b2 knows the topic (error code 5)" in absences[("t", 0)].reason
    # A topic every broker serves, without the acked partition: that partition is gone.
    absences = FakeCluster({"b1": SERVES, "b2": SERVES}).confirm([("t", 0), ("t", 7)])
    assert not absences[("t", 0)].gone and absences[("t", 7)].gone


def test_rounds_are_bounded_by_count_and_deadline() -> None:
    cluster = FakeCluster({"b1": UNKNOWN})
    cluster.confirm(rounds=50, deadline_s=5.0, interval_s=1.0)
    assert cluster.now <= 5.0 and len(cluster.asked) == 6  # at 0, 1, ..., 5 s
    cluster = FakeCluster({"b1": UNKNOWN})
    cluster.confirm(rounds=2, deadline_s=60.0)
    assert len(cluster.asked) == 2


def test_judge_with_no_broker_to_ask() -> None:
    absence = judge(("t", 0), [{}])
    assert not absence.gone and "no broker to ask" in absence.reason
    absence = judge(("t", 0), [{"b1": {}}])  # an answer without the topic says nothing of it
    assert not absence.gone and "no answer named its topic" in absence.reason
    assert not confirm_absent([("t", 0)], [], FakeCluster({}).ask)[("t", 0)].gone


# -- the wire: a fake broker on 127.0.0.1 ------------------------------------------------------

def _string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    return struct.pack(">h", len(s)) + s.encode()


def metadata_response(version: int, topics: Mapping[str, TopicView]) -> bytes:
    out = struct.pack(">i", 0)  # throttle
    out += struct.pack(">i", 1) + struct.pack(">i", 1) + _string("127.0.0.1") + struct.pack(
        ">i", 9092) + _string(None)
    out += _string("cluster-id") + struct.pack(">i", 1)
    out += struct.pack(">i", len(topics))
    for name, view in topics.items():
        out += struct.pack(">h", view.error) + _string(name) + b"\x00"
        out += struct.pack(">i", len(view.partitions))
        for p in sorted(view.partitions):
            out += struct.pack(">hii", 0, p, 1)
            if version >= 7:
                out += struct.pack(">i", 0)
            for _ in range(3 if version >= 5 else 2):
                out += struct.pack(">ii", 1, 1)
        if version >= 8:
            out += struct.pack(">i", 0)
    if version >= 8:
        out += struct.pack(">i", 0)
    return out


class FakeBroker:
    """Serves ApiVersions (Metadata up to `max_version`) and Metadata from `topics`; records
    each Metadata request's version and body."""

    def __init__(self, topics: Mapping[str, TopicView], max_version: int = 12) -> None:
        self.topics, self.max_version = topics, max_version
        self.requests: list[tuple[int, bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError, struct.error):
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        while True:
            head = conn.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return
            data = conn.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
            key, version, corr, id_len = struct.unpack_from(">hhih", data)
            body = data[10 + id_len :]
            if key == 18:
                reply = struct.pack(">hi", 0, 1) + struct.pack(">hhh", API_METADATA, 0,
                                                                self.max_version)
            else:
                self.requests.append((version, body))
                reply = metadata_response(version, self.topics)
            reply = struct.pack(">i", corr) + reply
            conn.sendall(struct.pack(">i", len(reply)) + reply)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def broker_factory() -> Iterator[Callable[..., FakeBroker]]:
    made: list[FakeBroker] = []

    def make(topics: Mapping[str, TopicView], max_version: int = 12) -> FakeBroker:
        made.append(FakeBroker(topics, max_version))
        return made[-1]

    yield make
    for b in made:
        b.close()


@pytest.mark.parametrize("max_version", [4, 6, 7, 12])
def test_ask_metadata_reads_a_brokers_own_view_and_never_creates(
        broker_factory: Callable[..., FakeBroker], max_version: int) -> None:
    b = broker_factory({"orders": SERVES, "gone": UNKNOWN}, max_version)
    views = ask_metadata("127.0.0.1", b.port, ["orders", "gone"])
    assert views == {"orders": SERVES, "gone": UNKNOWN}
    ((version, body),) = b.requests
    assert version == min(max_version, 8)
    # two topics, then allow_auto_topic_creation = false (and v8's two flags, false)
    assert body == (struct.pack(">i", 2) + _string("orders") + _string("gone") + b"\x00"
                    + (b"\x00\x00" if version >= 8 else b""))


def test_ask_metadata_refused_or_unsupported_raises(
        broker_factory: Callable[..., FakeBroker]) -> None:
    old = broker_factory({}, max_version=3)
    with pytest.raises(FetchFailed, match="does not serve Metadata"):
        ask_metadata("127.0.0.1", old.port, ["t"])
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed below: nobody listens there
    with pytest.raises(FetchFailed, match="connect"):
        ask_metadata("127.0.0.1", port, ["t"], timeout_s=0.5)


def inventory_of(ports: Sequence[int]) -> Inventory:
    return Inventory(
        target="local", engine="tansu", engine_version="0.6", topology="stretched",
        replication_factor=1, min_insync_replicas=1,
        clouds=[Cloud(name="aws", provider="lab", cidr="127.0.0.0/8")],
        clusters=[Cluster(name="main", clouds=["aws"], brokers=list(range(len(ports))),
                          bootstrap={"aws": ",".join(f"127.0.0.1:{p}" for p in ports)})],
        brokers=[Broker(id=i, name=f"aws-{i}", cloud="aws", cluster="main", address="127.0.0.1",
                        port=p, roles=["broker"]) for i, p in enumerate(ports)],
        stores=[], links=[])


def test_presence_for_asks_every_broker_of_the_inventory(
        broker_factory: Callable[..., FakeBroker]) -> None:
    lagging = broker_factory({"orders": UNKNOWN})
    serving = broker_factory({"orders": SERVES})
    absent = presence_for(inventory_of([lagging.port, serving.port]))("main", [("orders", 0)])
    assert not absent[("orders", 0)].gone
    assert "aws-1 serves it" in absent[("orders", 0)].reason
    assert lagging.requests and serving.requests


# -- the verifier end to end -------------------------------------------------------------------

FENCES = FenceSet(nonce=b"n" * 16)


def _run(tmp_path: Path, partitions: Sequence[int]) -> Path:
    path = tmp_path / "load" / "ledgers" / "aws-p1.rdl"
    with LedgerWriter(path, 1, "aws", ["orders"]) as w:
        seq = 0
        for p in partitions:
            for off in range(3):
                w.append_ack("orders", p, off, b"k-1", seq, 0, 0, 0)
                seq += 1
    return tmp_path


def _replay_partition_0(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
                        fences: FenceSet) -> list[PartitionRead]:
    """The replay's one broker knew partition 0 only (seqs 0-2 at offsets 0-2)."""
    r = PartitionRead(cluster=cluster, topic="orders", partition=0, fenced=True)
    for off in range(3):
        r.append(off, 1, off, 0, True)
    r.high_watermark = 3
    return [r]


@pytest.mark.parametrize("gone", [False, True])
def test_verify_run_asks_about_what_the_replay_did_not_find(tmp_path: Path, gone: bool) -> None:
    asked: list[tuple[str, list[tuple[str, int]]]] = []

    def presence(cluster: str, missing: Collection[tuple[str, int]]
                 ) -> dict[tuple[str, int], Absence]:
        asked.append((cluster, list(missing)))
        return {tp: Absence(gone=gone, reason="the brokers' answer") for tp in missing}

    report = verifier.verify_run(_run(tmp_path, [0, 1]), inventory_of([9092]),
                                 replay=_replay_partition_0, fence=lambda b, t: FENCES,
                                 presence=presence)
    assert asked == [("main", [("orders", 1)])]
    p1 = next(p for p in report.partitions if p.partition == 1)
    assert p1.not_found == "the brokers' answer"
    assert expand(p1.anomalies["lost" if gone else "unreadable"]) == [0, 1, 2]
    assert not report.passed and report.totals["lost"] == (3 if gone else 0)


def test_verify_run_asks_nobody_when_the_replay_found_everything(tmp_path: Path) -> None:
    def presence(cluster: str, missing: Collection[tuple[str, int]]
                 ) -> dict[tuple[str, int], Absence]:
        raise AssertionError("asked although nothing was missing")

    report = verifier.verify_run(_run(tmp_path, [0]), inventory_of([9092]),
                                 replay=_replay_partition_0, fence=lambda b, t: FENCES,
                                 presence=presence)
    assert report.passed
