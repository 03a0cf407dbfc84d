"""Reports of one run, of an engine comparison, and the index of everything under results/."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill.compat.model import CompatMatrix, load_matrix
from riftdrill.compat.workflows import WORKFLOWS
from riftdrill.report import columns
from riftdrill.report.compare import CompareDoc, CompareEntry, load_compare
from riftdrill.report.cost import Cost, PriceTable, price_usage, run_usage
from riftdrill.report.document import (
    Block,
    Bullets,
    Document,
    Image,
    Para,
    Section,
    Table,
    to_html,
    to_markdown,
)
from riftdrill.report.plots import Plot, compare_plot, run_plots
from riftdrill.report.runs import RunData, RunInputError, load_run, run_dirs
from riftdrill.report.series import (
    ALL_CLOUDS,
    RunSeries,
    cloud_metrics,
    cloud_totals,
    run_series,
    summary_field,
)

MAX_RANGES_SHOWN = 20
MAX_PARTITION_ROWS = 30
MAX_HUB_EXAMPLES = 5  # per anomaly kind; verify.json keeps up to verify.hub.MAX_EXAMPLES


def _f(v: Any, unit: str = "", nd: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{round(v, nd):g}{unit}"
    return f"{v}{unit}"


def _money(v: float, currency: str) -> str:
    return f"{v:,.2f} {currency}" if v >= 0.01 or v == 0 else f"{v:.2g} {currency}"


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def _write(path: Path, text: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text)
    os.replace(tmp, path)


# ---- one run -------------------------------------------------------------------------------

OTHER_SUMMARY_FIELDS = ("ack_p99_ms", "chaos", "regressions")  # shown as "other summary field"


def run_cost(run: RunData, prices: PriceTable) -> Cost:
    return price_usage(run_usage(run.summary, run.timeline), prices)


def _facts(run: RunData) -> list[Block]:
    s = run.summary
    rows = [["run id", s.run_id], ["experiment", s.experiment], ["title", s.title or "n/a"],
            ["target", s.target or "n/a"], ["engine", f"{s.engine} {s.engine_version}".strip()],
            ["topology", s.topology or "n/a"], ["started", s.started_at], ["ended", s.ended_at],
            ["duration", _f(s.duration_s, " s")], ["riftdrill sha", s.riftdrill_sha or "n/a"],
            ["host", f"{_f(s.host.cores)} cores, {_f(s.host.memory_gib)} GiB, "
                     f"kernel {s.host.kernel or 'n/a'}"]]
    params = Table(["parameter", "value"],
                   [[k, json.dumps(v) if not isinstance(v, str) else v]
                    for k, v in sorted(s.params.items())])
    windows = Table(["fault", "target", "start", "end", "length"],
                    [[w.kind, w.target, _iso(w.start_s), _iso(w.end_s) if w.end_s else "not healed",
                      _f(w.end_s - w.start_s, " s") if w.end_s else "n/a"]
                     for w in s.fault_windows])
    effect = []
    for w in s.fault_windows:
        req, by = _window_extra(w, "requested_s"), _window_extra(w, "confirmed_by")
        if isinstance(req, int | float) or by:
            effect.append([w.kind, w.target, _f(w.start_s - req, " s")
                           if isinstance(req, int | float) else "n/a", str(by or "n/a")])
    # Unknown keys, and the known ones no other section shows, as the runner wrote them.
    extra = {**s.model_dump(include=set(OTHER_SUMMARY_FIELDS) & s.model_fields_set),
             **(s.model_extra or {})}
    blocks: list[Block] = [Table(["fact", "value"], rows), Para("Parameters (everything needed to "
                                                                  "run it again):"), params]
    if s.fault_windows:
        blocks += [Para("Fault windows:"), windows]
    if effect:
        blocks += [Para("When each fault was in effect: the window starts when the fault was "
                        "confirmed, after the request by this much:"),
                   Table(["fault", "target", "request to effect", "confirmed by"], effect)]
    if extra:
        blocks.append(Table(["other summary field", "value"],
                            [[k, json.dumps(v, default=str)[:300]] for k, v in sorted(extra.items())]))
    return blocks


def _window_extra(w: Any, name: str) -> Any:
    """A fault window field later writers add (a declared field or a kept unknown key)."""
    return getattr(w, name, None) if name in type(w).model_fields else (
        (getattr(w, "model_extra", None) or {}).get(name))


def _rec_field(rec: Any, name: str) -> Any:
    if rec is None:
        return None
    if name in type(rec).model_fields:
        value = getattr(rec, name)
    else:
        value = (getattr(rec, "model_extra", None) or {}).get(name)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if isinstance(value, list):
        return [v.model_dump() if callable(getattr(v, "model_dump", None)) else v for v in value]
    if isinstance(value, dict):
        return {k: v.model_dump() if callable(getattr(v, "model_dump", None)) else v
                for k, v in value.items()}
    return value


def _m(v: Any, unit: str = "") -> str:
    """A figure, or '—' when the run did not measure it."""
    return "—" if v is None else _f(v, unit)


def _headline(run: RunData, totals: dict[str, dict[str, Any]]) -> list[Block]:
    """Per cloud: what the fault cost, in one box above everything else."""
    s, rec = run.summary, run.summary.recovery
    per_cloud = _rec_field(rec, "per_cloud") or {}
    e2e = summary_field(s, "end_to_end")
    e2e_cloud = (e2e or {}).get("per_cloud") or {} if isinstance(e2e, dict) else {}
    clouds = sorted(set(totals) | set(rec.unavailability_s if rec else {}) | set(per_cloud)
                    | set(e2e_cloud))
    rows = []
    for c in clouds:
        pc = per_cloud.get(c) or {}
        t = totals.get(c) or {}
        rows.append([c, _m(rec.unavailability_s.get(c) if rec else None, " s"),
                     _m(pc.get("worst_partition_unavailability_s"), " s"),
                     _m(rec.time_to_first_ack_s.get(c) if rec else None, " s"),
                     _m(t.get("failed")), "—", _m(t.get("ack_p99_ms"), " ms"),
                     _m((e2e_cloud.get(c) or {}).get("max_lag_records"))])
    lost = columns.run_figures(run).get("lost")
    sends = s.sends
    failed = (f"{sends.failed} ({sends.failed_ratio:.2%})" if sends is not None else "—")
    rows.append([ALL_CLOUDS, _m(rec.worst_unavailability_s if rec else None, " s"),
                 _m(_rec_field(rec, "worst_partition_unavailability_s"), " s"),
                 _m(rec.worst_time_to_first_ack_s if rec else None, " s"), failed,
                 "—" if lost is None else str(lost), _m(s.ack_p99_ms, " ms"),
                 _m(max((int(v.get("max_lag_records") or 0) for v in e2e_cloud.values()),
                        default=None))])
    verdict = ("no verdict" if s.verdict is None else "PASSED" if s.verdict.passed
               else f"FAILED: {s.verdict.reasons[0]}" if s.verdict.reasons else "FAILED")
    blocks: list[Block] = [
        Para(verdict, "note" if s.verdict is None else "pass" if s.verdict.passed else "fail"),
        Table(["cloud", "unavailable (cloud-wide)", "worst partition unavailable",
               "time to first ack", "failed sends", "lost", "ack p99 (whole run)", "max lag"],
              rows)]
    worst = _rec_field(rec, "worst_partition")
    facts = []
    if worst:
        facts.append(f"worst partition {worst} "
                     f"({_m(_rec_field(rec, 'worst_partition_unavailability_s'), ' s')}), "
                     f"{_m(_rec_field(rec, 'partitions_affected'))} partitions affected")
    if isinstance(e2e, dict):
        facts.append(f"time to zero lag {_m(e2e.get('time_to_zero_lag_s'), ' s')}")
    if s.hub is not None:
        facts.append(f"hub change lag up to {_m(s.hub.max_s, ' s')}, back under its baseline "
                     + (f"{_m(s.hub.lag_recovered_s, ' s')} after the heal"
                        if s.hub.lag_recovered_s is not None else "never"))
    elif rec is not None and rec.time_to_zero_lag_s is not None:
        facts.append(f"committed-offset lag back to zero after {_m(rec.time_to_zero_lag_s, ' s')}")
    if s.fault_windows:
        facts.append(", ".join(f"{w.kind} {w.target}".strip() + " " + (
            _m(w.end_s - w.start_s, " s") if w.end_s else "not healed") for w in s.fault_windows))
    if facts:
        blocks.append(Para("; ".join(facts) + "."))
    blocks.append(Para("'—': not measured (lost is counted per partition, not per producer "
                       "cloud; older runs lack the per-partition and end-to-end figures). The "
                       "glossary at the end defines every figure.", "note"))
    return blocks


GLOSSARY = [
    "x axis: seconds from the fault start, the start of the first fault window (when the fault "
    "was in effect; negative before it); the shaded spans are the fault windows.",
    "per cloud: every series is one producer's (or consumer's) cloud, never a sum over clouds; "
    "'all clouds' is a run written before per-process metrics were kept.",
    "acked/s, sent/s: records acknowledged by the cluster / handed to the client, per second "
    "of the ack / send.",
    "failed sends: sends whose delivery report was an error (e.g. _MSG_TIMED_OUT); failed-send "
    "% = failed / (acked + failed) over the whole run.",
    "ack p99: 99th percentile of ack latency (intended send time to ack) of the acks of that "
    "second (HDR histograms).",
    "unavailable (cloud-wide): the longest interval after the fault start in which no record "
    "of that cloud was acked.",
    "worst partition unavailable: per partition, from the first send to it that was not acked "
    "until its next ack; the longest such interval of any partition (docs/verify.md). "
    "'partitions affected': partitions unavailable for more than a second.",
    "time to first ack: from the fault start to the first ack of a record sent at or after it.",
    "heat map: acks per partition per second, relative to that partition's usual rate (red: "
    "no ack that second; grey: no producer wrote to it yet or any more).",
    "lost: records acknowledged by the cluster that the replay to the fence did not find "
    "(docs/verify.md); counted per partition.",
    "end-to-end p99: intended send time to consumed, 99th percentile per second.",
    "lag: with `end_to_end` in summary.json, records acked and not yet consumed (from the "
    "producer and consumer ledgers); older runs show librdkafka's lag to the committed offset.",
    "time to zero lag: the first moment after the last heal when every record acked before it "
    "had been consumed (older runs: lag back under rate x 6 s of committed-offset lag).",
    "p99 back to baseline: first moment after which every 1 s window's ack p99 stays within "
    "1.5 x the baseline p99 (the seconds before the fault).",
    "under-replicated / offline: partitions whose ISR is smaller than their replicas / that "
    "have no leader, sampled once a second from the brokers (cluster.jsonl); smallest ISR: "
    "the fewest in-sync replicas of any partition.",
    "percentile plot: ack latency of the seconds before, during and after the fault windows "
    "(by ack time).",
]
CONNECT_GLOSSARY = [
    "connector rows (Timeline, the hub's Kafka Connect connectors from cluster.jsonl's "
    "`connect` blocks, each sample held until the next): the connector's state as the first "
    "Connect worker that answered reported it: RUNNING (it and every task), RUNNING on a silent "
    "worker (a task on a worker that did not answer that sample), not RUNNING (it or a task in "
    "another state, or no task), no worker answered (hatched); the strip above names the "
    "worker running its task; a black tick is a task moved to another worker.",
    "connectors table: samples: samples in which a worker gave the connector's status; "
    "unanswered: samples in which none did; not RUNNING (not_running_s): the seconds it or any "
    "of its tasks was not RUNNING; on a silent worker (on_silent_worker_s): the time Connect "
    "still reported the task RUNNING on a worker that no longer answers, the dead worker's task "
    "before the group rebalances; task moves: a task seen on another worker than in the sample "
    "before; Connect workers silent: per worker, the samples it did not answer in.",
]
HUB_GLOSSARY = [
    "hub change lag: a change's commit in the source database to its first sight in the sink's "
    "table (polled, so late by up to a poll), per second of commit; 'back under the baseline': "
    "from the heal to the end of the last second of commit whose highest lag was over the "
    "highest before the fault plus a poll (docs/verify.md).",
]


def _connectors(run: RunData) -> list[Block]:
    """The hub's connectors over the drill (summary.json `cluster_timeline.connectors`, from
    cluster.jsonl's `connect` blocks); nothing for runs without them."""
    cluster = summary_field(run.summary, "cluster_timeline")
    connectors = cluster.get("connectors") if isinstance(cluster, dict) else None
    if not isinstance(connectors, dict) or not connectors:
        return []
    rows = []
    for name, c in connectors.items():
        c = c if isinstance(c, dict) else {}
        rows.append([name, _f(c.get("samples")), _f(c.get("unanswered")),
                     _f(c.get("not_running_s"), " s"), _f(c.get("on_silent_worker_s"), " s"),
                     _f(c.get("task_moves")), ", ".join(c.get("states_seen") or []) or "none"])
    blocks: list[Block] = [
        Para("Kafka Connect, per connector over the drill (the broker timeline asked every "
             "Connect worker once a second; the glossary defines each figure):"),
        Table(["connector", "samples", "unanswered", "not RUNNING", "on a silent worker",
               "task moves", "states seen"], rows)]
    silent = cluster.get("connect_workers_silent") if isinstance(cluster, dict) else None
    if isinstance(silent, dict) and silent:
        blocks.append(Para("Connect workers silent (samples without an answer): " + ", ".join(
            f"{w} {n}" for w, n in silent.items()) + "."))
    return blocks


