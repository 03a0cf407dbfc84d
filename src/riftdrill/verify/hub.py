"""Row by row: the integration hub's ledger against the source table, the CDC topic and the
sink's table (docs/verify.md, "Integration hub: row by row").

`check_hub` is a plain function of what the end of a run observed (`riftdrill.hub.observed`):
no database, no Kafka. It counts every hub kind of `riftdrill.verify.anomalies`; whether one
fails the run is the contract's decision (`riftdrill.verify.contract.allowed_kinds`).

Three comparisons, each against the one truth it can be held to:
- the source table against the ledger: the state the committed changes leave, where an
  `unknown` outcome may or may not have applied (both are legal; the state the source holds
  decides which, and an unknown the source proves committed must then be in the CDC topic);
- the CDC topic against the ledger, per id in read order: every committed change once, in
  version order, nothing the ledger does not explain;
- the sink's table against the source table: the same rows, versions and payloads.

A fence row committed after the load stopped bounds the reads. Not seen in the CDC topic:
`hub_unreadable`, and a committed change absent from it is judged missing only when it
committed before a change that was read began (then it precedes that change in the WAL, and so
in a one-partition topic); the rest are counted as unjudged. Not seen in the sink's table:
`hub_unreadable`, and missing, extra and stale rows are not judged at all (the sink's progress
cannot be located in a table: a redelivery rewinds rows and a delete leaves nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from riftdrill.hub.observed import CdcEvent, FenceSeen, RowState
from riftdrill.hub.rows import Op, Outcome, RowChange, RowsLedgerError
from riftdrill.verify.anomalies import ANOMALY_KINDS, HUB_KINDS, HubKind

MAX_EXAMPLES = 20  # per kind; counts are always exact

Absent = None  # a row state: a RowState, or no row
State = RowState | None


class HubExample(BaseModel):
    id: int
    version: int | None = None  # the change's, or the sink's row's
    detail: str
    at: list[str] = []  # CDC positions involved, "topic[partition]@offset"


class HubAnomaly(BaseModel):
    definition: str
    count: int
    examples: list[HubExample]  # the first MAX_EXAMPLES by (id, version)
    truncated: bool = False


class HubReport(BaseModel):
    counts: dict[HubKind, int]  # every hub kind, 0 included
    anomalies: dict[HubKind, HubAnomaly] = {}  # the kinds seen, with examples
    changes: int = 0  # ledger entries (attempts)
    outcomes: dict[Outcome, int] = {}
    unknown_resolved: int = 0  # unknown outcomes the source table or the CDC topic show committed
    rows_source: int = 0
    rows_target: int = 0
    cdc_events: int = 0  # change events read (the fence's and snapshot reads left out)
    snapshot_reads: int = 0  # Debezium snapshot reads ("r"): row states, not changes
    fence_in_cdc: bool = False
    fence_in_target: bool = False
    # Not judged because a fence was not seen (the run fails on hub_unreadable regardless):
    unjudged_changes: int = 0  # committed changes absent from the CDC topic read so far
    unjudged_rows: int = 0  # rows missing, extra or stale in the sink's table


@dataclass(slots=True)
class _Version:
    """One (id, version) of the ledger, over all its attempts."""

    committed: Op | None = None  # the op of an ok attempt
    maybe: set[Op] = field(default_factory=set)  # ops of unknown attempts, when none is ok
    failed: set[Op] = field(default_factory=set)
    crc: int | None = None  # the version's payload crc (None: only deletes were attempted)
    start_ns: int | None = None  # earliest start of an attempt that applied or may have
    done_ns: int | None = None  # latest outcome of those
    first: RowChange | None = None  # the first attempt, to resolve again if there are more

    def applies(self, op: str) -> bool:
        return op == self.committed or op in self.maybe


def _versions(changes: Iterable[RowChange]) -> tuple[dict[int, dict[int, _Version]],
                                                     Counter[Outcome], int]:
    ledger: dict[int, dict[int, _Version]] = {}
    retried: dict[tuple[int, int], list[RowChange]] = {}  # versions attempted more than once
    outcomes: Counter[Outcome] = Counter()
    n = 0
    for c in changes:
        outcomes[c.outcome] += 1
        n += 1
        by_version = ledger.setdefault(c.id, {})
        seen = by_version.get(c.version)
        if seen is None:
            by_version[c.version] = _version(c.id, c.version, [c])
        else:
            assert seen.first is not None
            retried.setdefault((c.id, c.version), [seen.first]).append(c)
    for (row_id, version), tries in retried.items():
        ledger[row_id][version] = _version(row_id, version, tries)
    return ledger, outcomes, n


def _version(row_id: int, version: int, tries: list[RowChange]) -> _Version:
    if len(tries) == 1:  # nearly every version: one attempt
        c = tries[0]
        if c.outcome == "failed":
            return _Version(failed={c.op}, crc=c.payload_crc, first=c)
        return _Version(committed=c.op if c.outcome == "ok" else None,
                        maybe=set() if c.outcome == "ok" else {c.op},
                        crc=c.payload_crc, start_ns=c.start_ns, done_ns=c.done_ns, first=c)
    v = _Version(first=tries[0])
    ok = {c.op for c in tries if c.outcome == "ok"}
    if len(ok) > 1:  # versions name changes: the workload broke its own rule
        raise RowsLedgerError(f"hub ledger: id {row_id} version {version} committed as "
                              f"{' and '.join(sorted(ok))}")
    v.committed = next(iter(ok), None)
    if v.committed is None:
        v.maybe = {c.op for c in tries if c.outcome == "unknown"}
    v.failed = {c.op for c in tries if c.outcome == "failed"} - ok - v.maybe
    v.crc = next((c.payload_crc for c in tries if c.payload_crc is not None), None)
    live = [c for c in tries if v.applies(c.op) and c.outcome != "failed"]
    if live:  # conservative both ways: the cutoff below never claims too much
        v.start_ns = min(c.start_ns for c in live)
        v.done_ns = max(c.done_ns for c in live)
    return v


def _state(version: int, op: Op, v: _Version) -> State:
    if op == "delete" or v.crc is None:
        return Absent
    return RowState(version, v.crc)


def _show(s: State) -> str:
    return "no row" if s is None else f"v{s.version} (crc {s.payload_crc})"


class _Found:
    """Anomalies as they are found, as plain tuples (a catastrophic run finds a row per id);
    examples are sorted, capped and made models at the end."""

    def __init__(self) -> None:
        self.found: dict[HubKind, list[tuple[int, int, str, Sequence[str]]]] = {
            k: [] for k in HUB_KINDS}

    def add(self, kind: HubKind, row_id: int, version: int | None, detail: str,
            at: Sequence[str] = ()) -> None:
        self.found[kind].append((row_id, -1 if version is None else version, detail, at))

    def anomalies(self) -> dict[HubKind, HubAnomaly]:
        out: dict[HubKind, HubAnomaly] = {}
        for kind, found in self.found.items():
            if found:
                first = sorted(found, key=lambda f: (f[0], f[1]))[:MAX_EXAMPLES]
                examples = [HubExample(id=i, version=None if v < 0 else v, detail=d, at=list(at))
                            for i, v, d, at in first]
                out[kind] = HubAnomaly(definition=ANOMALY_KINDS[kind], count=len(found),
                                       examples=examples, truncated=len(found) > MAX_EXAMPLES)
        return out


def _read_unknowns(versions: Mapping[int, _Version],
                   read: Mapping[tuple[int, str], CdcEvent]) -> dict[int, Op]:
    """Unknown outcomes the CDC topic carries: they committed."""
    return {n: op for n, v in versions.items() if v.committed is None
            for op in sorted(v.maybe) if (n, op) in read}


def _check_source(row_id: int, versions: Mapping[int, _Version], held: State,
                  read: Mapping[tuple[int, str], CdcEvent], found: _Found) -> tuple[int, Op] | None:
    """Judge the source's row against the ledger; return the unknown change the row proves
    committed, if one does. An unknown the CDC topic carries committed (Debezium reads only
    committed transactions from the WAL), so it counts as committed here."""
    committed = {n: v.committed for n, v in versions.items() if v.committed is not None}
    committed.update(_read_unknowns(versions, read))
    last = max(committed, default=None)
    base: State = Absent
    if last is not None:
        base = _state(last, committed[last], versions[last])
    if held == base:
        return None
    # An unknown after the last committed change may be the state the source holds.
    proved = [(n, op) for n, v in versions.items() if last is None or n > last
              for op in sorted(v.maybe) if _state(n, op, v) == held]
    if proved:
        return proved[0] if len(proved) == 1 else None  # two unknown deletes: cannot tell
    what = f"holds {_show(held)}"
    if last is not None:
        what += f", the last committed change is {committed[last]} v{last}"
    if held is None or (last is not None and held.version < last):
        found.add("source_lost", row_id, last, what)
        return None
    v = versions.get(held.version)
    if v is None:
        why = "a version the ledger never attempted" if versions else "an id never written"
    elif v.committed is None and not v.maybe:
        why = f"a failed {'/'.join(sorted(v.failed))}"
    elif v.crc is None:
        why = "a row at the version of a delete"
    else:
        why = f"another payload than its version's (crc {v.crc})"
    found.add("source_unexpected", row_id, held.version, f"{what}: {why}")
    return None


def _check_stream(row_id: int, versions: Mapping[int, _Version],
                  events: Sequence[CdcEvent], found: _Found) -> dict[tuple[int, str], CdcEvent]:
    """Duplicates, reorders and unexplained changes of one id; returns the first copies."""
    first: dict[tuple[int, str], CdcEvent] = {}
    highest: CdcEvent | None = None
    for e in events:
        if e.op == "read":
            continue
        key = (e.version, e.op)
        if key in first:
            found.add("change_duplicate", row_id, e.version,
                      f"{e.op} v{e.version} read again", [first[key].at, e.at])
            continue
        first[key] = e
        v = versions.get(e.version)
        if v is None or not v.applies(e.op):
            found.add("change_unexpected", row_id, e.version,
                      f"{e.op} v{e.version}: {_unexplained(versions, e)}", [e.at])
        if highest is not None and e.version < highest.version:
            found.add("change_reordered", row_id, e.version,
                      f"{e.op} v{e.version} read after {highest.op} v{highest.version}",
                      [highest.at, e.at])
        if highest is None or e.version > highest.version:
            highest = e
    return first


def _unexplained(versions: Mapping[int, _Version], e: CdcEvent) -> str:
    v = versions.get(e.version)
    if v is None:
        return "a version the ledger never attempted" if versions else "an id never written"
    if e.op in v.failed:
        return "the ledger says it failed"
    if v.committed is not None:
        return f"the ledger committed {v.committed} v{e.version}"
    return f"the ledger attempted {'/'.join(sorted(v.maybe | v.failed))} v{e.version}"


def check_hub(changes: Iterable[RowChange], source: Mapping[int, RowState],
              target: Mapping[int, RowState], cdc: Mapping[int, Sequence[CdcEvent]],
              fence: FenceSeen) -> HubReport:
    """Judge one hub run. `source`/`target`: {id: RowState} snapshots taken after the fence
    was seen (or the deadline passed); `cdc`: {id: events in the order read} up to the fence.
    The fence's own id is left out of every comparison."""
    ledger, outcomes, attempts = _versions(changes)
    src = {k: s for k, s in source.items() if k != fence.id}
    dst = {k: s for k, s in target.items() if k != fence.id}
    stream = {k: evs for k, evs in cdc.items() if k != fence.id}
    found = _Found()
    for where, seen in (("the CDC topic", fence.in_cdc), ("the sink's table", fence.in_target)):
        if not seen:
            found.add("hub_unreadable", fence.id, None,
                      f"the fence row was not seen in {where} within the deadline")

    # What the CDC topic holds, against the ledger.
    firsts: dict[int, dict[tuple[int, str], CdcEvent]] = {}
    for row_id in sorted(stream):
        firsts[row_id] = _check_stream(row_id, ledger.get(row_id, {}), stream[row_id], found)

    # The source against the ledger; the changes that must then be in the CDC topic.
    required: dict[int, dict[int, Op]] = {}
    resolved = 0
    for row_id in sorted(set(ledger) | set(src)):
        versions = ledger.get(row_id, {})
        read = firsts.get(row_id, {})
        proved = _check_source(row_id, versions, src.get(row_id), read, found)
        need = {n: v.committed for n, v in versions.items() if v.committed is not None}
        shown = _read_unknowns(versions, read)
        if proved is not None:
            shown[proved[0]] = proved[1]
        resolved += len(shown)
        need |= shown
        if need:
            required[row_id] = need

    cutoff_ns = None if fence.in_cdc else _stream_cutoff_ns(ledger, firsts, stream.values())
    unjudged_changes = 0
    for row_id, need in sorted(required.items()):
        read = firsts.get(row_id, {})
        for n, op in sorted(need.items()):
            if (n, op) in read:
                continue
            done_ns = ledger[row_id][n].done_ns
            if fence.in_cdc or (cutoff_ns is not None and done_ns is not None
                                and done_ns < cutoff_ns):
                found.add("change_missing", row_id, n, f"{op} v{n} committed, never read")
            else:
                unjudged_changes += 1

    # The sink's table against the source's.
    unjudged_rows = 0
    for row_id in sorted(set(src) | set(dst)):
        s, t = src.get(row_id), dst.get(row_id)
        lag: tuple[HubKind, str] | None = None  # what a sink still catching up also shows
        if t is None:
            lag = ("row_missing", f"source {_show(s)}, sink has no row")
        elif s is None:
            lag = ("row_extra", f"sink {_show(t)}, source has no row")
        elif t.version < s.version:
            lag = ("row_stale", f"sink {_show(t)}, source {_show(s)}")
        elif t.version > s.version:
            found.add("row_ahead", row_id, t.version, f"sink {_show(t)}, source {_show(s)}")
        if lag is not None:
            if fence.in_target:
                found.add(lag[0], row_id, t.version if t else None, lag[1])
            else:
                unjudged_rows += 1
        if t is not None:
            expected = (s.payload_crc if s is not None and s.version == t.version
                        else ledger.get(row_id, {}).get(t.version, _Version()).crc)
            if expected is not None and expected != t.payload_crc:
                found.add("row_corrupt", row_id, t.version,
                          f"sink v{t.version} crc {t.payload_crc}, expected crc {expected}")

    anomalies = found.anomalies()
    return HubReport(
        counts={k: (anomalies[k].count if k in anomalies else 0) for k in HUB_KINDS},
        anomalies=anomalies, changes=attempts,
        outcomes={o: outcomes[o] for o in ("ok", "failed", "unknown")},
        unknown_resolved=resolved, rows_source=len(src), rows_target=len(dst),
        cdc_events=sum(e.op != "read" for evs in stream.values() for e in evs),
        snapshot_reads=sum(e.op == "read" for evs in stream.values() for e in evs),
        fence_in_cdc=fence.in_cdc, fence_in_target=fence.in_target,
        unjudged_changes=unjudged_changes, unjudged_rows=unjudged_rows)


def _stream_cutoff_ns(ledger: Mapping[int, Mapping[int, _Version]],
                      firsts: Mapping[int, Mapping[tuple[int, str], CdcEvent]],
                      events: Iterable[Sequence[CdcEvent]]) -> int | None:
    """Without the fence: a change that committed before a change that was read began precedes
    it in the WAL, hence in the topic, if the topic has one partition. The latest such start;
    None (judge nothing missing) with several partitions or nothing read."""
    partitions = {(e.topic, e.partition) for evs in events for e in evs}
    if len(partitions) != 1:
        return None
    starts = [v.start_ns for row_id, read in firsts.items() for (n, op) in read
              if (v := ledger.get(row_id, {}).get(n)) is not None and v.applies(op)
              and v.start_ns is not None]
    return max(starts, default=None)
