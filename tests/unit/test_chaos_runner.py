"""The drill runner without a lab: --var checks, heal on every exit path (with a fake `chaos`
child), the verdict when no fault happened, and summary.json's shape."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import runner, windows
from riftdrill.chaos.slo import ExperimentSlo
from riftdrill.errors import RiftdrillError
from riftdrill.redact import PATTERNS_ONLY

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for `chaos run`: records a fault window, writes a journal, then sleeps; on SIGINT it
# writes "interrupted" and exits like chaos does (status interrupted). The run context arrives
# as `--var run_dir=... --var owner_pid=...`, as `chaos run` gets it.
FAKE_CHAOS = textwrap.dedent("""
    import json, os, signal, sys, time
    var = dict(a.split("=", 1) for a in sys.argv[2:] if a != "--var")
    run = var["run_dir"]
    mark = os.path.join(run, "fake.log")
    def on_int(signum, frame):
        open(mark, "a").write("SIGINT pid=%s\\n" % var["owner_pid"])
        json.dump({"status": "interrupted", "run": []}, open(os.path.join(run, "journal.json"), "w"))
        sys.exit(20)
    signal.signal(signal.SIGINT, on_int)
    with open(os.path.join(run, "faults.jsonl"), "a") as f:
        f.write(json.dumps({"event": "start", "kind": "kill_broker", "target": "aws-1",
                            "ts_ns": time.time_ns()}) + "\\n")
    open(mark, "a").write("started\\n")
    time.sleep(float(sys.argv[1]))
    json.dump({"status": "completed", "run": []}, open(os.path.join(run, "journal.json"), "w"))
""")

# The runner in its own process (signals go to the main thread), with fake heal/stop.
RUNNER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from riftdrill.chaos import runner
    from riftdrill.context import RunContext
    from riftdrill.redact import PATTERNS_ONLY
    run = Path(sys.argv[1])
    ctx = RunContext(run_dir=run, owner_pid=os.getpid())
    class F:
        kind, target = "kill_broker", "aws-1"
    def heal_all():
        import time
        (run / "healing").write_text("started")
        time.sleep(float(os.environ.get("RD_TEST_HEAL_S", "0")))  # a slow heal, to signal it
        (run / "healed").write_text("yes")
        return [F()]
    def stop_load(d):
        (run / "load-stopped").write_text("yes")
    out = runner.run_chaos([sys.executable, sys.argv[2], sys.argv[3], *ctx.var_args()], run,
                           echo=False, redactor=PATTERNS_ONLY,
                           grace_s=10, heal_all=heal_all, stop_load=stop_load)
    print(out.interrupted_by, out.returncode, ",".join(out.healed), out.stop_requested)
""")


def start_runner(tmp_path: Path, sleep_s: float,
                 heal_s: float = 0) -> tuple[subprocess.Popen[str], Path]:
    run = tmp_path / "run"
    run.mkdir()
    fake = tmp_path / "fake_chaos.py"
    fake.write_text(FAKE_CHAOS)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(run), str(fake), str(sleep_s)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RIFTDRILL_HOME": str(ROOT),
                                 "RD_TEST_HEAL_S": str(heal_s)})
    return proc, run


