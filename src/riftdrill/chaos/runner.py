"""`riftdrill drill`: run one Chaos Toolkit experiment as a drill, always heal, then judge it.

    results/runs/<UTC>-<exp>/
        journal.json  chaos.log  chaos.out   what Chaos Toolkit did
        faults.jsonl                         fault windows, appended by the actions
        cluster.jsonl  logs/                 the broker timeline (1/s), brokers' + mirrors' logs
        load/                                ledgers, timeline, summary, histograms
        verify.json  summary.json            the replay and the drill's verdict
        control.json                         what the riftdrill control healed as chaos ended

`chaos run` runs as a child in its own session; the run context (`riftdrill.context`: this run's
directory, and this process as the owner of the faults it injects) goes in with
`--var run_dir=... --var owner_pid=...`. Whatever happens (success, failure, SIGINT, SIGTERM, an
exception) the experiment's riftdrill control heals the faults it owns and stops the load as
chaos ends (`chaos/control.py`), and the runner then heals again as a safety net (chaos may have
been killed): it forwards an interrupt to chaos, waits at most CHAOS_STOP_GRACE_S, kills it if
needed, runs `faults.heal_all()`, closes open fault windows and stops the load (idempotent).
Only then it verifies, computes the recovery figures and decides the verdict (Chaos Toolkit's
exit status is not it), once (`finish_drill`; under a stock `chaos run` the control calls it).
Last, it compares the run with the previous run of the same drill (regression.py) and records
the flags under `regressions` in summary.json: they do not change the verdict or the exit code.

Nothing in the run directory holds a secret of the deployment (`riftdrill.redact`): the runner
resolves the redactor once (`begin_drill`: the inventory's known secrets and .riftdrill/secrets/)
and writes through it (chaos.out as it is pumped, the broker logs as they are copied, verify.json,
summary.json, control.json); what chaos, Locust and the load processes wrote is swept in place
as the last step of `finish_drill`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riftdrill import context, faults, inventory, paths
from riftdrill.chaos import brokerlogs, live, nemesis, perfault, windows
from riftdrill.chaos import slo as slo_mod
from riftdrill.chaos import timeline as timeline_mod
from riftdrill.chaos.endtoend import EndToEnd, end_to_end_from_run, with_true_lag
from riftdrill.chaos.failover import FailoverFigures, failover_from_run
from riftdrill.chaos.hubfigures import HubFigures, hub_from_run
from riftdrill.chaos.recovery import (
    AcksAndErrors,
    RecoveryFigures,
    acks_from_ledgers,
    baseline_problems,
    figures_from_run,
)
from riftdrill.chaos.regression import compare_with_previous
from riftdrill.chaos.replication import MirrorLag, replication_from_run
from riftdrill.chaos.summary import (
    SCHEMA_VERSION,
    FaultWindow,
    HostFacts,
    RunSummary,
    VerdictSummary,
)
from riftdrill.chaos.verdict import Verdict, decide, load_journal
from riftdrill.context import RunContext
from riftdrill.drivers import Observer, driver_for, observer_for, redactor_for
from riftdrill.drivers.usage import LinkCounters, StoreSnapshots, counters_delta, store_usage_delta
from riftdrill.errors import RiftdrillError, ValidationError
from riftdrill.host import host_facts
from riftdrill.load.ledger import ProducerLedger, read_run_ledgers
from riftdrill.load.outcomes import SendOutcomes, send_outcomes
from riftdrill.redact import Redactor
from riftdrill.verify.report import VerifyReport

# chaos's rollbacks stop the load, which drains, waits for its fences and closes consumers:
# longer than load.runner.stop_timeout_s with default settings (~210 s)
CHAOS_STOP_GRACE_S = 240.0
CHAOS_MAX_S = 3 * 3600.0  # a drill that runs longer than this is killed and healed
# the broker timeline's hard stop: the longest chaos run, its stop grace and the heal after it
TIMELINE_MAX_S = CHAOS_MAX_S + 2 * CHAOS_STOP_GRACE_S
SUITE = ("broker-kill", "broker-pause", "leader-kill", "link-sever", "link-asymmetric",
         "link-flap", "link-degrade", "object-store-outage", "store-brownout", "cloud-outage")
# The short profile of `make drill` / `riftdrill drill --suite`: ~75 s per drill on 2 cores.
SUITE_VARS = {"hold_s": "20", "baseline_s": "10", "recovery_s": "20", "rate": "200",
              "cycles": "2", "down_s": "8", "up_s": "8"}
EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class ExperimentError(ValidationError):
    """Unknown experiment or bad --var."""


def experiments_dir() -> Path:
    return paths.project_root() / "experiments"


def known_experiments() -> list[str]:
    d = experiments_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def resolve_experiment(name: str) -> Path:
    """A name under experiments/ (with or without .json) or a path to an experiment file."""
    p = Path(name)
    if p.suffix == ".json" and p.is_file():
        return p.resolve()
    candidate = experiments_dir() / f"{p.stem if p.suffix == '.json' else name}.json"
    if candidate.is_file():
        return candidate
    raise ExperimentError(f"unknown experiment {name!r}; experiments are: "
                          f"{', '.join(known_experiments()) or '(none in ' + str(experiments_dir()) + ')'}")


def read_experiment(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExperimentError(f"experiment {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or "method" not in data:
        raise ExperimentError(f"{path} is not a Chaos Toolkit experiment (no method)")
    return data


def parse_vars(items: list[str], experiment: dict[str, Any]) -> dict[str, str]:
    """`k=v` items checked against the experiment's configuration: unknown keys and
    non-numbers for numeric keys are errors naming them."""
    conf = experiment.get("configuration") or {}
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ExperimentError(f"bad --var {item!r}: use NAME=VALUE")
        if ":" in key:
            raise ExperimentError(f"bad --var {item!r}: riftdrill takes NAME=VALUE (no :type)")
        if key in context.KEYS:
            raise ExperimentError(f"bad --var {key}: riftdrill sets the run context itself; "
                                  "pass only the drill's parameters")
        if key not in conf:
            raise ExperimentError(f"unknown --var {key!r} for {experiment.get('title', '?')!r}; "
                                  f"known: {', '.join(sorted(conf))}")
        default = conf[key].get("default") if isinstance(conf[key], dict) else conf[key]
        if isinstance(default, int | float) and not isinstance(default, bool):
            try:
                number = float(value)
            except ValueError:
                raise ExperimentError(f"bad --var {key}={value!r}: must be a number") from None
            if number < 0:
                raise ExperimentError(f"bad --var {key}={value!r}: must be >= 0")
        out[key] = value
    return out


def effective_params(experiment: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Every configuration value the drill runs with: --var, else env, else the default (the
    run context keys are not parameters: left out)."""
    values: dict[str, Any] = {}
    for key, spec in (experiment.get("configuration") or {}).items():
        if key in given:
            values[key] = given[key]
        elif isinstance(spec, dict) and spec.get("type") == "env":
            values[key] = os.environ.get(str(spec["key"]), spec.get("default"))
        else:
            values[key] = spec
    return drill_params(values)


