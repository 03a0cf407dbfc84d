"""The riftdrill Chaos Toolkit control, declared in every experiment:

    "controls": [{"name": "riftdrill",
                  "provider": {"type": "python", "module": "riftdrill.chaos.control"}}]

It makes a stock `chaos run experiments/<drill>.json` as safe as `riftdrill drill`:

- Before anything runs (`configure_control`): the run context. `riftdrill drill` passes it
  (`--var run_dir=... --var owner_pid=...`); under a stock `chaos run` the control makes a new
  `results/runs/<UTC>-<drill>` directory, owns the run itself (owner_pid = this process) and
  writes both into the configuration the activities get; owning the run, it also starts the
  broker timeline (`runner.begin_drill`: a thread of this process, stopped in finish_drill).
  SIGINT and SIGTERM are trapped: the stop is requested (a hold in any thread ends at once)
  and KeyboardInterrupt is raised, chaoslib's Ctrl-C path (status "interrupted"). Also when
  chaos was started with SIGINT ignored (`chaos run ... &` from a script), which otherwise
  makes Ctrl-C wait out the whole hold; and for SIGTERM, whose chaoslib handler raises an
  exception a python activity turns into a failed activity, after which the method goes on.
- At the end, whatever the end (`after_experiment_control`; `cleanup_control` if that never ran):
  heal every fault this run owns, close its fault windows and stop the load, whatever the
  rollback strategy (chaoslib's default skips the rollbacks of a failed or interrupted run).
  Signals are ignored while it heals: a half-done heal is the worst case. What it healed goes to
  `control.json`.
- Then, only when no riftdrill runner owns the run (a stock `chaos run`: the owner is this
  process), it judges the run as `riftdrill drill` does (`runner.finish_drill`: summary.json)
  and renders its report (`riftdrill report --run <id>`). Under `riftdrill drill` the owner is
  the runner, alive: it heals again as a safety net and writes the summary itself after chaos
  exits, so each happens once.

- After each activity (`after_activity_control`): a guard that failed (the load did not start,
  MirrorMaker 2 has no checkpoint of the group, nothing crossed the mirror) interrupts the
  experiment, so no fault follows it; `control.json` says why (`refused`) and `riftdrill drill`
  exits 2. So does any activity the cloud guard refused (GuardError: an account or project not
  on the allow-list, an untagged resource; `drivers.driver_for`). Under a stock `chaos run` the
  guard already runs in `begin_drill`: a run it refuses stops before its method
  (`before_method_control`), its faults never tried.

Fault windows stay recorded by the actions: an action knows the instant its fault is in force
(flap_link opens and closes several windows inside one activity, kill_cloud stamps each broker
as it dies), which an after-activity hook would only see when the activity ends.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from riftdrill import faults
from riftdrill.chaos import interrupt, runner
from riftdrill.context import OWNER_PID_KEY, RUN_DIR_KEY, RunContext
from riftdrill.drivers import deployed_redactor
from riftdrill.errors import RiftdrillError
from riftdrill.guard import GuardError
from riftdrill.inventory import Fault
from riftdrill.redact import Redactor

__all__ = ["after_activity_control", "after_experiment_control", "before_method_control",
           "cleanup_control", "configure_control"]

logger = logging.getLogger("chaostoolkit")  # chaos prints and logs it with its own lines

SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@dataclass
class RunState:
    """One experiment run in this process, from configure_control to its end."""

    ctx: RunContext
    owns_end: bool  # no riftdrill runner owns the run: the control writes summary and report
    name: str
    started_monotonic: float
    start: runner.DrillStart | None = None  # None: the runner judges, or begin_drill failed
    interrupted_by: str | None = None
    refused: str | None = None  # a guard activity failed (GUARDS), or the cloud guard refused
    finished: bool = False
    saved_handlers: dict[int, Handler] = field(default_factory=dict)
    # what control.json and journal.json must not show (begin_run resolves it once)
    redactor: Redactor = field(default_factory=Redactor)


_RUN: RunState | None = None


# ---- chaoslib's entry points ---------------------------------------------------------------

def configure_control(configuration: dict[str, Any] | None = None,
                      experiment: dict[str, Any] | None = None, **_: Any) -> None:
    """Before anything runs: fill the run context into `configuration`, trap the signals."""
    global _RUN
    interrupt.reset()
    if configuration is None:
        logger.error("riftdrill: the experiment has no configuration: no run context, faults "
                     "are not tracked (declare the shared configuration)")
        return
    try:
        state = begin_run(configuration, experiment or {})
    except Exception as exc:  # chaoslib would only log it at debug level
        logger.error(f"riftdrill: no run context, faults will not be healed at the end: {exc}")
        return
    _RUN = state
    _trap_signals(state)
    logger.info(f"riftdrill: run directory {state.ctx.run_dir}")


# Activities that must succeed before a fault is worth injecting: the load, MirrorMaker 2's
# checkpoints of the group, the run's records crossing the mirror. chaoslib turns an exception
# in an activity into a failed activity and goes on with the method (the fault would follow);
# a control may interrupt instead.
GUARDS = frozenset({"start_load", "await_checkpoints", "await_replication"})
_EXCEPTION_NAME = re.compile(r"^[A-Za-z_][\w.]*(Error|Failed|Exception): ")
_GUARD_REFUSED = re.compile(r"\bGuardError: ")  # riftdrill.guard.GuardError, in any activity


def before_method_control(context: Any = None, **_: Any) -> None:
    """Before the method: a run the cloud guard refused in begin_run stops here, before its
    first activity (chaoslib's InterruptExecution; this control's end still runs)."""
    if _RUN is None or _RUN.refused is None:
        return
    from chaoslib.exceptions import InterruptExecution

    raise InterruptExecution(f"riftdrill: {_RUN.refused}; the drill stops before any fault")


def after_activity_control(context: Any = None, state: Any = None, **_: Any) -> None:
    """After each activity: a failed guard, or any activity the cloud guard refused, stops the
    experiment before anything (more) is injected (chaoslib's InterruptExecution: the rollbacks
    and this control's end still run; the runner exits 2, bad input, with the reason)."""
    activity = context if isinstance(context, dict) else {}
    func = (activity.get("provider") or {}).get("func")
    if _RUN is None or not isinstance(state, dict) or state.get("status") != "failed":
        return
    lines = [ln for ln in "".join(state.get("exception") or []).strip().splitlines() if ln]
    why = lines[-1] if lines else "failed"
    if func not in GUARDS and not _GUARD_REFUSED.search(why):
        return
    while _EXCEPTION_NAME.match(why):  # "chaoslib...ActivityFailed: riftdrill...Error: why"
        why = why.split(": ", 1)[1]
    _RUN.refused = f"{activity.get('name', func)}: {why}"
    from chaoslib.exceptions import InterruptExecution

    raise InterruptExecution(f"riftdrill: {_RUN.refused}; the drill stops before any fault")


def after_experiment_control(context: Any = None, state: Any = None,
                             configuration: dict[str, Any] | None = None, **_: Any) -> None:
    """The experiment has ended, however (`state` is its journal): heal, stop, judge."""
    if _RUN is not None:
        finish_run(_RUN, state if isinstance(state, dict) else None)


def cleanup_control() -> None:
    """Last call of every run: finish it if after_experiment_control never ran, untrap."""
    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        return
    try:
        finish_run(run, None)
    finally:
        _restore_signals(run)


# ---- the run -------------------------------------------------------------------------------

def begin_run(configuration: dict[str, Any], experiment: dict[str, Any], *,
              runs_dir: Path | None = None,
              begin: Callable[..., runner.DrillStart] | None = None) -> RunState:
    """The run context (given, or made here) written into `configuration`; when this process
    owns the run, what the drill measures before it starts (and the broker timeline, sampled
    in this process until finish_drill)."""
    name = experiment_name(experiment)
    given = RunContext.from_configuration(configuration)
    if given is None:
        ctx = RunContext(run_dir=runner.new_run_dir(name, runs_dir), owner_pid=os.getpid())
    else:
        given.run_dir.mkdir(parents=True, exist_ok=True)
        ctx = given if given.owner_pid else RunContext(given.run_dir, owner_pid=os.getpid())
    configuration[RUN_DIR_KEY] = str(ctx.run_dir)
    configuration[OWNER_PID_KEY] = ctx.owner_pid
    state = RunState(ctx=ctx, owns_end=not runner_owns(ctx.owner_pid), name=name,
                     started_monotonic=time.monotonic())
    if state.owns_end:
        try:
            state.start = (begin or runner.begin_drill)(
                name, experiment, runner.drill_params(configuration), run_dir=ctx.run_dir)
        except GuardError as exc:  # the cloud guard: no activity may run (before_method_control)
            state.refused = str(exc)
            logger.error(f"riftdrill: refused: {exc}")
        except RiftdrillError as exc:
            logger.error(f"riftdrill: this run will not be judged: {exc}")
    # without a DrillStart (the runner owns the run, or begin_drill failed): the deployed one's
    state.redactor = state.start.redactor if state.start is not None else deployed_redactor()
    return state


def runner_owns(owner_pid: int) -> bool:
    """Another live process (`riftdrill drill`) owns the run and writes its summary."""
    return owner_pid not in (0, os.getpid()) and psutil.pid_exists(owner_pid)


def finish_run(run: RunState, journal: dict[str, Any] | None, *,
               heal: Callable[[int], list[Fault]] | None = None,
               stop_load: Callable[[Path], object] | None = None,
               finish: Callable[[Path, runner.DrillStart, runner.ChaosOutcome], Any] | None = None,
               render: Callable[[Path], None] | None = None) -> None:
    """Heal what the run owns and stop its load (once, whatever the end); then, when this
    process owns the run, its summary.json and report. Never raises."""
    if run.finished:
        return
    run.finished = True
    interrupt.request_stop()
    run_dir = run.ctx.run_dir
    with _signals_ignored():
        logger.info("riftdrill: healing every fault this run injected, stopping the load...")
        healed, errors = runner.heal_everything(
            run_dir, stop_load, lambda: (heal or _heal_owned)(run.ctx.owner_pid))
    for e in errors:
        logger.error(f"riftdrill: {e}")
    report = runner.ControlReport(healed=healed, cleanup_errors=errors,
                                  interrupted_by=run.interrupted_by, refused=run.refused)
    try:
        report.write(run_dir, run.redactor)
    except OSError as exc:
        logger.error(f"riftdrill: cannot write {run_dir / runner.CONTROL_FILE}: {exc}")
    logger.info("riftdrill: healed " + (", ".join(healed) if healed else "nothing (no fault left)"))
    if not run.owns_end or run.start is None:
        return
    try:
        if journal is not None:  # chaos writes its own after this control has returned
            run.redactor.write_json(run_dir / "journal.json", journal)
        outcome = runner.ChaosOutcome(
            returncode=_chaos_exit_code(journal), interrupted_by=run.interrupted_by,
            seconds=round(time.monotonic() - run.started_monotonic, 3), healed=healed,
            cleanup_errors=errors, refused=run.refused)
        result = (finish or runner.finish_drill)(run_dir, run.start, outcome)
        verdict = getattr(getattr(result, "verdict", None), "passed", None)
        logger.info(f"riftdrill: verdict {'PASS' if verdict else 'FAIL'}; "
                    f"summary {run_dir / 'summary.json'}")
        (render or render_report)(run_dir)
    except Exception as exc:  # the heal is done; a failed judgement must not hide it
        logger.error(f"riftdrill: could not judge the run in {run_dir}: {exc}")


def _heal_owned(owner_pid: int) -> list[Fault]:
    """Every fault `owner_pid` injected, in one read and one locked write (faults.heal_all);
    another owner's faults stay in force."""
    return faults.heal_all(owner_pid=owner_pid)


def render_report(run_dir: Path) -> None:
    """The run's Markdown + HTML report and the index (runner.render_report, the same as at
    the end of `riftdrill drill`), logged with chaos's lines."""
    outcome = runner.render_report(run_dir)
    if outcome.ok:
        logger.info(f"riftdrill: report {outcome.message}")
    else:
        logger.error(f"riftdrill: {outcome.message}")


def experiment_name(experiment: dict[str, Any]) -> str:
    """The drill's name under experiments/ (its title matches), else a slug of its title."""
    title = experiment.get("title")
    for name in runner.known_experiments():
        try:
            if runner.read_experiment(runner.resolve_experiment(name)).get("title") == title:
                return name
        except RiftdrillError:
            continue
    slug = re.sub(r"[^a-z0-9]+", "-", str(title or "").lower()).strip("-")[:40]
    return slug or "chaos"


def _chaos_exit_code(journal: dict[str, Any] | None) -> int | None:
    """What `chaos run` exits with for this journal (1: failed, interrupted or deviated)."""
    if journal is None:
        return None
    return 0 if journal.get("status") == "completed" and not journal.get("deviated") else 1


# ---- signals -------------------------------------------------------------------------------

def _trap_signals(run: RunState) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (and chaos runs there)
    for sig in SIGNALS:
        run.saved_handlers[sig] = signal.getsignal(sig)
        signal.signal(sig, _handler(run))


def _handler(run: RunState) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if run.interrupted_by is None:
            run.interrupted_by = name
            print(f"riftdrill: {name}: interrupting the run; every fault it injected will be "
                  "healed", file=sys.stderr, flush=True)
        interrupt.request_stop()
        # chaoslib's Ctrl-C path for both. Its own SIGTERM handler raises InterruptExecution,
        # which a python activity turns into a failed activity: the method would go on.
        raise KeyboardInterrupt

    return on_signal


def _restore_signals(run: RunState) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, handler in run.saved_handlers.items():
        signal.signal(sig, handler)
    run.saved_handlers.clear()


@contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