def wait_for(path: Path, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and "started" in path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_is_forwarded_then_everything_is_healed(tmp_path: Path, sig: signal.Signals) -> None:
    proc, run = start_runner(tmp_path, 60)
    wait_for(run / "fake.log")
    proc.send_signal(sig)
    out, errs = proc.communicate(timeout=30)
    assert proc.returncode == 0, errs
    assert out.split() == [sig.name, "20", "kill_broker:aws-1", "None"]
    assert f"SIGINT pid={proc.pid}" in (run / "fake.log").read_text()  # chaos got the interrupt
    assert (run / "healed").exists() and (run / "load-stopped").exists()
    [w] = windows.fault_windows(run)
    assert w.end_ns is not None and w.healed_by == "runner"


def test_success_heals_too(tmp_path: Path) -> None:
    proc, run = start_runner(tmp_path, 0.2)
    out, errs = proc.communicate(timeout=30)
    assert out.split() == ["None", "0", "kill_broker:aws-1", "None"], errs
    assert (run / "healed").exists() and (run / "load-stopped").exists()


def test_a_signal_during_the_heal_waits_for_it_and_is_remembered(tmp_path: Path) -> None:
    """Ctrl-C while the runner heals: the heal is not cut short, the drill stays judged as it
    ran, and the signal is kept so a suite stops after this drill (it was once ignored)."""
    proc, run = start_runner(tmp_path, 0.2, heal_s=3)
    deadline = time.monotonic() + 20
    while not (run / "healing").exists():
        assert time.monotonic() < deadline, "the heal never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, errs = proc.communicate(timeout=30)
    assert proc.returncode == 0, errs
    assert out.split() == ["None", "0", "kill_broker:aws-1", "SIGINT"]
    assert (run / "healed").exists() and (run / "load-stopped").exists()
    assert "the heal finishes first" in errs


def test_heal_everything_never_raises_and_reports(tmp_path: Path) -> None:
    def bad_heal() -> list[Any]:
        raise RiftdrillError("inventory locked")

    def bad_stop(d: Path) -> None:
        raise OSError("gone")

    healed, errors = runner.heal_everything(tmp_path, bad_stop, bad_heal)
    assert healed == []
    assert any("riftdrill heal" in e for e in errors) and any("gone" in e for e in errors)


# ---- input checks -----------------------------------------------------------------------

EXP = {"title": "t", "method": [], "configuration": {
    "hold_s": {"type": "env", "key": "RIFTDRILL_HOLD_S", "default": 30},
    "broker": {"type": "env", "key": "RIFTDRILL_BROKER", "default": "aws-2"}}}


def test_vars_are_checked_against_the_experiment() -> None:
    assert runner.parse_vars(["hold_s=5", "broker=gcp-1"], EXP) == {"hold_s": "5",
                                                                    "broker": "gcp-1"}
    with pytest.raises(runner.ExperimentError, match=r"unknown --var 'hodl_s'.*known: broker, hold_s"):
        runner.parse_vars(["hodl_s=5"], EXP)
    with pytest.raises(runner.ExperimentError, match="must be a number"):
        runner.parse_vars(["hold_s=soon"], EXP)
    with pytest.raises(runner.ExperimentError, match="NAME=VALUE"):
        runner.parse_vars(["hold_s"], EXP)


def test_the_run_context_goes_in_as_vars_and_is_no_parameter() -> None:
    from riftdrill.context import RunContext

    exp = {**EXP, "configuration": {**EXP["configuration"], "run_dir": "", "owner_pid": 0}}
    with pytest.raises(runner.ExperimentError, match="run context"):
        runner.parse_vars(["run_dir=/tmp/x"], exp)
    params = runner.effective_params(exp, {"hold_s": "5"})
    assert params == {"hold_s": 5, "broker": "aws-2"}
    cmd = runner.chaos_command(Path("/e/link-sever.json"), RunContext(Path("/r/run"), 77),
                               {"hold_s": "5", "run_dir": "", "owner_pid": "0"}, chaos_bin="chaos")
    assert cmd[-5:] == ["--var", "run_dir=/r/run", "--var", "owner_pid=77", "/e/link-sever.json"]
    assert "hold_s=5" in cmd and "run_dir=" not in cmd and "owner_pid=0" not in cmd
    assert "--journal-path" in cmd and "/r/run/journal.json" in cmd


def test_what_the_control_healed_is_reported_by_the_runner(tmp_path: Path) -> None:
    # chaos's riftdrill control writes control.json as chaos ends
    write = ("from pathlib import Path; from riftdrill.chaos import runner; "
             "from riftdrill.redact import Redactor; "
             "runner.ControlReport(healed=['sever_link:aws-gcp'], cleanup_errors=['x failed'])"
             f".write(Path({str(tmp_path)!r}), Redactor())")
    outcome = runner.run_chaos([sys.executable, "-c", write], tmp_path, echo=False,
                               redactor=PATTERNS_ONLY,
                               heal_all=lambda: [], stop_load=lambda d: None)
    assert outcome.returncode == 0
    assert outcome.healed == ["sever_link:aws-gcp"] and outcome.cleanup_errors == ["x failed"]


def test_effective_params_var_over_env_over_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_BROKER", "gcp-2")
    assert runner.effective_params(EXP, {"hold_s": "7"}) == {"hold_s": 7, "broker": "gcp-2"}


def test_unknown_experiment_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(ROOT))
    with pytest.raises(runner.ExperimentError, match=r"experiments are: .*broker-kill"):
        runner.resolve_experiment("broker-kil")
    assert runner.resolve_experiment("broker-kill").name == "broker-kill.json"