def drill_params(values: dict[str, Any]) -> dict[str, Any]:
    """A drill's parameters from resolved configuration values: numbers as numbers, without
    the run context keys."""
    params: dict[str, Any] = {}
    for key, value in values.items():
        if key in context.KEYS:
            continue
        params[key] = value
        try:
            f = float(value)
            params[key] = int(f) if f.is_integer() else f
        except (TypeError, ValueError):
            pass
    return params


def new_run_dir(experiment: str, runs_dir: Path | None = None) -> Path:
    base = runs_dir or paths.results_dir() / "runs"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = base / f"{stamp}-{experiment}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = base / f"{stamp}-{experiment}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


# ---- running chaos, and always healing ----------------------------------------------------

@dataclass
class ChaosOutcome:
    returncode: int | None
    interrupted_by: str | None  # "SIGINT" / "SIGTERM" / "timeout" / None
    seconds: float
    healed: list[str] = field(default_factory=list)  # faults the runner itself had to heal
    cleanup_errors: list[str] = field(default_factory=list)
    # A signal that came while the runner healed (the heal is never cut short): the drill is
    # judged as it ran, and a suite stops after it.
    stop_requested: str | None = None
    # A guard that failed before any fault (the load did not start, no checkpoint of the group,
    # nothing crossed the mirror): the control stopped the experiment; exit 2 (bad input)
    refused: str | None = None