def _partitions(run: RunData) -> list[Block]:
    parts = _rec_field(run.summary.recovery, "partitions") or []
    if not parts:
        return []
    rows = sorted(parts, key=lambda p: -(p.get("unavailability_s") or 0.0))
    table = Table(["cloud", "partition", "unavailability", "time to first ack", "sends", "acked"],
                  [[str(p.get("cloud")), f"{p.get('topic')}[{p.get('partition')}]",
                    _f(p.get("unavailability_s"), " s"), _f(p.get("time_to_first_ack_s"), " s"),
                    _f(p.get("sends")), _f(p.get("acked"))] for p in rows[:MAX_PARTITION_ROWS]])
    more = len(rows) - MAX_PARTITION_ROWS
    return [Para("Per partition and producer cloud, worst first (from the fault start):"), table,
            *([Para(f"... {more} more in summary.json.", "note")] if more > 0 else [])]


def _verdict(run: RunData) -> list[Block]:
    s = run.summary
    blocks: list[Block] = []
    if s.verdict is None:
        blocks.append(Para("No verdict in summary.json.", "note"))
    else:
        blocks.append(Para("PASSED" if s.verdict.passed else "FAILED",
                           "pass" if s.verdict.passed else "fail"))
        if s.verdict.reasons:
            blocks.append(Bullets(list(s.verdict.reasons)))
    blocks += [Para("Anomalies found by the verifier, and the share of sends that failed over "
                    "the whole run ('—': not measured by this run):"),
               Table(columns.HEADINGS,
                     [[text for text, _ in columns.cells(columns.run_figures(run))]])]
    blocks += _contract(columns.verify_facts(run))
    violations = (s.slo or {}).get("violations") or []
    if violations:
        blocks += [Para("SLO violations:"), Bullets([str(v) for v in violations])]
    regressions = getattr(s, "regressions", None) or {}
    if isinstance(regressions, dict) and regressions.get("flags"):
        blocks += [Para(f"Regressions against run {regressions.get('previous_run_id')}:", "fail"),
                   Bullets([str(f.get("message", f)) for f in regressions["flags"]])]
    elif isinstance(regressions, dict) and regressions.get("previous_run_id"):
        blocks.append(Para(f"No regression against run {regressions['previous_run_id']}.", "note"))
    if run.journal:
        j = run.journal
        blocks.append(Para(f"Chaos Toolkit journal: status {j.get('status', '?')}, deviated "
                           f"{j.get('deviated', '?')}, {len(j.get('run') or [])} method "
                           f"activities, {len(j.get('rollbacks') or [])} rollbacks."))
        acts = [[str(a.get("activity", {}).get("name", "?")), str(a.get("status", "?")),
                 _f(a.get("duration"), " s"), str(a.get("start", ""))]
                for a in (j.get("run") or []) + (j.get("rollbacks") or [])]
        if acts:
            blocks.append(Table(["activity", "status", "duration", "start"], acts))
    return blocks