def test_every_experiment_heals_in_its_rollbacks_and_is_overridable() -> None:
    for path in (ROOT / "experiments").glob("*.json"):
        exp = json.loads(path.read_text())
        funcs = [r["provider"]["func"] for r in exp["rollbacks"]]
        assert funcs == ["heal_all", "stop_load"], path.name
        conf = exp["configuration"]
        for key in ("rate", "baseline_s", "recovery_s"):
            assert conf[key]["type"] == "env", (path.name, key)
        assert "hold_s" in conf or "cycles" in conf, path.name
        assert exp["steady-state-hypothesis"]["probes"], path.name


def test_cli_bad_input_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "RIFTDRILL_HOME": str(ROOT)}
    for args in (["nope"], ["broker-kill", "--var", "bogus=1"], ["broker-kill", "--suite"]):
        p = subprocess.run([sys.executable, "-m", "riftdrill", "drill", *args], capture_output=True,
                           text=True, env=env, timeout=60)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.strip().splitlines()[-1].startswith("riftdrill: error:"), p.stderr


# ---- judging and summary -----------------------------------------------------------------

def test_a_drill_refused_by_a_guard_says_why_first(tmp_path: Path) -> None:
    """The control stopped the experiment at a failed guard: the reason leads the verdict."""
    (tmp_path / "journal.json").write_text(json.dumps({
        "status": "interrupted", "experiment": {}, "run": [], "rollbacks": []}))
    from tests.unit.test_chaos_targets import inv

    outcome = runner.ChaosOutcome(returncode=1, interrupted_by=None, seconds=1.0,
                                  refused="await-group-checkpoints: the group never committed")
    j = runner.judge(tmp_path, {"hold_s": 1}, inv(), outcome, ExperimentSlo(), PATTERNS_ONLY)
    assert not j.verdict.passed
    assert j.verdict.reasons[0] == ("refused before any fault: await-group-checkpoints: the "
                                    "group never committed")
    assert any("fault never happened" in r for r in j.verdict.reasons)


def test_a_drill_whose_fault_never_happened_fails(tmp_path: Path) -> None:
    (tmp_path / "journal.json").write_text(json.dumps({
        "status": "completed", "experiment": {},
        "steady_states": {"before": {"steady_state_met": True, "probes": []}},
        "run": [{"activity": {"type": "action", "name": "start-load"}, "status": "succeeded"}],
        "rollbacks": []}))
    from tests.unit.test_chaos_targets import inv

    outcome = runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0)
    j = runner.judge(
        tmp_path, {"hold_s": 1}, inv(), outcome, ExperimentSlo(max_failed_send_ratio=0.01),
        PATTERNS_ONLY)
    verdict, recovery, violations, wins, sends = (j.verdict, j.recovery, j.violations, j.windows,
                                                  j.sends)
    assert not verdict.passed and wins == [] and recovery is None and sends is None
    assert any("fault never happened" in r for r in verdict.reasons)
    assert any("load never started" in r for r in verdict.reasons)
    # no ledgers, no failed-send figure: a bounded ratio cannot be shown to hold
    assert [v.bound for v in violations] == ["max_failed_send_ratio", "max_lost"]
    assert "no failed-send figure" in violations[0].message


JOURNAL_OK = {"status": "completed", "experiment": {},
              "steady_states": {"before": {"steady_state_met": True, "probes": []}},
              "run": [{"activity": {"type": "action", "name": "sever"}, "status": "succeeded"}],
              "rollbacks": []}