class _Signals:
    """SIGINT/SIGTERM while chaos runs: remember it and forward it (once) to chaos."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.late: str | None = None  # received while healing: remembered, not acted on
        self.proc: subprocess.Popen[bytes] | None = None

    def late_handler(self, signum: int, frame: object) -> None:
        if self.late is None and self.received is None:
            self.late = signal.Signals(signum).name
            print(f"riftdrill: {self.late}: the heal finishes first; nothing more runs after "
                  "this drill", file=sys.stderr, flush=True)

    def handler(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
            print(f"riftdrill: {name}: stopping the drill, healing every fault...",
                  file=sys.stderr, flush=True)
            if self.proc is not None and self.proc.poll() is None:
                # chaos turns SIGINT into KeyboardInterrupt: its rollbacks run (strategy always)
                _signal_group(self.proc, signal.SIGINT)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextmanager
def _trap(sig_state: _Signals) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, sig_state.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def chaos_command(exp_path: Path, ctx: RunContext, params: dict[str, str],
                  chaos_bin: str | None = None) -> list[str]:
    """`chaos run` of one drill: its parameters, then the run context, as `--var`s."""
    chaos = chaos_bin or shutil.which("chaos", path=str(Path(sys.executable).parent)) or "chaos"
    cmd = [chaos, "--log-file", str(ctx.run_dir / "chaos.log"), "run",
           "--journal-path", str(ctx.run_dir / "journal.json"), "--rollback-strategy", "always"]
    for k, v in params.items():
        if k not in ctx.to_vars():
            cmd += ["--var", f"{k}={v}"]
    return [*cmd, *ctx.var_args(), str(exp_path)]


def heal_everything(run_dir: Path, stop_load: Callable[[Path], object] | None = None,
                    heal_all: Callable[[], list[Any]] | None = None) -> tuple[list[str], list[str]]:
    """heal_all + close fault windows + stop the load; never raises. (healed, errors)."""
    healed: list[str] = []
    errors: list[str] = []
    try:
        t0 = time.time_ns()
        done = (heal_all or faults.heal_all)()
        t1 = time.time_ns()  # each heal was confirmed by its driver before heal_all returned
        for f in done:
            healed.append(f"{f.kind}:{f.target}")
            windows.record_end(f.kind, f.target, run_dir=run_dir, ts_ns=t1, by="runner",
                               requested_ns=t0, confirmed_by="heal_all returned")
    except Exception as exc:
        errors.append(f"heal_all failed: {exc} (run `riftdrill heal`)")
    try:
        windows.close_open(run_dir)
    except Exception as exc:
        errors.append(f"closing fault windows failed: {exc}")
    try:
        if stop_load is None:
            from riftdrill.load.runner import stop_load as _stop

            _stop(run_dir)
        else:
            stop_load(run_dir)
    except Exception as exc:
        errors.append(f"stopping the load failed: {exc}")
    return healed, errors


def run_chaos(cmd: list[str], run_dir: Path, *, redactor: Redactor, echo: bool = True,
              max_s: float = CHAOS_MAX_S, grace_s: float = CHAOS_STOP_GRACE_S,
              stop_load: Callable[[Path], object] | None = None,
              heal_all: Callable[[], list[Any]] | None = None) -> ChaosOutcome:
    """Run chaos, its output redacted into chaos.out (and echoed); heal in every case (also
    when this raises, e.g. on a second signal)."""
    # Not run context (that is in `cmd`'s --vars): which checkout chaos's activities act on.
    env = {**os.environ, "RIFTDRILL_HOME": str(paths.project_root()), "PYTHONUNBUFFERED": "1"}
    sig = _Signals()
    t0 = time.monotonic()
    proc: subprocess.Popen[bytes] | None = None
    outcome = ChaosOutcome(returncode=None, interrupted_by=None, seconds=0.0)
    with _trap(sig):
        try:
            with open(run_dir / "chaos.out", "wb") as out_file:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env,
                                        start_new_session=True)
                sig.proc = proc
                pump = threading.Thread(target=_pump, args=(proc, out_file, echo, redactor),
                                        daemon=True)
                pump.start()
                deadline = t0 + max_s
                while proc.poll() is None:
                    if sig.received is None and time.monotonic() > deadline:
                        sig.received = "timeout"
                        _signal_group(proc, signal.SIGINT)
                    if sig.received is not None:
                        _wait_or_kill(proc, grace_s)
                        break
                    time.sleep(0.2)
                pump.join(timeout=5)
        finally:
            if proc is not None and proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            # A signal during the heal does not cut it short (a half-done heal is the worst
            # case): it is remembered, and a suite stops after this drill.
            for s in (signal.SIGINT, signal.SIGTERM):
                if threading.current_thread() is threading.main_thread():
                    signal.signal(s, sig.late_handler)
            outcome.healed, outcome.cleanup_errors = heal_everything(run_dir, stop_load, heal_all)
            # what the experiment's riftdrill control healed as chaos ended comes first
            by_control = read_control_report(run_dir)
            outcome.healed = [*by_control.healed, *outcome.healed]
            outcome.cleanup_errors = [*by_control.cleanup_errors, *outcome.cleanup_errors]
            outcome.refused = by_control.refused
    outcome.returncode = proc.returncode if proc is not None else None
    outcome.interrupted_by = sig.received
    outcome.stop_requested = sig.late
    outcome.seconds = round(time.monotonic() - t0, 3)
    return outcome


CONTROL_FILE = "control.json"  # what the riftdrill control did at the end of the experiment


@dataclass
class ControlReport:
    """The end of a run as the riftdrill control did it (`chaos/control.py`)."""

    healed: list[str] = field(default_factory=list)  # "kind:target" of the faults it healed
    cleanup_errors: list[str] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM" as chaos saw it
    refused: str | None = None  # the guard that stopped the experiment before any fault, and why

    def write(self, run_dir: Path, redactor: Redactor) -> None:
        """control.json, redacted: a cleanup error quotes whatever failed."""
        redactor.write_json(run_dir / CONTROL_FILE, asdict(self))


def read_control_report(run_dir: Path) -> ControlReport:
    """The control's report; empty when it did not run (chaos killed, or no control)."""
    try:
        data = json.loads((run_dir / CONTROL_FILE).read_text())
        return ControlReport(healed=[str(h) for h in data.get("healed", [])],
                             cleanup_errors=[str(e) for e in data.get("cleanup_errors", [])],
                             interrupted_by=data.get("interrupted_by"),
                             refused=data.get("refused"))
    except (OSError, ValueError, AttributeError):
        return ControlReport()