def _contract(facts: columns.VerifyFacts) -> list[Block]:
    """The contract the run held and the anomalies it allowed (riftdrill.verify.contract)."""
    c = facts.contract
    if c is None:
        if not facts.counts:
            return [Para("Contract: not recorded (the run was not verified).", "note")]
        then = (f" Anomalies that failed the run then: {', '.join(facts.failing_kinds)}; every "
                "other kind was only reported." if facts.failing_kinds else "")
        return [Para("Contract: not recorded (verified before contracts existed)." + then,
                     "note")]
    acks = ", ".join(str(a) for a in c.get("acks") or []) or "unknown"
    consumers = ("consumers checked" if c.get("consumers_checked")
                 else "consumers not checked: consumer anomalies not measured")
    if c.get("connector_delivery"):
        consumers += f"; integration hub checked, connector {c['connector_delivery']}"
    return [
        Para(f"Contract held: {c.get('profile', '?')} (acks {acks}, idempotence "
             f"{'on' if c.get('idempotence') else 'off'}, at most {c.get('max_in_flight', '?')} "
             f"requests in flight per connection, from {c.get('producers', '?')} producer "
             f"ledgers; {consumers})."),
        Para(f"Allowed anomalies (reported, do not fail the run): "
             f"{', '.join(k for k in facts.allowed_kinds if facts.listed(k)) or 'none'}. Every "
             f"other kind fails it: "
             f"{', '.join(k for k in facts.failing_kinds if facts.listed(k)) or 'none'}.")]