def _run_with_ledger(tmp_path: Path, acks: int, timed_out: int) -> Path:
    from riftdrill.load.ledger import LedgerWriter

    (tmp_path / "journal.json").write_text(json.dumps(JOURNAL_OK))
    windows.record_start("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=10**9)
    windows.record_end("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=2 * 10**9)
    with LedgerWriter(tmp_path / "load" / "ledgers" / "aws-p0.rdl", 0, "aws", ["t"]) as w:
        for seq in range(acks):
            w.append_ack("t", 0, seq, None, seq, 0, seq, seq + 1)
        for seq in range(acks, acks + timed_out):
            w.append_error("t", seq, -192, seq, seq + 1)
    return tmp_path


def _judge_with_clean_verify(monkeypatch: pytest.MonkeyPatch, run: Path,
                             bounds: ExperimentSlo) -> Any:
    """judge() on a run whose verify is clean (the replay needs a lab: stubbed)."""
    from riftdrill.chaos.recovery import RecoveryFigures
    from riftdrill.verify import verifier
    from riftdrill.verify.contract import run_contract
    from riftdrill.verify.report import VerifyReport
    from tests.unit.test_chaos_targets import inv

    report = VerifyReport(run_dir=str(run)).finish(run_contract([], consumers_checked=False))
    monkeypatch.setattr(verifier, "verify_run", lambda run_dir, inventory, **kw: report)
    monkeypatch.setattr(runner, "figures_from_run", lambda *a, **kw: RecoveryFigures(
        fault_start_ns=10**9, fault_end_ns=2 * 10**9, run_end_ns=3 * 10**9))
    outcome = runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0)
    return runner.judge(run, {"hold_s": 1}, inv(), outcome, bounds, PATTERNS_ONLY)


def test_a_run_verify_could_not_check_still_gets_its_recovery_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No fence could be written (the cluster refuses writes at the end): verify fails the run,
    and the recovery figures, which need only the ledgers, still judge the SLO bounds."""
    from riftdrill.load.fence import FenceError
    from riftdrill.load.ledger import LedgerWriter
    from riftdrill.verify import verifier
    from tests.unit.test_chaos_targets import inv

    (tmp_path / "journal.json").write_text(json.dumps(JOURNAL_OK))
    windows.record_start("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=10**9)
    windows.record_end("sever_link", "aws-gcp", run_dir=tmp_path, ts_ns=2 * 10**9)
    with LedgerWriter(tmp_path / "load" / "ledgers" / "aws-p0.rdl", 0, "aws", ["t"]) as w:
        for seq, ack_ns in enumerate((5 * 10**8, 25 * 10**8, 30 * 10**8)):
            w.append_ack("t", 0, seq, None, seq, 0, ack_ns - 10**7, ack_ns)
    run = tmp_path

    def no_fences(run_dir: Path, inventory: Any, **kw: Any) -> Any:
        raise FenceError("cannot write fences at b:9092 (t[0]: UNKNOWN)")

    monkeypatch.setattr(verifier, "verify_run", no_fences)
    outcome = runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0)
    j = runner.judge(
        run, {"hold_s": 1}, inv(), outcome, ExperimentSlo(max_unavailability_s=1000.0),
        PATTERNS_ONLY)
    verdict, recovery, report, violations = j.verdict, j.recovery, j.verify, j.violations
    assert report is None and recovery is not None
    assert not verdict.passed
    assert any(r.startswith("verify could not check the run: cannot write fences")
               for r in verdict.reasons)
    assert recovery.worst_unavailability_s == pytest.approx(1.5)  # last ack 0.5 s, next 2.5 s
    assert not [v for v in violations if v.bound == "max_unavailability_s"]


def test_failed_sends_over_the_bound_fail_the_drill(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_with_ledger(tmp_path, acks=70, timed_out=30)
    j = _judge_with_clean_verify(monkeypatch, run, ExperimentSlo(max_failed_send_ratio=0.25))
    verdict, violations, sends = j.verdict, j.violations, j.sends
    assert sends is not None
    assert (sends.attempted, sends.acked, sends.failed, sends.failed_ratio) == (100, 70, 30, 0.3)
    assert sends.errors_by_code == {"_MSG_TIMED_OUT": 30}
    [v] = violations
    assert (v.bound, v.limit, v.measured) == ("max_failed_send_ratio", 0.25, 0.3)
    assert not verdict.passed
    assert verdict.reasons == [v.message]
    assert "30.00% of sends failed (30 of 100: _MSG_TIMED_OUT 30)" in v.message


def test_failed_sends_within_the_bound_pass(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_with_ledger(tmp_path, acks=70, timed_out=30)
    j = _judge_with_clean_verify(monkeypatch, run, ExperimentSlo(max_failed_send_ratio=0.35))
    verdict, violations, sends = j.verdict, j.violations, j.sends
    assert violations == [] and verdict.passed, verdict.reasons
    assert sends is not None and sends.failed == 30


def test_a_drill_reads_each_producer_ledger_once(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify, the send outcomes and the recovery figures share one read of the ledgers."""
    from riftdrill.load import ledger
    from riftdrill.verify import verifier
    from riftdrill.verify.contract import run_contract
    from riftdrill.verify.report import VerifyReport
    from tests.unit.test_chaos_targets import inv

    run = _run_with_ledger(tmp_path, acks=70, timed_out=30)
    report = VerifyReport(run_dir=str(run)).finish(run_contract([], consumers_checked=False))

    def verify(run_dir: Path, inventory: Any, producers: Any = None) -> VerifyReport:
        verifier.load_ledgers(run_dir, inventory, producers)  # what verify reads (no replay)
        return report

    reads: list[Path] = []
    real = ledger._valid_bytes  # every reader of a ledger's entries goes through it

    def counted(path: Path, magic: bytes, *a: Any, **kw: Any) -> Any:
        if magic == ledger.MAGIC:  # producer ledgers (consumer ledgers share the container)
            reads.append(path)
        return real(path, magic, *a, **kw)

    monkeypatch.setattr(verifier, "verify_run", verify)
    monkeypatch.setattr(ledger, "_valid_bytes", counted)
    outcome = runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0)
    j = runner.judge(run, {"hold_s": 1}, inv(), outcome, ExperimentSlo(), PATTERNS_ONLY)
    verdict, sends = j.verdict, j.sends
    assert sends is not None and sends.attempted == 100
    # the recovery math ran over the same entries (this ledger's nanosecond clock is too short
    # for figures: it says so)
    assert any(r.startswith("recovery figures:") for r in verdict.reasons), verdict.reasons
    assert reads == [run / "load" / "ledgers" / "aws-p0.rdl"]