def _wait_or_kill(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _pump(proc: subprocess.Popen[bytes], out_file: Any, echo: bool, redactor: Redactor) -> None:
    """chaos's output as each line comes, redacted into chaos.out and echoed."""
    assert proc.stdout is not None
    raw_lines = (raw.decode("utf-8", "surrogateescape")
                 for raw in iter(proc.stdout.readline, b""))
    for line in redactor.lines(raw_lines):
        out_file.write(line.encode("utf-8", "surrogateescape"))
        out_file.flush()
        if echo:
            sys.stderr.write("  chaos: " + line.split("] ", 1)[-1].encode(
                "utf-8", "surrogateescape").decode(errors="replace"))
            sys.stderr.flush()


# ---- judging ------------------------------------------------------------------------------

def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=paths.project_root(), timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


LAG_SLACK_S = 6.0


def zero_lag_records(params: dict[str, Any]) -> int:
    """What counts as "zero" consumer lag: LAG_SLACK_S seconds of the offered load. The load
    reports librdkafka's `consumer_lag`, measured against the *committed* offset, which
    auto-commit moves every 5 s: a caught-up consumer saws between 0 and ~5 s of records."""
    return int(float(params.get("rate", 0) or 0) * LAG_SLACK_S)


@dataclass
class DrillResult:
    run_dir: Path
    summary: dict[str, Any]  # what summary.json holds (RunSummary.to_json_dict): `--json` prints it
    verdict: Verdict
    exit_code: int
    regressions: list[str] = field(default_factory=list)  # one message per flagged figure
    stop_requested: bool = False  # a signal came while the drill healed: run nothing after it

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def regressions_block(summary: dict[str, Any], runs_dir: Path,
                      tolerance: slo_mod.Tolerance) -> dict[str, Any]:
    """summary.json's `regressions`; never raises (a broken comparison is not a failed drill)."""
    try:
        return compare_with_previous(summary, runs_dir, tolerance).to_summary()
    except Exception as exc:
        return {"previous_run_id": None, "regressed": False, "flags": [],
                "error": f"could not compare with the previous run: {exc}"}


@dataclass
class Judgement:
    """What judge() decided and every figure it decided on (summary.json's blocks)."""

    verdict: Verdict
    recovery: RecoveryFigures | None
    verify: Any  # VerifyReport | None
    violations: list[slo_mod.Violation]
    windows: list[windows.FaultWindow]
    sends: SendOutcomes | None
    end_to_end: EndToEnd | None
    replication: dict[str, MirrorLag] = field(default_factory=dict)
    failover: FailoverFigures | None = None
    hub: HubFigures | None = None
    per_fault: perfault.PerFault | None = None


def judge(run_dir: Path, params: dict[str, Any], inv: inventory.Inventory,
          outcome: ChaosOutcome, bounds: slo_mod.ExperimentSlo, redactor: Redactor) -> Judgement:
    """Verdict from journal + fault windows + verify + recovery + send outcomes + replication
    and failover across MirrorMaker 2 + the hub's change lag + SLO; and the end-to-end block
    (consumer ledgers), whose true time to zero lag replaces the sampled one."""
    from riftdrill.load.remote import is_remote
    from riftdrill.verify.remote import verify_on_vms
    from riftdrill.verify.verifier import verify_run

    reasons: list[str] = []
    if outcome.refused:
        reasons.append(f"refused before any fault: {outcome.refused}")
    if outcome.interrupted_by:
        reasons.append(f"the drill was interrupted ({outcome.interrupted_by}); every fault was "
                       "healed")
    reasons += outcome.cleanup_errors
    try:
        journal: dict[str, Any] | None = load_journal(run_dir / "journal.json")
    except RiftdrillError as exc:
        journal = None
        reasons.append(str(exc))
    wins = windows.fault_windows(run_dir)
    if not wins:
        reasons.append("no fault was injected (no fault window recorded): the fault never "
                       "happened, so the drill tested nothing")
    report = None
    # Verify, the send outcomes and the recovery figures judge the same producer ledgers: read
    # them once. Unreadable: each reads them itself, and says why, as it would alone.
    producers: list[ProducerLedger] | None = None
    if (run_dir / "load" / "ledgers").is_dir():
        with suppress(OSError, ValueError):
            producers = read_run_ledgers(run_dir)
        try:
            report = (verify_on_vms(run_dir, inv, producers=producers) if is_remote(inv)
                      else verify_run(run_dir, inv, producers=producers))
            report.write(run_dir, redactor)
        except RiftdrillError as exc:
            reasons.append(f"verify could not check the run: {exc}")
    else:
        reasons.append("the load never started: no ledgers to verify")
    sends = None
    if (run_dir / "load" / "ledgers").is_dir():
        try:
            sends = send_outcomes(run_dir, producers)
        except (OSError, ValueError) as exc:
            reasons.append(f"failed sends could not be counted: {exc}")
    recovery = None
    sp = windows.span(wins)
    # From the ledgers alone: a run verify could not check (no fence could be written) still
    # gets its recovery figures, so its SLO lines say what happened, not "no figures".
    acks = acks_from_ledgers(run_dir, producers) if producers is not None else None
    if sp is not None and (run_dir / "load" / "ledgers").is_dir():
        try:
            recovery = figures_from_run(run_dir, sp[0], sp[1],
                                        baseline_s=float(params.get("baseline_s", 60) or 60),
                                        max_lag=zero_lag_records(params), producers=producers,
                                        clusters={cloud: c.name for c in inv.clusters
                                                  for cloud in c.clouds}, acks=acks)
        except RiftdrillError as exc:
            reasons.append(f"recovery figures: {exc}")
        else:
            reasons += baseline_problems(recovery.baseline)
    per_fault = per_fault_block(run_dir, acks, wins, recovery)
    e2e = None
    replication: dict[str, MirrorLag] = {}
    fo: FailoverFigures | None = None
    if sp is not None and producers is not None:
        e2e = end_to_end_block(run_dir, producers, sp, inv, recovery)
        replication, fo, problems = mirror_blocks(run_dir, producers, sp, inv)
        reasons += problems
    hub, problems = hub_block(run_dir, wins, report)
    reasons += problems
    violations = slo_mod.check(bounds, recovery, report,
                               float(params.get("hold_s", 0) or 0), sends=sends,
                               replication=replication, failover=fo, hub=hub,
                               hub_deployed=inv.hub is not None)
    base = decide(journal, verify=report) if journal is not None else Verdict(passed=False)
    all_reasons = reasons + base.reasons + [v.message for v in violations]
    verdict = Verdict(passed=not all_reasons, reasons=all_reasons,
                      checked=[*base.checked, "fault_windows", "slo"])
    return Judgement(verdict, recovery, report, violations, wins, sends, e2e, replication, fo,
                     hub, per_fault)


def per_fault_block(run_dir: Path, acks: AcksAndErrors | None,
                    wins: list[windows.FaultWindow], recovery: RecoveryFigures | None
                    ) -> perfault.PerFault | None:
    """summary.json's `per_fault`: each fault's own figures, for runs with several (a soak's
    nemesis faults, else the fault windows). `acks`: the run's, as the recovery figures read
    them."""
    if recovery is None or len(wins) < 2 or acks is None:
        return None
    units = perfault.nemesis_faults(run_dir / nemesis.RECORD_FILE) or [
        perfault.Window(w.kind, w.target, w.start_ns, w.end_ns) for w in wins]
    # compute_recovery sorted each series by ack time, in place, before `recovery` existed
    return perfault.per_fault(acks[0], units, recovery.baseline_p99_ms, recovery.run_end_ns)


def hub_block(run_dir: Path, wins: list[windows.FaultWindow], report: VerifyReport | None
              ) -> tuple[HubFigures | None, list[str]]:
    """summary.json's `hub` (None: no row workload in this run) and, when the row workload ran
    and its change lag cannot be read, the problem that fails the run (a figure that cannot be
    computed is never a pass)."""
    try:
        return hub_from_run(run_dir, wins, report.hub if report is not None else None), []
    except (OSError, ValueError, RiftdrillError) as exc:
        return None, [f"hub change lag: {exc}"]


def mirror_blocks(run_dir: Path, producers: list[ProducerLedger], span: tuple[int, int | None],
                  inv: inventory.Inventory
                  ) -> tuple[dict[str, MirrorLag], FailoverFigures | None, list[str]]:
    """summary.json's `replication` (per mirror with a tail) and `failover` (when consumers
    failed over), and the problems that fail the run: failover's, or ledgers that could not be
    read (a figure that cannot be computed is never a pass)."""
    from riftdrill.verify.verifier import ledger_cluster

    def cluster_of(header: dict[str, Any]) -> str:
        return ledger_cluster(header, inv)

    problems: list[str] = []
    replication: dict[str, MirrorLag] = {}
    fo = None
    try:
        replication = replication_from_run(run_dir, producers, inv, span[0], span[1], cluster_of)
    except (OSError, ValueError, RiftdrillError) as exc:
        problems.append(f"replication lag: mirror tail unreadable: {exc}")
    try:
        fo = failover_from_run(run_dir, producers, inv, span[0], cluster_of)
    except (OSError, ValueError, RiftdrillError) as exc:
        problems.append(f"consumer failover: ledgers unreadable: {exc}")
    if fo is not None:
        problems += fo.problems()
    return replication, fo, problems


def end_to_end_block(run_dir: Path, producers: list[ProducerLedger],
                     span: tuple[int, int | None], inv: inventory.Inventory,
                     recovery: RecoveryFigures | None) -> EndToEnd | None:
    """summary.json's `end_to_end` (None: no consumer ledgers); its time to zero lag replaces the
    recovery's sampled one. An unreadable consumer ledger is said in the recovery's reasons
    (verify fails the drill on it already)."""
    from riftdrill.verify.verifier import ledger_cluster

    try:
        block = end_to_end_from_run(run_dir, producers, span[0], span[1],
                                    cluster_of=lambda header: ledger_cluster(dict(header), inv))
    except (OSError, ValueError, RiftdrillError) as exc:
        if recovery is not None:
            recovery.reasons["end_to_end"] = f"consumer ledgers unreadable: {exc}"
        return None
    if recovery is not None:
        with_true_lag(recovery, block)
    return block


@dataclass(frozen=True)
class DrillPlan:
    """A drill resolved once, at the edge: its experiment file read and its --var items checked
    (before anything runs, so a suite with one bad name or value starts nothing)."""

    name: str
    path: Path
    experiment: dict[str, Any]
    given: dict[str, str]  # the --var values given, checked against the configuration

    @property
    def params(self) -> dict[str, Any]:
        return effective_params(self.experiment, self.given)


def plan_drill(experiment: str, var_items: list[str] | None = None, *,
               suite: bool = False) -> DrillPlan:
    """`suite`: the suite's short profile (SUITE_VARS) under the user's --var items; keys the
    experiment lacks are skipped, as one --var list serves every drill of a suite."""
    path = resolve_experiment(experiment)
    exp = read_experiment(path)
    items = list(var_items or [])
    if suite:
        conf = exp.get("configuration", {})
        given = {i.split("=", 1)[0] for i in items}
        items = ([f"{k}={v}" for k, v in SUITE_VARS.items() if k in conf and k not in given]
                 + [i for i in items if i.split("=", 1)[0] in conf])
    return DrillPlan(name=path.stem, path=path, experiment=exp, given=parse_vars(items, exp))


def run_drill(plan: DrillPlan, *, echo: bool = True, chaos_bin: str | None = None,
              runs_dir: Path | None = None, slo_path: Path | None = None) -> DrillResult:
    run_dir = new_run_dir(plan.name, runs_dir)
    try:
        start = begin_drill(plan.name, plan.experiment, plan.params, slo_path, run_dir=run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing ran: leave no empty run behind
        raise
    ctx = RunContext(run_dir=run_dir, owner_pid=os.getpid())  # this process owns the faults
    cmd = chaos_command(plan.path, ctx, {k: str(v) for k, v in start.params.items()},
                        chaos_bin)
    try:
        with live.ticker(run_dir, enabled=echo):  # per-cloud acks/errors/p99, once a second
            outcome = run_chaos(cmd, run_dir, redactor=start.redactor, echo=echo)
    finally:
        start.stop_timeline()  # chaos has ended and everything is healed: the span is over
    return finish_drill(run_dir, start, outcome)


@dataclass
class DrillStart:
    """A drill before chaos runs: what it is, and what is measured to compare with after."""

    name: str
    experiment: dict[str, Any]
    params: dict[str, Any]
    inv: inventory.Inventory
    bounds: slo_mod.ExperimentSlo
    tolerance: slo_mod.Tolerance
    started_at: str
    counters_before: LinkCounters
    stores_before: StoreSnapshots
    redactor: Redactor  # the deployment's secrets: nothing the run writes shows one
    timeline: timeline_mod.Sampler | None = None  # the broker timeline, sampling until finish

    def stop_timeline(self) -> None:
        """Stop sampling (idempotent): on every exit path of a drill, and in finish_drill."""
        if self.timeline is not None:
            self.timeline.stop()


def check_drill_fits(name: str, exp: dict[str, Any], params: dict[str, Any],
                     inv: inventory.Inventory) -> None:
    """A drill tagged `mirror` (MirrorMaker 2 kill, consumer failover) needs a cluster per cloud
    with MirrorMaker 2, one tagged `hub` the integration hub, one tagged `security` (the ACL
    drill) a lab deployed with SECURITY=sasl-tls: refused before anything runs, naming the fix."""
    tags = exp.get("tags", [])
    if "hub" in tags and inv.hub is None:
        raise ValidationError(f"drill {name} needs the integration hub: this lab is "
                              f"{inv.engine} {inv.topology}; deploy it with "
                              "`make deploy TOPOLOGY=hub`")
    if "security" in tags and not inv.security.enabled:
        raise ValidationError(f"drill {name} needs the authorizer: this lab was deployed with "
                              f"security {inv.security.mode}; deploy with SECURITY=sasl-tls "
                              "(`make deploy SECURITY=sasl-tls`)")
    if "nemesis" in tags:  # the soak: its whole schedule checked before the load starts
        import inspect

        from riftdrill.chaos import nemesis

        # the drill's settings by the builder's own parameter names: one list, never two
        keys = set(inspect.signature(nemesis.schedule_from).parameters) - {"inv"}
        nemesis.schedule_from(inv, **{k: params[k] for k in keys if k in params})
    if "mirror" not in tags:
        return
    try:
        if params.get("source"):
            inv.mirror_from(str(params["source"]))
        else:
            inv.mirror(str(params.get("mirror", "") or ""))
    except RiftdrillError as exc:
        raise ValidationError(f"drill {name} needs MirrorMaker 2 between two clusters: {exc}"
                              ) from None


def start_timeline(run_dir: Path, inv: inventory.Inventory) -> timeline_mod.Sampler | None:
    """The broker timeline sampler of a drill (chaos/timeline.py); None, said on stderr, when
    it cannot start: a drill is never failed by what observes it."""
    try:
        return timeline_mod.start(run_dir, inv, max_s=TIMELINE_MAX_S)
    except Exception as exc:
        print(f"riftdrill: no broker timeline for this drill: {exc}", file=sys.stderr)
        return None


def begin_drill(name: str, exp: dict[str, Any], params: dict[str, Any],
                slo_path: Path | None = None, *, run_dir: Path | None = None) -> DrillStart:
    """Everything a drill needs before chaos runs (`riftdrill drill`, or the riftdrill control
    under a stock `chaos run`): its SLO bounds, the inventory, the counters to diff, and (given
    the run directory) the broker timeline, sampling from now until finish_drill. On aws-gcp
    the cloud guard runs first (`drivers.driver_for`): GuardError before anything starts."""
    slo_file = slo_mod.load(slo_path or paths.project_root() / "slo.yaml",
                            set(known_experiments()) | {name})
    inv = inventory.load()
    check_drill_fits(name, exp, params, inv)
    bounds = slo_mod.bounds_for(slo_file, name, inv.engine)
    started_at = datetime.now(UTC).isoformat()
    # The link's counters and the object stores before and after, for the cost report: the
    # target's driver measures what it can ({} for what it cannot). The driver of the faults to
    # come: on aws-gcp the guard runs here, so a drill it refuses never starts.
    driver = driver_for(inv)
    counters_before = driver.link_counters(inv)
    driver.start_store_recording(inv)
    stores_before = driver.store_snapshot(inv)
    return DrillStart(name=name, experiment=exp, params=params, inv=inv, bounds=bounds,
                      tolerance=slo_file.regression, started_at=started_at,
                      counters_before=counters_before, stores_before=stores_before,
                      redactor=redactor_for(inv, driver),
                      timeline=start_timeline(run_dir, inv) if run_dir is not None else None)


def finish_drill(run_dir: Path, start: DrillStart, outcome: ChaosOutcome) -> DrillResult:
    """Judge a drill whose chaos run has ended and healed; write its summary.json. Called once
    per run: by `run_drill`, or by the riftdrill control when no runner owns the run."""
    start.stop_timeline()
    inv, params = start.inv, start.params
    driver = observer_for(inv)  # measures only; the guard ran in begin_drill
    counters_after = driver.link_counters(inv)
    cluster_timeline = cluster_timeline_block(run_dir, start, driver)
    j = judge(run_dir, params, inv, outcome, start.bounds, start.redactor)
    verdict = j.verdict
    summary = build_summary(run_dir, start.name, start.experiment, inv, params, start.started_at,
                            j.windows, j.recovery, j.verify, verdict, j.violations,
                            counters_delta(start.counters_before, counters_after),
                            outcome, sends=j.sends)
    if j.end_to_end is not None:  # a run without consumer ledgers writes no `end_to_end`
        summary.end_to_end = j.end_to_end
    if j.replication:  # only runs with a mirror tail
        summary.replication = j.replication
    if j.failover is not None:
        summary.failover = j.failover
    if j.hub is not None:  # only runs with the hub's row workload
        summary.hub = j.hub
    if j.per_fault is not None:  # only runs with several fault windows
        summary.per_fault = j.per_fault
    store_usage = store_usage_delta(start.stores_before, driver.store_snapshot(inv))
    if store_usage:  # a target that measures no store writes no `store_usage`
        summary.store_usage = store_usage
    if cluster_timeline is not None:
        summary.cluster_timeline = cluster_timeline
    summary.regressions = regressions_block(summary.to_json_dict(), run_dir.parent,
                                            start.tolerance)
    write_summary(run_dir, summary, start.redactor)
    # Last: what chaos, Locust and the load processes wrote (chaos.log, journal.json, load/),
    # redacted in place; the files written above pass unchanged (read once).
    start.redactor.sweep(run_dir)
    code = EXIT_INTERRUPTED if outcome.interrupted_by in ("SIGINT", "SIGTERM") else (
        EXIT_BAD_INPUT if outcome.refused else EXIT_PASS if verdict.passed else EXIT_FAIL)
    return DrillResult(run_dir=run_dir, summary=summary.to_json_dict(), verdict=verdict,
                       exit_code=code,
                       regressions=[f["message"] for f in summary.regressions["flags"]],
                       stop_requested=outcome.stop_requested is not None)


def cluster_timeline_block(run_dir: Path, start: DrillStart,
                           driver: Observer) -> timeline_mod.ClusterTimeline | None:
    """summary.json's `cluster_timeline`: cluster.jsonl summed up, and the brokers' and mirrors'
    log lines of the run's span copied into <run>/logs/ (where the target's driver keeps them).
    None when the drill recorded no timeline and copied no log. Never raises."""
    try:
        block = timeline_mod.summarize(run_dir)
    except OSError as exc:
        block = timeline_mod.ClusterTimeline(sample_errors=1, logs_note=f"cluster.jsonl: {exc}")
    try:
        logs = brokerlogs.copy_logs(driver.log_files(start.inv), run_dir,
                                    since_s=_epoch_s(start.started_at), until_s=time.time(),
                                    redactor=start.redactor)
    except Exception as exc:
        logs = brokerlogs.CopiedLogs(note=f"logs not copied: {exc}")
    if block is None and not logs.files:
        return None
    block = block or timeline_mod.ClusterTimeline()
    block.logs, block.logs_note = logs.files, logs.note
    return block


def _epoch_s(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def build_summary(run_dir: Path, name: str, exp: dict[str, Any], inv: inventory.Inventory,
                  params: dict[str, Any], started_at: str, wins: list[windows.FaultWindow],
                  recovery: RecoveryFigures | None, report: Any, verdict: Verdict,
                  violations: list[slo_mod.Violation], link_bytes: LinkCounters,
                  outcome: ChaosOutcome, *, sends: SendOutcomes | None = None) -> RunSummary:
    load_spec: dict[str, Any] = {}
    spec_path = run_dir / "load" / "spec.json"
    if spec_path.exists():
        load_spec = json.loads(spec_path.read_text())
    durability = [inv.cluster_rf(c.name) for c in inv.clusters]  # (RF, min ISR) per cluster
    ack_p99_ms: float | None = None
    with suppress(OSError, ValueError, LookupError, TypeError):
        p99 = json.loads((run_dir / "load" / "summary.json").read_text())["ack_latency_ms"]["p99"]
        ack_p99_ms = float(p99) if isinstance(p99, int | float) else None
    return RunSummary(
        schema_version=SCHEMA_VERSION,
        run_id=run_dir.name,
        experiment=name,
        title=exp.get("title", name),
        target=inv.target,
        engine=inv.engine,
        engine_version=inv.engine_version,
        topology=inv.topology,
        started_at=started_at,
        ended_at=datetime.now(UTC).isoformat(),
        riftdrill_sha=git_sha(),
        host=HostFacts.model_validate(host_facts()),
        params={**params, "load": load_spec,
                # what the drill's topic got (per-cloud clusters are capped by their brokers)
                "replication_factor": load_spec.get("replication_factor")
                or min(rf for rf, _ in durability),
                "min_insync_replicas": min(isr for _, isr in durability),
                # the cross-cloud link's weather profile (lab/wan.py): figures differ with it
                "wan": inv.links[0].wan if inv.links else None,
                # TLS + SASL cost reconnects time: figures compare within one mode
                "security": inv.security.mode},
        fault_windows=[FaultWindow.model_validate(w.to_summary()) for w in wins],
        recovery=recovery,
        verify=verify_block(report),
        # every send's outcome over the whole run, from the producer ledgers (None: unreadable)
        sends=sends,
        ack_p99_ms=ack_p99_ms,
        verdict=VerdictSummary(passed=verdict.passed, reasons=verdict.reasons),
        slo={"violations": [v.model_dump() for v in violations]},
        link_bytes=link_bytes,
        # the deployment's nodes, for broker-hours in the cost report (no handles or addresses)
        brokers=[{"name": b.name, "cloud": b.cloud, "roles": list(b.roles)} for b in inv.brokers],
        journal="journal.json",
        load_dir="load",
        chaos={"returncode": outcome.returncode, "interrupted_by": outcome.interrupted_by,
               "seconds": outcome.seconds, "healed_by_runner": outcome.healed},
    )


def verify_block(report: VerifyReport | None) -> dict[str, Any]:
    """summary.json's `verify`: every anomaly kind's count, the contract the run held and which
    kinds it allowed or failed on (the report renders these without verify.json)."""
    if report is None:
        return {"passed": False, "counts": {}}
    return {"passed": report.passed, "counts": dict(report.totals),
            "contract": report.contract.model_dump() if report.contract is not None else None,
            "allowed_kinds": list(report.allowed_kinds),
            "failing_kinds": list(report.failing_kinds),
            "ledger_truncated_lines": int(getattr(report, "ledger_truncated_lines", 0)),
            "acks": report.acks, "records_read": report.records_read}


def write_summary(run_dir: Path, summary: RunSummary, redactor: Redactor) -> Path:
    """summary.json, redacted (verdict reasons quote errors, params what was given)."""
    return redactor.write_json(run_dir / "summary.json", summary.to_json_dict())


REPORT_TIMEOUT_S = 300.0


@dataclass
class ReportOutcome:
    ok: bool
    message: str  # the report's path, or why it was not rendered (one line)


def render_report(run_dir: Path) -> ReportOutcome:
    """The run's report.md/report.html and results/index.*, as `riftdrill report --run <id>`
    renders them: the one way a drill's report is rendered at its end (`riftdrill drill`, make
    drill/drills, the control under a stock `chaos run`). A separate process: `report/` is a
    higher layer than `chaos/`. Never raises."""
    cmd = [sys.executable, "-m", "riftdrill", "report", "--results", str(run_dir.parent.parent),
           "--run", run_dir.name]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ReportOutcome(False, f"rendering the report took over {REPORT_TIMEOUT_S:g} s; "
                                    f"run `riftdrill report --run {run_dir.name}`")
    except OSError as exc:
        return ReportOutcome(False, f"the report was not rendered: {exc}")
    if out.returncode != 0:
        return ReportOutcome(False, "the report was not rendered: "
                                    f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return ReportOutcome(True, str(run_dir / "report.html"))