def _recovery(run: RunData) -> list[Block]:
    rec = run.summary.recovery
    if rec is None:
        return [Para("No recovery figures in summary.json.", "note")]
    rows = [["worst time to first ack", _f(rec.worst_time_to_first_ack_s, " s")],
            ["worst unavailability", _f(rec.worst_unavailability_s, " s")],
            ["baseline ack p99", _f(rec.baseline_p99_ms, " ms")],
            ["time to p99 back to baseline", _f(rec.time_to_p99_baseline_s, " s")],
            ["time to zero consumer lag", _f(rec.time_to_zero_lag_s, " s")],
            ["acked during the fault", _f(rec.acked_during_fault)]]
    for cloud, v in sorted(rec.time_to_first_ack_s.items()):
        rows.append([f"time to first ack in {cloud}", _f(v, " s")])
    for cloud, u in sorted(rec.unavailability_s.items()):
        rows.append([f"unavailability in {cloud}", _f(u, " s")])
    if _rec_field(rec, "worst_partition") is not None:
        rows += [["worst partition", str(_rec_field(rec, "worst_partition"))],
                 ["worst partition unavailability",
                  _f(_rec_field(rec, "worst_partition_unavailability_s"), " s")],
                 ["partitions affected (> 1 s)", _f(_rec_field(rec, "partitions_affected"))]]
    for code, n in sorted(rec.errors_by_code.items()):
        rows.append([f"errors {code}", str(n)])
    e2e = summary_field(run.summary, "end_to_end")
    if isinstance(e2e, dict):
        rows.append(["time to zero lag (end to end)", _f(e2e.get("time_to_zero_lag_s"), " s")
                     + (f" ({e2e['zero_lag_reason']})" if e2e.get("zero_lag_reason") else "")])
        for cloud, block in sorted((e2e.get("per_cloud") or {}).items()):
            rows.append([f"max lag in {cloud}", _f((block or {}).get("max_lag_records"),
                                                    " records")])
    cluster = summary_field(run.summary, "cluster_timeline")
    if isinstance(cluster, dict):
        for key, label in (("samples", "broker timeline samples"),
                           ("max_under_replicated", "most under-replicated partitions"),
                           ("max_offline", "most offline partitions"),
                           ("controller_changes", "controller changes")):
            rows.append([label, _f(cluster.get(key))])
    blocks: list[Block] = [Table(["figure", "value"], rows)]
    if rec.reasons:
        blocks.append(Bullets([f"{k}: {v}" for k, v in sorted(rec.reasons.items())]))
    return blocks + _partitions(run)


def _mirror(run: RunData) -> list[Block]:
    """Replication lag per MirrorMaker 2 and a consumer failover's figures (docs/verify.md,
    "Across MirrorMaker 2")."""
    s = run.summary
    blocks: list[Block] = []
    if s.replication:
        rows = [[name, f"{m.source} -> {m.target}", _f(m.baseline_p99_s, " s"), _f(m.p99_s, " s"),
                 _f(m.max_s, " s"),
                 _f(m.settled_s, " s") + (f" ({m.settled_reason})" if m.settled_reason else ""),
                 f"{m.mirrored} of {m.acked}",
                 f"{m.checkpoints} ({m.checkpoints_before_fault} before the fault), across "
                 f"the fault {_f(m.checkpoint_fault_gap_s, ' s')}, longest gap "
                 f"{_f(m.checkpoint_max_gap_s, ' s')}"
                 + ("" if m.checkpoint_gap_from_s is None
                    else f" from {_f(m.checkpoint_gap_from_s, ' s')}")]
                for name, m in sorted(s.replication.items())]
        blocks += [Para("Replication lag: source ack to visible in the mirror (the mirror tail's "
                        "first poll), per record; settled = the last record, at or after the "
                        "heal, that took longer than twice the baseline p99 (at least 1 s), from "
                        "the fault start."),
                   Table(["mirror", "clusters", "baseline p99", "p99", "highest", "settled",
                          "mirrored", "group checkpoints"], rows)]
    f = s.failover
    if f is not None:
        rows = [["clusters", f"{f.source} -> {f.target} (group {f.group}, reading {f.topic})"],
                ["failed over at", _f(f.failover_at_s, " s")],
                ["RTO (cut to first record consumed on the target)",
                 _f(f.rto_s, " s") + (f" ({f.rto_reason})" if f.rto_reason else "")],
                ["RPO (acked before the cut, not in the mirror by the failback)",
                 f"{f.rpo_records} records, {_f(f.rpo_s, ' s')}"],
                ["checkpoint age at the cut", _f(f.checkpoint_age_s, " s")],
                ["consumed on the target", str(f.consumed_on_target)],
                ["consumed twice (translation granularity)", str(f.reconsumed)],
                ["skipped (translation ahead: fails)", str(f.skipped)],
                ["left unread on the target (fails)", str(f.unconsumed_on_target)],
                ["never delivered (fails)", str(f.never_delivered)],
                *_producer_rows(f),
                ["failed back at", _f(f.failback_at_s, " s")],
                ["failback RTO (to the source group's first poll)", _f(f.failback_rto_s, " s")],
                ["consumed again after the failback", str(f.failback_reconsumed)]]
        parts = [[str(p.partition), _f(p.checkpoint_upstream), _f(p.checkpoint_downstream),
                  str(p.start_offset), str(p.reconsumed), str(p.skipped)] for p in f.partitions]
        blocks += [Para("Consumer failover: seconds from the cut (the fault start)."),
                   Table(["figure", "value"], rows),
                   Table(["mirror partition", "checkpoint: source offset", "translated",
                          "started at", "consumed twice", "skipped"], parts)]
    return blocks


def _hub(run: RunData) -> list[Block]:
    """The integration hub (summary.json `hub`, chaos/hubfigures.py): the change lag around the
    fault, and the hub's anomalies with example rows from verify.json."""
    h = run.summary.hub
    if h is None:
        return []
    recovered = (_f(h.lag_recovered_s, " s") if h.lag_recovered_s is not None
                 else f"never ({h.lag_recovered_reason or 'no figure'})")
    rows = [["changes committed in the source", str(h.committed)],
            ["seen in the sink's table", str(h.seen)],
            ["overwritten before a poll saw them (lag unknown)", str(h.overwritten)],
            ["never seen in the sink", str(h.never_visible)],
            ["change lag: highest / p99 / median (whole run)",
             f"{_f(h.max_s, ' s')} / {_f(h.p99_s, ' s')} / {_f(h.median_s, ' s')}"],
            ["highest before the fault (baseline)", _f(h.baseline_max_s, " s")],
            ["highest since the fault start", _f(h.since_fault_max_s, " s")],
            ["back under the baseline after the heal", recovered],
            ["sink polled every (a sight is late by up to)", _f(h.poll_interval_s, " s")],
            ["drain after the load (sink showing every final state)",
             _f(h.drain_s, " s") if h.drain_s is not None else "never"]]
    if h.verify is not None:
        equal = {True: "yes", False: "no", None: "not judged (the fence row never reached it)"}
        rows += [["sink's table equals the source's, row by row", equal[h.verify.rows_equal]],
                 ["rows in the source / the sink",
                  f"{h.verify.rows_source} / {h.verify.rows_target}"]]
    blocks: list[Block] = [
        Para("Change lag: a change's commit in the source database to its first sight in the "
             "sink's table (polled), per change; the plot shows the changes committed each "
             "second, from the fault start. Back under the baseline: from the heal to the end "
             "of the last second of commit whose highest lag was over the baseline's highest "
             "plus a poll."),
        Table(["figure", "value"], rows)]
    return blocks + _hub_anomalies(run)