def test_summary_has_the_report_schema(tmp_path: Path) -> None:
    from riftdrill.chaos.recovery import RecoveryFigures
    from riftdrill.chaos.verdict import Verdict
    from tests.unit.test_chaos_targets import inv

    w = windows.FaultWindow(kind="kill_broker", target="aws-2", start_ns=2 * 10**9,
                            end_ns=3 * 10**9)
    s = runner.build_summary(
        tmp_path, "broker-kill", {"title": "T"}, inv(), {"hold_s": 5}, "2026-01-01T00:00:00+00:00",
        [w], RecoveryFigures(fault_start_ns=1, fault_end_ns=2, run_end_ns=3), None,
        Verdict(passed=False, reasons=["x"]), [], {"aws-to-gcp": {"bytes": 5, "packets": 1}},
        runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0))
    path = runner.write_summary(tmp_path, s, PATTERNS_ONLY)
    data = json.loads(path.read_text())
    for key in ("schema_version", "run_id", "experiment", "title", "target", "engine",
                "engine_version", "topology", "started_at", "ended_at", "riftdrill_sha", "host",
                "params", "fault_windows", "recovery", "verify", "verdict", "slo", "link_bytes",
                "journal", "load_dir"):
        assert key in data, key
    assert data["schema_version"] == 1 and data["title"] == "T"
    assert set(data["host"]) >= {"cores", "memory_gib", "kernel"}
    assert data["fault_windows"][0] | {} == {"kind": "kill_broker", "target": "aws-2",
                                             "direction": "both", "start_s": 2.0, "end_s": 3.0,
                                             "healed_by": "drill"}
    assert data["verify"] == {"passed": False, "counts": {}}
    assert data["sends"] is None  # no ledgers read: not 0 failed
    assert data["verdict"] == {"passed": False, "reasons": ["x"]}
    assert data["slo"] == {"violations": []}
    assert (data["journal"], data["load_dir"]) == ("journal.json", "load")


