"""The KRaft quorum's state, asked of a controller with one DescribeQuorum request.

confluent-kafka (librdkafka) has no DescribeQuorum and `kafka-metadata-quorum` starts a JVM
(seconds per call), too slow for a once-a-second timeline; so this speaks the one request on a
plain socket: DescribeQuorum v1 (flexible encoding: request header v2, response header v1) on
the controller listener (KIP-919: controllers answer clients). Only the quorum leader answers
without an error, so the voters are asked in turn, each with a short timeout.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Any

DESCRIBE_QUORUM = 55
API_VERSION = 1
METADATA_TOPIC = "__cluster_metadata"
CLIENT_ID = b"riftdrill-timeline"


class QuorumError(Exception):
    """This node did not describe the quorum (not the leader, unreachable, bad answer)."""


@dataclass(frozen=True)
class Replica:
    id: int
    log_end_offset: int
    last_caught_up_ms: int  # epoch ms; -1: unknown


@dataclass(frozen=True)
class Quorum:
    leader: int
    epoch: int
    high_watermark: int
    voters: list[Replica]
    observers: list[Replica]

    def to_line(self) -> dict[str, Any]:
        """cluster.jsonl's `quorum`: the leader, its epoch, each replica's lag in records."""
        def lag(r: Replica) -> int:
            return max(0, self.high_watermark - r.log_end_offset)

        return {"leader": self.leader, "epoch": self.epoch,
                "high_watermark": self.high_watermark,
                "voters": [{"id": r.id, "lag": lag(r)} for r in self.voters],
                "observers": [{"id": r.id, "lag": lag(r)} for r in self.observers]}


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_request(correlation_id: int) -> bytes:
    """A length-prefixed DescribeQuorum v1 request for partition 0 of __cluster_metadata."""
    header = struct.pack(">hhih", DESCRIBE_QUORUM, API_VERSION, correlation_id, len(CLIENT_ID))
    header += CLIENT_ID + _uvarint(0)  # client id (a plain nullable string), no tagged fields
    topic = METADATA_TOPIC.encode()
    body = (_uvarint(2) + _uvarint(len(topic) + 1) + topic  # one topic
            + _uvarint(2) + struct.pack(">i", 0) + _uvarint(0)  # one partition: 0
            + _uvarint(0) + _uvarint(0))  # the topic's and the request's tagged fields
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise QuorumError("truncated DescribeQuorum response")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            byte = int(self.take(">B"))
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def compact_string(self) -> str:
        n = self.uvarint() - 1
        if n < 0:
            return ""
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw.decode(errors="replace")

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.pos += self.uvarint()  # size, then the value skipped


def _replicas(r: _Reader) -> list[Replica]:
    out = []
    for _ in range(max(0, r.uvarint() - 1)):
        rid, leo = r.take(">i"), r.take(">q")
        r.take(">q")  # LastFetchTimestamp
        caught_up = r.take(">q")
        r.skip_tags()
        out.append(Replica(id=rid, log_end_offset=leo, last_caught_up_ms=caught_up))
    return out


def decode_response(data: bytes, correlation_id: int) -> Quorum:
    """The quorum from a DescribeQuorum v1 response (without its length prefix)."""
    r = _Reader(data)
    if r.take(">i") != correlation_id:
        raise QuorumError("DescribeQuorum response for another request")
    r.skip_tags()
    if (code := r.take(">h")) != 0:
        raise QuorumError(f"DescribeQuorum error {code}")
    for _ in range(max(0, r.uvarint() - 1)):
        r.compact_string()
        for _ in range(max(0, r.uvarint() - 1)):
            r.take(">i")  # partition index
            if (code := r.take(">h")) != 0:
                raise QuorumError(f"DescribeQuorum partition error {code} (not the leader)")
            leader, epoch, hw = r.take(">i"), r.take(">i"), r.take(">q")
            voters, observers = _replicas(r), _replicas(r)
            return Quorum(leader=leader, epoch=epoch, high_watermark=hw, voters=voters,
                          observers=observers)
    raise QuorumError("DescribeQuorum response names no partition")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise QuorumError("connection closed")
        buf += chunk
    return bytes(buf)


def describe_quorum_at(host: str, port: int, timeout_s: float, correlation_id: int = 1,
                       tls: ssl.SSLContext | None = None) -> Quorum:
    """Ask one controller; QuorumError unless it answers as the leader. `tls`: the controllers'
    listener speaks TLS and takes a client certificate (security sasl-tls)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            sock = tls.wrap_socket(raw, server_hostname=host) if tls is not None else raw
            sock.settimeout(timeout_s)
            sock.sendall(encode_request(correlation_id))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            if not 0 < size < 1 << 20:
                raise QuorumError(f"implausible response size {size}")
            return decode_response(_recv_exact(sock, size), correlation_id)
    except OSError as exc:  # ssl.SSLError too: a refused certificate
        raise QuorumError(f"{host}:{port}: {exc}") from exc


def describe_quorum(controllers: list[tuple[str, int]], timeout_s: float,
                    tls: ssl.SSLContext | None = None) -> Quorum:
    """The quorum as its leader describes it: each controller asked in turn."""
    return QuorumWatch(list(controllers), timeout_s, tls)()


@dataclass
class QuorumWatch:
    """Asks the controllers in turn, the one that answered last time first: a sample costs one
    round trip while the leader stays, the others' timeouts only once it moved or died.

    The first one asked gets `first_timeout_s` (at least `timeout_s`): it is the leader until
    proven otherwise, and a new TLS connection to a busy controller on a loaded machine can
    take longer than a short timeout (CI saw a healthy quorum's sample fail)."""

    controllers: list[tuple[str, int]]
    timeout_s: float
    tls: ssl.SSLContext | None = None
    first_timeout_s: float = 0.0

    def __call__(self) -> Quorum:
        errors = []
        for i, (host, port) in enumerate(self.controllers):
            timeout_s = max(self.timeout_s, self.first_timeout_s) if i == 0 else self.timeout_s
            try:
                quorum = describe_quorum_at(host, port, timeout_s, tls=self.tls)
            except QuorumError as exc:
                errors.append(str(exc))
                continue
            self.controllers.insert(0, self.controllers.pop(i))
            return quorum
        raise QuorumError("no controller described the quorum: " + "; ".join(errors)
                          if errors else "no controller to ask")