def _hub_anomalies(run: RunData) -> list[Block]:
    """Every hub kind's count and whether it fails the run, with example rows (verify.json's;
    without it, the counts summary.json kept)."""
    report = run.verify.hub if run.verify is not None else None
    facts = columns.verify_facts(run)
    h = run.summary.hub
    if report is None:
        if h is None or h.verify is None:
            return [Para("The hub was not verified row by row in this run.", "note")]
        counts = h.verify.anomalies
        note = "verify.json is missing: counts from summary.json, no examples."
        return [Para(note, "note"), Table(["hub anomaly", "count", "fails the run"], [
            [k, str(n), "yes" if k in facts.failing_kinds else "no"]
            for k, n in counts.items()])]
    rows = []
    for kind, n in report.counts.items():
        a = report.anomalies.get(kind)
        shown = a.examples[:MAX_HUB_EXAMPLES] if a is not None else []
        examples = "; ".join(f"id {e.id}" + (f" v{e.version}" if e.version is not None else "")
                             + f": {e.detail}" for e in shown)
        more = len(a.examples) - len(shown) if a is not None else 0
        if more > 0:
            examples += f" ... {more} more in verify.json"
        rows.append([kind, str(n), "yes" if kind in facts.failing_kinds else "no",
                     examples or "—"])
    return [Para(f"Row by row (docs/verify.md): {report.changes} changes attempted, "
                 f"{report.cdc_events} read from the CDC topic; the fence row "
                 f"{'reached' if report.fence_in_cdc else 'did not reach'} the CDC topic and "
                 f"{'reached' if report.fence_in_target else 'did not reach'} the sink."),
            Table(["hub anomaly", "count", "fails the run", "examples (row id, version)"],
                  rows)]


def _producer_rows(f: Any) -> list[list[str]]:
    p = f.producers
    if p is None:
        return [["producers", "stayed on the source cluster (not failed over)"]]
    return [["producers switched to the target at", _f(p.switched_at_s, " s")],
            ["producers' RTO (cut to first ack on the target)", _f(p.rto_s, " s")],
            ["acked on the target for the source's producers", str(p.acked_on_target)],
            ["producers switched back at", _f(p.switched_back_at_s, " s")],
            ["producers' failback RTO (to first ack in the source)", _f(p.failback_rto_s, " s")]]


def _sends(run: RunData) -> list[Block]:
    sends = run.summary.sends
    if sends is None:
        return [Para("Sends: summary.json has no `sends` (written before failed sends were "
                     "counted): not shown.", "note")]
    rows = [["attempted (acked + failed)", str(sends.attempted)], ["acked", str(sends.acked)],
            ["failed", str(sends.failed)],
            ["failed share", f"{sends.failed_ratio:.2%}" if sends.attempted else "n/a"]]
    rows += [[f"failed {code}", str(n)] for code, n in sends.errors_by_code.items()]
    return [Para("Sends over the whole run, from the producer ledgers (slo.yaml bounds the "
                 "failed share: max_failed_send_ratio):"), Table(["sends", "value"], rows)]


def _load(run: RunData) -> list[Block]:
    sends = _sends(run)
    ls = run.load_summary
    if not ls:
        return [*sends, Para("load/summary.json is missing.", "note")]
    counts = [[c, _f(ls.get(c))] for c in ("sent", "acked", "failed", "consumed", "corrupt",
                                            "rebalances", "seconds", "processes") if c in ls]
    lat_rows = []
    for name in ("ack_latency_ms", "e2e_latency_ms", "publish_delay_ms"):
        d = ls.get(name) or {}
        lat_rows.append([name.removesuffix("_ms").replace("_", " ")] +
                        [_f(d.get(k)) for k in ("count", "p50", "p90", "p99", "p99_9", "max")])
    return [*sends, Table(["counter", "value"], counts),
            Table(["latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"], lat_rows)]


def _verify(run: RunData) -> list[Block]:
    v = run.verify
    if v is None:
        facts = columns.verify_facts(run)
        if facts.counts:
            return [Para("verify.json is missing; counts from summary.json:", "note"),
                    Table(["anomaly", "count"],
                          [[k, str(n) if facts.measured(k) else "not checked"]
                           for k, n in facts.counts.items() if facts.listed(k)])]
        return [Para("verify.json is missing: the run was not verified.", "note")]
    facts = columns.verify_facts(run)
    torn = getattr(v, "ledger_truncated_lines", 0)
    blocks: list[Block] = [
        Para("PASSED: no failing anomaly" if v.passed else "FAILED: failing anomalies below",
             "pass" if v.passed else "fail"),
        Para(f"{v.ledgers} ledgers, {v.acks} acks, {v.errors} delivery errors, {v.records_read} "
             f"records read from {', '.join(v.clusters) or 'no cluster'}."
             + (f" {torn} torn ledger entries (a crash mid-write) were skipped." if torn else "")),
        Table(["anomaly", "count", "fails the run"],
              [[k, str(n) if facts.measured(k) else "not checked",
                "yes" if k in v.failing_kinds else "no"] for k, n in v.totals.items()
               if facts.listed(k)]),
    ]
    rows = []
    for p in v.partitions:
        for kind, a in sorted(p.anomalies.items()):
            rows.append([f"{p.cluster}/{p.topic}/{p.partition}", kind, str(a.count),
                         _ranges(a.offsets, a.truncated)])
    for m in v.mirrors:
        for kind, a in sorted(m.anomalies.items()):
            rows.append([f"{m.target_cluster}/{m.mirror_topic}/{m.partition} (mirror)", kind,
                         str(a.count), _ranges(a.offsets, a.truncated)])
    if rows:
        blocks += [Para("Offending offsets (closed ranges):"),
                   Table(["partition", "anomaly", "count", "offsets"], rows)]
    return blocks


def _ranges(ranges: list[tuple[int, int]], truncated: bool) -> str:
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:MAX_RANGES_SHOWN]]
    more = len(ranges) - MAX_RANGES_SHOWN
    tail = f" ... {more} more ranges in verify.json" if more > 0 else ""
    return ", ".join(shown) + tail + (" (list capped by the verifier)" if truncated else "")