def test_summary_carries_sends_and_the_verify_contract(tmp_path: Path) -> None:
    from riftdrill.chaos.verdict import Verdict
    from riftdrill.load.outcomes import SendOutcomes
    from riftdrill.verify.anomalies import KINDS
    from riftdrill.verify.contract import ProducerContract, run_contract
    from riftdrill.verify.report import Anomaly, PartitionResult, VerifyReport
    from tests.unit.test_chaos_targets import inv

    contract = run_contract([ProducerContract(acks="all", idempotence=True, max_in_flight=5)],
                            consumers_checked=True)
    part = PartitionResult(cluster="main", topic="t", partition=0, low_watermark=0,
                           high_watermark=10, read=10, acked=10,
                           anomalies={"duplicates": Anomaly(count=2, offsets=[(3, 4)])})
    report = VerifyReport(run_dir=str(tmp_path), acks=10, partitions=[part]).finish(contract)
    report.ledger_truncated_lines = 1
    sends = SendOutcomes.from_counts(10, {"_MSG_TIMED_OUT": 3, "NOT_ENOUGH_REPLICAS": 1})
    s = runner.build_summary(
        tmp_path, "link-sever", {"title": "T"}, inv(), {"hold_s": 5}, "2026-01-01T00:00:00+00:00",
        [], None, report, Verdict(passed=False, reasons=["x"]), [], {},
        runner.ChaosOutcome(returncode=0, interrupted_by=None, seconds=1.0), sends=sends)
    data = json.loads(runner.write_summary(tmp_path, s, PATTERNS_ONLY).read_text())
    assert data["sends"] == {"attempted": 14, "acked": 10, "failed": 4,
                             "failed_ratio": 4 / 14,
                             "errors_by_code": {"NOT_ENOUGH_REPLICAS": 1, "_MSG_TIMED_OUT": 3}}
    v = data["verify"]
    assert set(v["counts"]) == set(KINDS) and v["counts"]["duplicates"] == 2
    assert v["passed"] is False  # duplicates fail an idempotent run
    assert v["contract"]["profile"] == "idempotent" and v["contract"]["consumers_checked"]
    assert v["allowed_kinds"] == ["failed_present", "unacknowledged"]
    assert "duplicates" in v["failing_kinds"] and "lost" in v["failing_kinds"]
    assert set(v["allowed_kinds"]) | set(v["failing_kinds"]) == set(KINDS)
    assert v["ledger_truncated_lines"] == 1
    assert (v["acks"], v["records_read"]) == (10, 10)


def test_counters_delta() -> None:
    from riftdrill.drivers.usage import counters_delta

    assert counters_delta({"a": {"bytes": 5}}, {"a": {"bytes": 12}, "b": {"bytes": 1}}) == {
        "a": {"bytes": 7}, "b": {"bytes": 1}}


def test_an_interrupted_hold_is_not_reported_as_a_failed_fault() -> None:
    from riftdrill.chaos.verdict import judge_journal

    journal = {"status": "interrupted", "experiment": {},
               "steady_states": {"before": {"steady_state_met": True, "probes": []}},
               "run": [{"activity": {"type": "action", "name": "sever"}, "status": "succeeded"},
                       {"activity": {"type": "action", "name": "hold-fault"}, "status": "failed"}],
               "rollbacks": []}
    reasons = judge_journal(journal)
    assert "action 'hold-fault' was cut short by the interruption" in reasons
    assert not any("fault never happened" in r for r in reasons)


FIXTURE = ROOT / "tests" / "fixtures" / "runs" / "20261124T225246Z-broker-kill"


def test_fixture_run_recomputes_to_its_summary() -> None:
    """The committed real run: its ledgers + fault windows give the recovery figures in its
    summary.json (the report tests read the same files)."""
    from riftdrill.chaos.recovery import PARTITION_FIELDS, figures_from_run

    summary = json.loads((FIXTURE / "summary.json").read_text())
    assert summary["schema_version"] == 1 and summary["verdict"]["passed"]
    start, end = windows.span(windows.fault_windows(FIXTURE)) or (0, None)
    assert summary["fault_windows"][0]["start_s"] == round(start / 1e9, 3)
    fig = figures_from_run(FIXTURE, start, end, baseline_s=summary["params"]["baseline_s"],
                           max_lag=runner.zero_lag_records(summary["params"]))
    # the per-partition figures and the baseline came later: the summary has all the others
    assert fig.model_dump(exclude={*PARTITION_FIELDS, "baseline"}) == summary["recovery"]
    assert not [b for b in fig.baseline.values() if b.failed_before_fault or not b.acked_before_fault]
    assert fig.worst_partition_unavailability_s is not None
