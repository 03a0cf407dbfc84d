"""The replay's fast reader: Kafka Fetch requests on plain sockets, batches decoded natively.

librdkafka makes a Python object of every record; at 1M records of 1 KiB that, and its fetch
pipeline, cost ~5 s of the machine's two cores, while the brokers can serve the same GiB in
~1.2 s. This reader asks each partition leader directly (Fetch v4: the oldest version Kafka 4
still serves and the newest without fetch sessions), one thread per leader, and hands each
partition's record batches to native.c, which returns the replay's columns.

It reads what the librdkafka reader reads (everything in the log up to the high watermark,
read_uncommitted, control batches skipped) and classifies every record the same way; the lab
test holds the two to the same verdict. Whatever it cannot read plainly — a partition error
(leader moved, offset out of range), a compressed or malformed batch, a broker that does not
serve Fetch v4, a socket error — it does not judge: the partition is returned untouched for the
librdkafka reader to read from its start.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from riftdrill.load.fence import fence_nonce, is_fence
from riftdrill.native import KIND_BAD_CRC, KIND_OK, Decoded, DecodeError, Decoder
from riftdrill.security import scram
from riftdrill.security.client import OFF, ClientSecurity
from riftdrill.verify.check import PartitionRead
from riftdrill.verify.vectorized import ReadColumns

API_FETCH, API_VERSIONS = 1, 18
FETCH_VERSION = 4
CLIENT_ID = b"riftdrill-verify"
MAX_WAIT_MS = 500
RESPONSE_MAX_BYTES = 64 << 20
PARTITION_MAX_BYTES = 8 << 20
PARTITION_MAX_BYTES_LIMIT = 256 << 20  # a batch bigger than this is left to librdkafka
SOCKET_TIMEOUT_S = 10.0
_BODY_AT = 4  # a response's body (after its correlation id) starts at this byte of the buffer


class FetchFailed(Exception):
    """This leader cannot be read with raw fetches; its partitions go to librdkafka."""


@dataclass
class _Partition:
    read: PartitionRead
    offset: int  # next offset to fetch
    max_bytes: int = PARTITION_MAX_BYTES
    last_progress: float = field(default_factory=time.monotonic)
    chunks: list[ReadColumns] = field(default_factory=list)


def _frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    return struct.pack(">i", len(header) + len(body)) + header + body


class Connection:
    """One broker, plain Kafka requests (non-flexible versions) on a blocking socket; also used
    for the verifier's metadata questions (verify/presence.py), with a small buffer. With
    security on (`security`), the socket is TLS and the principal logs in with SCRAM first."""

    def __init__(self, host: str, port: int, timeout_s: float = SOCKET_TIMEOUT_S,
                 buffer_bytes: int = RESPONSE_MAX_BYTES + (1 << 20),
                 security: ClientSecurity = OFF) -> None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise FetchFailed(f"connect {host}:{port}: {exc}") from exc
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock = sock
        self.buf = bytearray(buffer_bytes)
        self.correlation_id = 0
        tls = security.ssl_context()
        if tls is None:
            return
        try:
            self.sock = tls.wrap_socket(sock, server_hostname=host)
            scram.authenticate(self.request, security.principal, security.password)
        except (OSError, scram.ScramError) as exc:  # ssl.SSLError is an OSError
            self.sock.close()
            raise FetchFailed(f"log in to {host}:{port} as {security.principal}: {exc}") from exc

    def request(self, api_key: int, version: int, body: bytes) -> memoryview:
        """Send one request; the response after its correlation id, as a view of self.buf
        starting at _BODY_AT (valid until the next request)."""
        self.correlation_id += 1
        try:
            self.sock.sendall(_frame(api_key, version, self.correlation_id, body))
            size = struct.unpack(">i", self._recv(4))[0]
            if size < 4:
                raise FetchFailed(f"response of {size} bytes")
            if size > len(self.buf):
                self.buf = bytearray(size)
            view = self._recv(size)
        except OSError as exc:
            raise FetchFailed(f"socket: {exc}") from exc
        if struct.unpack_from(">i", view)[0] != self.correlation_id:
            raise FetchFailed("correlation id mismatch")
        return view[_BODY_AT:]

    def _recv(self, n: int) -> memoryview:
        view = memoryview(self.buf)[:n]
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if not k:
                raise FetchFailed("connection closed by the broker")
            got += k
        return view

    def close(self) -> None:
        self.sock.close()


def api_versions(conn: Connection, api_key: int) -> tuple[int, int] | None:
    """(lowest, highest) version of `api_key` the broker serves; None: it does not."""
    view = conn.request(API_VERSIONS, 0, b"")
    error, count = struct.unpack_from(">hi", view)
    if error != 0:
        return None
    for i in range(count):
        key, low, high = struct.unpack_from(">hhh", view, 6 + 6 * i)
        if key == api_key:
            return low, high
    return None


def _serves_fetch_v4(conn: Connection) -> bool:
    served = api_versions(conn, API_FETCH)
    return served is not None and served[0] <= FETCH_VERSION <= served[1]


def _fetch_body(topic: bytes, parts: Sequence[_Partition]) -> bytes:
    body = struct.pack(">iiiib", -1, MAX_WAIT_MS, 1, RESPONSE_MAX_BYTES, 0)  # read_uncommitted
    body += struct.pack(">ih", 1, len(topic)) + topic + struct.pack(">i", len(parts))
    return body + b"".join(struct.pack(">iqi", p.read.partition, p.offset, p.max_bytes)
                           for p in parts)


def _apply(read: PartitionRead, d: Decoded, buf: bytearray, nonce: bytes,
           since_ns: int) -> ReadColumns:
    """Append one fetch's decoded records to `read`, as replay._consume does record by record;
    returns them as arrays too (the checker's columns, verify/vectorized.py)."""
    n = len(d.offsets)
    others = np.flatnonzero(d.kinds > KIND_BAD_CRC)
    for i in others.tolist():
        pos, size = int(d.value_pos[i]), int(d.value_len[i])
        value = bytes(buf[pos : pos + size]) if size >= 0 else None
        if is_fence(value):
            assert value is not None
            if fence_nonce(value) == nonce:
                read.fenced, read.fence_offset = True, int(d.offsets[i])
                n = i  # what follows the fence is not the run's to judge
                break
            continue  # another verification's fence
        read.foreign.append(int(d.offsets[i]))
    kinds = d.kinds[:n]
    ours = kinds <= KIND_BAD_CRC
    if since_ns > 0:
        earlier = ours & (d.send_ns[:n] < np.uint64(since_ns))
        read.earlier_runs += int(np.count_nonzero(earlier))
        ours &= ~earlier
    if ours.all():
        sel: slice | np.ndarray = slice(0, n)
    else:
        sel = np.flatnonzero(ours)
    cols = ReadColumns(d.offsets[sel], d.producer_ids[sel].astype(np.int64),
                       d.seqs[sel].astype(np.int64), d.checksums[sel].astype(np.int64),
                       kinds[sel] == KIND_OK)
    read.offsets.extend(cols.offsets.tolist())
    read.producer_ids.extend(cols.producer_ids.tolist())
    read.seqs.extend(cols.seqs.tolist())
    read.checksums.extend(cols.checksums.tolist())
    read.checksum_ok.extend(cols.checksum_ok.tolist())
    last = max(read.offsets[-1] if read.offsets else -1,
               read.foreign[-1] if read.foreign else -1, read.fence_offset)
    read.high_watermark = max(read.high_watermark, last + 1)
    return cols


def _parse_fetch(view: memoryview) -> list[tuple[int, int, int, int]]:
    """(partition, error, records start, records length) per partition of a v4 response."""
    out: list[tuple[int, int, int, int]] = []
    pos = 4  # throttle_time_ms
    (topics,) = struct.unpack_from(">i", view, pos)
    pos += 4
    for _ in range(topics):
        (name_len,) = struct.unpack_from(">h", view, pos)
        pos += 2 + name_len
        (parts,) = struct.unpack_from(">i", view, pos)
        pos += 4
        for _ in range(parts):
            partition, error = struct.unpack_from(">ih", view, pos)
            pos += 4 + 2 + 8 + 8  # high watermark, last stable offset
            (aborted,) = struct.unpack_from(">i", view, pos)
            pos += 4 + max(aborted, 0) * 16
            (size,) = struct.unpack_from(">i", view, pos)
            pos += 4
            out.append((partition, error, pos, max(size, 0)))
            pos += max(size, 0)
    return out


def _read_leader(address: tuple[str, int], topic: str, reads: list[PartitionRead],
                 decoder: Decoder, nonce: bytes, since_ns: int, deadline: float,
                 idle_timeout_s: float, failed: list[PartitionRead],
                 security: ClientSecurity = OFF) -> None:
    """Read `reads` (all led by the broker at `address`) to their fences. Partitions this
    cannot read go to `failed` (untouched originals); the others are filled in place."""
    fresh = {r.partition: PartitionRead(cluster=r.cluster, topic=r.topic, partition=r.partition,
                                        low_watermark=r.low_watermark,
                                        high_watermark=r.high_watermark) for r in reads}
    originals = {r.partition: r for r in reads}
    states = {p: _Partition(read=fresh[p], offset=originals[p].low_watermark) for p in fresh}
    live = dict(states)
    topic_bytes = topic.encode()

    def give_up(partitions: Sequence[int]) -> None:
        for p in partitions:
            live.pop(p, None)
            failed.append(originals[p])

    try:
        conn = Connection(*address, security=security)
    except FetchFailed:
        give_up(list(live))
        return
    try:
        if not _serves_fetch_v4(conn):
            give_up(list(live))
            return
        while live:
            now = time.monotonic()
            if now > deadline:
                break
            for p in [p for p, st in live.items() if now - st.last_progress > idle_timeout_s]:
                live.pop(p)  # no progress: left unfenced, as the librdkafka reader does
            if not live:
                break
            view = conn.request(API_FETCH, FETCH_VERSION, _fetch_body(topic_bytes, list(live.values())))
            for partition, error, start, size in _parse_fetch(view):
                st = live.get(partition)
                if st is None:
                    continue
                if error != 0:
                    give_up([partition])
                    continue
                if size == 0:
                    continue  # nothing new yet: the fence may still be on its way
                try:
                    d = decoder.decode(conn.buf, start + _BODY_AT, size, min_offset=st.offset)
                except DecodeError:
                    give_up([partition])
                    continue
                if d.next_offset < 0:  # one batch larger than what we asked for
                    if st.max_bytes >= PARTITION_MAX_BYTES_LIMIT:
                        give_up([partition])
                    st.max_bytes *= 2
                    continue
                st.chunks.append(_apply(st.read, d, conn.buf, nonce, since_ns))
                st.offset, st.last_progress = d.next_offset, time.monotonic()
                if st.read.fenced:
                    live.pop(partition)
    except (FetchFailed, struct.error):
        give_up(list(live))
    finally:
        conn.close()
    given_up = {id(r) for r in failed}
    for p, read in fresh.items():
        if id(originals[p]) not in given_up:
            read.arrays = ReadColumns.concat(states[p].chunks)
            _copy_into(originals[p], read)


def _copy_into(target: PartitionRead, source: PartitionRead) -> None:
    for name in ("high_watermark", "fenced", "fence_offset", "offsets", "producer_ids", "seqs",
                 "checksums", "checksum_ok", "foreign", "earlier_runs", "arrays"):
        setattr(target, name, getattr(source, name))


def read_partitions(reads: Sequence[PartitionRead], leaders: dict[tuple[str, int], int],
                    brokers: dict[int, tuple[str, int]], decoder: Decoder, nonce: bytes,
                    since_ns: int, deadline: float, idle_timeout_s: float,
                    security: ClientSecurity = OFF) -> list[PartitionRead]:
    """Read `reads` to their fences, one thread per leader; returns the partitions it could not
    read (untouched), for the librdkafka reader. `leaders`: (topic, partition) -> broker id."""
    groups: dict[tuple[int, str], list[PartitionRead]] = {}
    failed: list[PartitionRead] = []
    for r in reads:
        leader = leaders.get((r.topic, r.partition), -1)
        if leader not in brokers:
            failed.append(r)
        else:
            groups.setdefault((leader, r.topic), []).append(r)
    lock = threading.Lock()
    results: list[list[PartitionRead]] = []

    def work(broker: int, topic: str, group: list[PartitionRead]) -> None:
        mine: list[PartitionRead] = []
        _read_leader(brokers[broker], topic, group, decoder, nonce, since_ns, deadline,
                     idle_timeout_s, mine, security)
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=work, args=(b, t, g), daemon=True,
                                name=f"rd-fetch-{b}-{t}") for (b, t), g in groups.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed + [r for mine in results for r in mine]