def _cost(cost: Cost, prices_path: str) -> list[Block]:
    rows = [[c.item, _f(c.quantity, nd=6), c.unit, _f(c.unit_price, nd=6),
             _money(c.drill, cost.currency), _money(c.fault, cost.currency),
             _money(c.monthly, cost.currency)] for c in cost.lines]
    rows.append(["total", "", "", "", _money(cost.drill_total, cost.currency),
                 _money(cost.fault_total, cost.currency),
                 _money(cost.monthly_total, cost.currency)])
    month = ("traffic and requests at the baseline window's rate (before the fault)"
             if cost.month_basis == "baseline" else
             "traffic and requests at the run's average rate (no baseline window)")
    blocks: list[Block] = [
        Para(f"Measured usage priced with {prices_path} (list prices as of {cost.prices_as_of}; "
             "edit the file and re-run `riftdrill report`). 'of it, the fault' is what the run "
             "used beyond its baseline rate. 'per month' runs this workload for 730 hours: "
             f"{month}, brokers all month, the bytes stored at the end kept all month."),
        Table(["item", "quantity", "unit", "unit price", "this drill", "of it, the fault",
               "per month"], rows)]
    if cost.notes:
        blocks.append(Bullets(cost.notes))
    return blocks


MAX_FAULT_ROWS = 300  # a soak's hour at a fault every 15 s: every fault listed


def _per_fault(run: RunData) -> list[Block]:
    """Each fault's own figures (chaos/perfault.py) and their sums by kind; only runs with
    several faults."""
    pf = run.summary.per_fault
    if pf is None or not pf.faults:
        return []
    clouds = sorted({c for f in pf.faults for c in f.unavailability_s})
    base = f"{_f(pf.factor, nd=2)} x the baseline p99 ({_f(pf.baseline_p99_ms, ' ms')})"
    kinds = Table(["fault kind", "faults", "worst unavailability (median)", "(max)",
                   f"p99 back to {base} before the next fault", "(slowest)"],
                  [[k.kind, _f(k.faults), _f(k.worst_unavailability_median_s, " s"),
                    _f(k.worst_unavailability_max_s, " s"), f"{k.p99_back} of {k.faults}",
                    _m(k.p99_back_max_s, " s")] for k in pf.kinds])
    rows = [[_f(f.start_s, " s"), f.kind, f.target, _f(f.held_s, " s"),
             _f(f.span_s, " s") + (" (overlapped)" if f.overlapped else ""),
             *[_f(f.unavailability_s.get(c), " s") for c in clouds],
             *[_m(f.time_to_first_ack_s.get(c), " s") for c in clouds],
             _m(f.p99_back_s, " s")] for f in pf.faults[:MAX_FAULT_ROWS]]
    table = Table(["start", "fault", "target", "held", "until the next",
                   *[f"unavailable {c}" for c in clouds], *[f"first ack {c}" for c in clouds],
                   "p99 back after the heal"], rows)
    more = len(pf.faults) - MAX_FAULT_ROWS
    return [Para("Each fault on its own: from its start to the next fault's start (the run's end "
                 "for the last), per cloud the longest time without an ack and the time to the "
                 "first ack of a record sent after it began; from its heal, the time until the "
                 f"ack p99 stayed within {base} for the rest of that span (—: not before the "
                 "next fault, or no such ack). 'overlapped': the next fault began before this "
                 "one was healed, so the figures mix both. By kind:"), kinds, Para("Every fault (start: "
                 "seconds from the first):"), table,
            *([Para(f"... {more} more in summary.json.", "note")] if more > 0 else [])]


def run_document(run: RunData, plots: list[Plot], cost: Cost | None, prices_path: str,
                 totals: dict[str, dict[str, Any]] | None = None) -> Document:
    """Headline box and timeline first, then the details, then the glossary. `totals`: per
    cloud whole-run sends and ack p99 (series.cloud_totals; read from the run when None)."""
    s = run.summary
    verdict = "n/a" if s.verdict is None else "PASSED" if s.verdict.passed else "FAILED"
    by_name = {p.name: p for p in plots}
    if totals is None:
        totals = cloud_totals(cloud_metrics(run.run_dir / s.load_dir))
    connectors = _connectors(run)
    connect_rows = "connectors" in by_name["timeline"].meta if "timeline" in by_name else False
    timeline: list[Block] = [Para(
        "Seconds from the fault start, fault windows shaded, one series per cloud; the "
        "vertical lines mark recovery (first ack, p99 back to baseline, lag zero)."
        + (" The last panel has a row per Kafka Connect connector: its state each second "
           "and the worker running its task." if connect_rows else ""))]
    if "timeline" in by_name:
        timeline.append(Image(by_name["timeline"]))
    else:
        timeline.append(Para("No per-second load metrics: no timeline.", "note"))
    timeline += connectors
    sections = [
        Section("Headline", _headline(run, totals), css="headline"),
        Section("Timeline", timeline),
        Section("Verdict", _verdict(run)),
        Section("Run", _facts(run)),
        Section("Recovery", _recovery(run)),
    ]
    for name in ("partitions", "lag", "percentiles"):
        if name in by_name:
            sections[-1].blocks.append(Image(by_name[name]))
    per_fault = _per_fault(run)
    if per_fault:
        sections.append(Section("Per fault", per_fault))
    mirror = _mirror(run)
    if mirror:
        if "replication" in by_name:
            mirror.insert(2 if run.summary.replication else 0, Image(by_name["replication"]))
        sections.append(Section("Across MirrorMaker 2", mirror))
    hub = _hub(run)
    if hub:
        if "hub" in by_name:
            hub.insert(1, Image(by_name["hub"]))
        sections.append(Section("Hub", hub))
    sections.append(Section("Load", _load(run)))
    ver = _verify(run)
    if "verify" in by_name:
        ver.insert(3 if len(ver) > 3 else len(ver), Image(by_name["verify"]))
    sections.append(Section("Verifier", ver))
    if cost is not None:
        sections.append(Section("Cost", _cost(cost, prices_path)))
    sections.append(Section("Glossary", [Bullets(
        GLOSSARY + (CONNECT_GLOSSARY if connectors or connect_rows else [])
        + (HUB_GLOSSARY if hub else []))]))
    if run.notes:
        sections.append(Section("Missing inputs", [Bullets(run.notes)]))
    return Document(title=f"{s.experiment} on {s.engine} {s.engine_version}".strip(),
                    subtitle=f"{s.title} - run {s.run_id}, {s.started_at}, {s.topology} on "
                             f"{s.target}: {verdict}", sections=sections)


@dataclass
class Rendered:
    kind: str  # "run" | "compare" | "index"
    id: str
    dir: Path
    markdown: Path
    html: Path
    plots: list[str]


def render_run(run: RunData, prices: PriceTable | None, prices_path: str = "prices.yaml") -> Rendered:
    metrics = cloud_metrics(run.run_dir / run.summary.load_dir)  # read once, for both
    series: RunSeries = run_series(run.run_dir, run.summary, run.timeline, metrics)
    plots = run_plots(run, series)
    cost = run_cost(run, prices) if prices is not None else None
    doc = run_document(run, plots, cost, prices_path, cloud_totals(metrics))
    return _write_doc("run", run.run_id, run.run_dir, doc, plots)


def _write_doc(kind: str, ident: str, out_dir: Path, doc: Document, plots: list[Plot]) -> Rendered:
    plot_dir = out_dir / "plots"
    if plots:
        plot_dir.mkdir(exist_ok=True)
    for p in plots:
        _write(plot_dir / f"{p.name}.png", p.png)
    md, page = out_dir / "report.md", out_dir / "report.html"
    _write(md, to_markdown(doc))
    _write(page, to_html(doc))
    return Rendered(kind, ident, out_dir, md, page, [str(plot_dir / f"{p.name}.png") for p in plots])


# ---- comparison ----------------------------------------------------------------------------

def entry_cost(entry: CompareEntry, prices: PriceTable | None) -> Cost | None:
    return price_usage(entry.usage, prices) if prices is not None and entry.usage else None


def compare_rows(doc: CompareDoc, prices: PriceTable | None, link_prefix: str = ""
                 ) -> Table:
    rows, keys = [], []
    links: dict[tuple[int, int], str] = {}
    for i, e in enumerate(sorted(doc.entries, key=lambda e: (e.experiment, e.setup))):
        cost = entry_cost(e, prices)
        monthly = cost.monthly_total if cost else None
        values: list[tuple[str, str | float | None]] = [
            (e.experiment, None), (e.setup, None),
            (f"{e.engine} {e.engine_version}".strip(), None), (e.topology, None),
            (e.wan or "n/a", None),
            ("pass" if e.verdict_passed else "FAIL", None),
            (_f(e.worst_time_to_first_ack_s, " s"), e.worst_time_to_first_ack_s),
            (_f(e.worst_unavailability_s, " s"), e.worst_unavailability_s),
            (_f(e.time_to_p99_baseline_s, " s"), e.time_to_p99_baseline_s),
            (_f(e.time_to_zero_lag_s, " s"), e.time_to_zero_lag_s),
            (_f(e.ack_p50_ms, " ms"), e.ack_p50_ms),
            (_f(e.ack_p99_ms, " ms"), e.ack_p99_ms),
            (_f(e.e2e_p99_ms, " ms"), e.e2e_p99_ms),
            *columns.cells(e.model_dump()),
            (_money(monthly, cost.currency) if cost and monthly is not None else "n/a", monthly),
            (e.run_id, None)]
        rows.append([v for v, _ in values])
        keys.append([k for _, k in values])
        if link_prefix:
            links[(i, len(values) - 1)] = f"{link_prefix}{e.run_id}/report.html"
    return Table(["experiment", "setup", "engine", "topology", "link", "verdict", "first ack",
                  "unavailable", "p99 back", "lag zero", "ack p50", "ack p99", "e2e p99",
                  *columns.HEADINGS, "per month", "run"],
                 rows, sort_keys=keys, links=links, sortable=True, id="compare")


def compare_document(doc: CompareDoc, prices: PriceTable | None, plots: list[Plot]) -> Document:
    blocks: list[Block] = [
        Para("Each row is one drill run of the experiment on that setup (an engine in a "
             "topology), over the cross-cloud link named in 'link' (lab/wan.py profiles). "
             "Latencies are over the whole run, fault included; 'e2e' is intended send to "
             "consumed. 'per month' prices what the run measured as a 730-hour month of the "
             "same workload (docs/report.md)."),
        compare_rows(doc, prices, link_prefix="../../runs/")]
    blocks += [Image(p) for p in plots]
    if doc.replacements:
        blocks.append(Para("Broker replacement: a broker is killed and replaced by a fresh one "
                           "with an empty disk; the clock stops when it serves its share again."))
        blocks.append(Table(["setup", "engine", "broker", "replacement", "data moved", "note"],
                            [[r.setup, r.engine, r.broker, _f(r.replacement_s, " s"),
                              f"{r.bytes_moved / 2**20:.1f} MiB", r.note]
                             for r in doc.replacements]))
    if prices is not None:
        blocks.append(Para(f"Prices: list prices as of {prices.as_of} ({prices.currency}), "
                           "editable in prices.yaml.", "note"))
    return Document(title=f"Comparison {doc.compare_id}",
                    subtitle=doc.title or f"created {doc.created_at}",
                    sections=[Section("Setups side by side", blocks)])


def render_compare(compare_dir: Path, prices: PriceTable | None) -> Rendered:
    doc = load_compare(compare_dir)
    costs = {(e.experiment, e.setup): c.monthly_total for e in doc.entries
             if (c := entry_cost(e, prices)) is not None}
    plots = [p for p in [compare_plot(doc, costs)] if p is not None]
    return _write_doc("compare", doc.compare_id, compare_dir, compare_document(doc, prices, plots),
                      plots)


# ---- the index -----------------------------------------------------------------------------

@dataclass
class Skipped:
    path: str
    error: str


def index_row(run: RunData, prices: PriceTable | None) -> tuple[list[str], list[str | float | None]]:
    s, rec = run.summary, run.summary.recovery
    cost = run_cost(run, prices) if prices is not None else None
    verdict = "n/a" if s.verdict is None else "pass" if s.verdict.passed else "FAIL"
    ttfa = rec.worst_time_to_first_ack_s if rec else None
    unav = rec.worst_unavailability_s if rec else None
    p99 = rec.time_to_p99_baseline_s if rec else None
    lag = rec.time_to_zero_lag_s if rec else None
    monthly = cost.monthly_total if cost else None
    cells: list[tuple[str, str | float | None]] = [
        (s.started_at[:19].replace("T", " "), s.started_epoch_s),
        (f"{s.engine} {s.engine_version}".strip(), None), (s.topology, None), (s.experiment, None),
        (verdict, None), (_f(ttfa, " s"), ttfa), (_f(unav, " s"), unav), (_f(p99, " s"), p99),
        (_f(lag, " s"), lag), *columns.cells(columns.run_figures(run)),
        (_money(monthly, cost.currency) if cost and monthly is not None else "n/a", monthly),
        (s.run_id, None)]
    return [c for c, _ in cells], [k for _, k in cells]


def compat_section(matrices: list[CompatMatrix]) -> Section:
    """One row per workflow, a column per engine and client: what `riftdrill compat` found."""
    columns = [(m, info.client) for m in matrices for info in m.clients]
    headers = ["area", "workflow", *(f"{m.engine} {m.engine_version} · {client}"
                                     for m, client in columns)]
    rows = []
    for w in WORKFLOWS:
        cells = [m.cell(w.id, client) for m, client in columns]
        if any(c is not None for c in cells):
            rows.append([w.area, w.id, *(c.status if c else "" for c in cells)])
    blocks: list[Block] = [Para(
        "Each cell is a real client interaction against the engine's lab cluster "
        "(`make compat`, docs/compat.md): pass, fail (below, with the error), unsupported "
        "(declared by the engine, never run) or unavailable (the client has no API for it, or "
        "the deploy lacks what it needs)."), Table(headers, rows, id="compat")]
    for m in matrices:
        versions = ", ".join(f"{i.client} {i.version}" for i in m.clients)
        counts = "; ".join(f"{i.client}: " + ", ".join(f"{n} {s}" for s, n in sorted(
            m.counts(i.client).items())) for i in m.clients)
        blocks.append(Para(f"{m.engine} {m.engine_version} ({m.topology}, security {m.security}"
                           f"), {m.created_at}; {versions}. {counts}."))
        failed = [f"{c.workflow} ({c.client}): {c.detail}" for c in m.cells if c.status == "fail"]
        if failed:
            blocks.append(Bullets(failed))
    return Section("Compatibility", blocks)


def index_document(runs: list[RunData], compares: list[CompareDoc], skipped: list[Skipped],
                   prices: PriceTable | None, matrices: list[CompatMatrix] | None = None
                   ) -> Document:
    rows, keys = [], []
    links: dict[tuple[int, int], str] = {}
    for i, run in enumerate(sorted(runs, key=lambda r: r.summary.started_at, reverse=True)):
        cells, k = index_row(run, prices)
        rows.append(cells)
        keys.append(k)
        links[(i, len(cells) - 1)] = f"runs/{run.run_dir.name}/report.html"
    table = Table(["date (UTC)", "engine", "topology", "experiment", "verdict", "first ack",
                   "unavailable", "p99 back", "lag zero", *columns.HEADINGS, "per month", "report"],
                  rows, sort_keys=keys, links=links, sortable=True, id="runs")
    sections = [Section("Runs", [
        Para("Click a column header to sort. Recovery figures are the worst over clouds "
             "(docs/verify.md); anomalies are the verifier's counts and 'failed-send %' the "
             "share of sends that failed over the whole run (docs/report.md); '—' is a figure "
             "the run did not measure. 'per month' is this workload for 730 hours at the list "
             "prices of prices.yaml."), table])]
    for doc in compares:
        t = compare_rows(doc, prices, link_prefix="runs/")
        t.id = f"compare-{doc.compare_id}"
        sections.append(Section(f"Comparison {doc.compare_id}", [
            Para(doc.title or f"created {doc.created_at}"), t,
            Table(["report"], [["comparison report"]],
                  links={(0, 0): f"compare/{doc.compare_id}/report.html"})]))
    if matrices:
        sections.append(compat_section(matrices))
    if skipped:
        sections.append(Section("Skipped (unreadable) results", [Table(
            ["path", "problem"], [[s.path, s.error] for s in skipped])]))
    return Document(title="riftdrill results",
                    subtitle=f"{len(runs)} runs, {len(compares)} comparisons, generated "
                             f"{datetime.now(UTC).isoformat(timespec='seconds')}",
                    sections=sections)


@dataclass
class ReportResult:
    rendered: list[Rendered]
    skipped: list[Skipped]

    def to_json(self) -> dict[str, Any]:
        return {"rendered": [{"kind": r.kind, "id": r.id, "dir": str(r.dir),
                              "markdown": str(r.markdown), "html": str(r.html), "plots": r.plots}
                             for r in self.rendered],
                "skipped": [{"path": s.path, "error": s.error} for s in self.skipped]}


def render_all(results: Path, prices: PriceTable | None, prices_path: str = "prices.yaml",
               only: list[str] | None = None, progress: Any = None) -> ReportResult:
    """Every run and comparison under `results`, then results/index.{md,html}.

    A run or comparison that cannot be read is skipped and listed (never aborts the rest).
    `progress(message)` is called before each item when given.
    """
    rendered: list[Rendered] = []
    skipped: list[Skipped] = []
    runs: list[RunData] = []
    dirs = run_dirs(results / "runs")
    compare_dirs = run_dirs(results / "compare")
    for i, d in enumerate(dirs, 1):
        if progress:
            progress(f"run {i}/{len(dirs)}: {d.name}")
        try:
            run = load_run(d)
        except RunInputError as exc:
            skipped.append(Skipped(str(d), str(exc)))
            continue
        runs.append(run)
        if only and d.name not in only:
            continue
        rendered.append(render_run(run, prices, prices_path))
    compares: list[CompareDoc] = []
    for i, d in enumerate(compare_dirs, 1):
        if progress:
            progress(f"comparison {i}/{len(compare_dirs)}: {d.name}")
        try:
            compares.append(load_compare(d))
            if not only or d.name in only:
                rendered.append(render_compare(d, prices))
        except RunInputError as exc:
            skipped.append(Skipped(str(d), str(exc)))
    matrices: list[CompatMatrix] = []
    for path in sorted((results / "compat").glob("*.json")):
        try:
            matrices.append(load_matrix(path))
        except ValueError as exc:
            skipped.append(Skipped(str(path), str(exc)))
    if progress:
        progress("index")
    doc = index_document(runs, compares, skipped, prices, matrices)
    results.mkdir(parents=True, exist_ok=True)
    _write(results / "index.md", to_markdown(doc))
    _write(results / "index.html", to_html(doc))
    rendered.append(Rendered("index", "index", results, results / "index.md",
                             results / "index.html", []))
    return ReportResult(rendered, skipped)
