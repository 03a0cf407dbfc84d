"""The riftdrill Chaos Toolkit control without a lab: the run context it fills in, the end work
(heal what the run owns, stop the load, judge only when no runner owns the run) with fakes, its
signal handling, and a real `chaos run` interrupted during a hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from riftdrill.chaos import control, interrupt, runner
from riftdrill.context import RunContext
from riftdrill.errors import NotDeployedError
from riftdrill.inventory import Fault
from riftdrill.redact import Redactor, Secret

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")


class FakeStart:
    """Stands in for runner.DrillStart."""

    redactor = Redactor([Secret("test secret", "s3cr3t-of-the-lab")])


def fake_begin(calls: list[Any]) -> Any:
    def begin(name: str, exp: dict[str, Any], params: dict[str, Any], **_: Any) -> FakeStart:
        calls.append((name, params))
        return FakeStart()

    return begin


@pytest.fixture(autouse=True)
def _fresh_interrupt() -> Any:
    interrupt.reset()
    yield
    interrupt.reset()


def test_a_stock_run_gets_a_new_run_dir_owned_by_this_process(tmp_path: Path) -> None:
    configuration: dict[str, Any] = {"run_dir": "", "owner_pid": 0, "hold_s": "60", "link": ""}
    calls: list[Any] = []
    state = control.begin_run(configuration, {"title": "No such drill"}, runs_dir=tmp_path,
                              begin=fake_begin(calls))
    assert state.owns_end and state.ctx.owner_pid == os.getpid()
    assert state.ctx.run_dir.parent == tmp_path and state.ctx.run_dir.is_dir()
    assert state.ctx.run_dir.name.endswith("-no-such-drill")
    # the activities read the context from the configuration chaoslib hands them
    assert RunContext.from_configuration(configuration) == state.ctx
    assert calls == [("no-such-drill", {"hold_s": 60, "link": ""})]  # context keys left out


def test_under_a_runner_the_context_is_kept_and_the_runner_judges(tmp_path: Path) -> None:
    runner_pid = os.getppid()  # a live process other than this one
    configuration: dict[str, Any] = {"run_dir": str(tmp_path / "run"),
                                     "owner_pid": str(runner_pid)}
    calls: list[Any] = []
    state = control.begin_run(configuration, {}, begin=fake_begin(calls))
    assert state.ctx == RunContext(tmp_path / "run", runner_pid) and not state.owns_end
    assert calls == [] and (tmp_path / "run").is_dir()


def test_a_given_run_dir_without_owner_is_owned_here(tmp_path: Path) -> None:
    configuration: dict[str, Any] = {"run_dir": str(tmp_path), "owner_pid": 0}
    state = control.begin_run(configuration, {}, begin=fake_begin([]))
    assert state.owns_end and configuration["owner_pid"] == os.getpid()


def _state(tmp_path: Path, owns_end: bool) -> control.RunState:
    state = control.RunState(ctx=RunContext(tmp_path, 4242), owns_end=owns_end, name="link-sever",
                             started_monotonic=time.monotonic())
    state.start = FakeStart()  # type: ignore[assignment]
    return state


def _fault(kind: str, target: str, pid: int = 4242) -> Fault:
    return Fault(id=f"{kind}-{target}", kind=kind, target=target, by_pid=pid)  # type: ignore[arg-type]


def test_any_end_heals_stops_the_load_judges_and_renders_once(tmp_path: Path) -> None:
    state = _state(tmp_path, owns_end=True)
    state.interrupted_by = "SIGINT"
    seen: dict[str, Any] = {}
    (tmp_path / "faults.jsonl").write_text(json.dumps(
        {"event": "start", "kind": "sever_link", "target": "aws-gcp", "ts_ns": 1}) + "\n")

    def heal(owner: int) -> list[Fault]:
        seen["heal_owner"] = owner
        return [_fault("sever_link", "aws-gcp")]

    def finish(run_dir: Path, start: Any, outcome: runner.ChaosOutcome) -> None:
        seen["outcome"] = outcome
        seen["journal_on_disk"] = json.loads((run_dir / "journal.json").read_text())

    hooks: dict[str, Any] = dict(heal=heal, stop_load=lambda d: seen.setdefault("stopped", d),
                                 finish=finish, render=lambda d: seen.setdefault("rendered", d))
    journal = {"status": "interrupted", "deviated": False}
    control.finish_run(state, journal, **hooks)
    assert seen["heal_owner"] == 4242 and seen["stopped"] == tmp_path
    assert seen["rendered"] == tmp_path and seen["journal_on_disk"] == journal
    outcome = seen["outcome"]
    assert (outcome.interrupted_by, outcome.returncode, outcome.healed) == (
        "SIGINT", 1, ["sever_link:aws-gcp"])
    assert interrupt.stop_requested()
    # the window the heal closed is marked as the end-of-run heal's
    from riftdrill.chaos import windows

    [w] = windows.fault_windows(tmp_path)
    assert w.end_ns is not None and w.healed_by == "runner"
    report = runner.read_control_report(tmp_path)
    assert report.healed == ["sever_link:aws-gcp"] and report.interrupted_by == "SIGINT"
    seen.clear()
    control.finish_run(state, journal, **hooks)  # cleanup_control after after_experiment: no-op
    assert seen == {}


def test_under_a_runner_only_heal_and_stop(tmp_path: Path) -> None:
    state = _state(tmp_path, owns_end=False)
    seen: list[str] = []
    def heal(owner: int) -> list[Fault]:
        seen.append("heal")
        return []

    control.finish_run(state, {"status": "completed"}, heal=heal,
                       stop_load=lambda d: seen.append("stop"),
                       finish=lambda *a: seen.append("finish"),
                       render=lambda d: seen.append("render"))
    assert seen == ["heal", "stop"] and not (tmp_path / "journal.json").exists()
    assert runner.read_control_report(tmp_path).healed == []


def test_a_failed_heal_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    state = _state(tmp_path, owns_end=True)
    seen: list[str] = []

    def heal(owner: int) -> list[Fault]:
        raise NotDeployedError("no inventory")

    control.finish_run(state, None, heal=heal, stop_load=lambda d: seen.append("stop"),
                       finish=lambda *a: seen.append("finish"), render=lambda d: None)
    assert seen == ["stop", "finish"]
    assert any("no inventory" in e for e in runner.read_control_report(tmp_path).cleanup_errors)


def test_a_failed_judgement_never_raises(tmp_path: Path) -> None:
    def finish(*a: Any) -> None:
        raise RuntimeError("verify broke")

    control.finish_run(_state(tmp_path, owns_end=True), None, heal=lambda o: [],
                       stop_load=lambda d: None, finish=finish, render=lambda d: None)


def test_the_signal_handler_requests_the_stop_then_interrupts(tmp_path: Path) -> None:
    state = _state(tmp_path, owns_end=True)
    handler = control._handler(state)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)
    assert state.interrupted_by == "SIGINT" and interrupt.stop_requested()
    # SIGTERM takes the same path (chaoslib's would only fail the running python activity)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGTERM, None)
    assert state.interrupted_by == "SIGINT"  # the first signal names the interruption


def test_a_hold_in_another_thread_ends_when_the_stop_is_requested() -> None:
    from riftdrill.chaos import actions

    out: list[dict[str, Any]] = []
    t = threading.Thread(target=lambda: out.append(actions.hold(30)))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.2)
    interrupt.request_stop()
    t.join(timeout=5)
    assert time.monotonic() - t0 < 2 and out and out[0]["interrupted"] is True


def test_experiment_name_is_the_drill_whose_title_matches() -> None:
    exp = runner.read_experiment(runner.resolve_experiment("link-sever"))
    assert control.experiment_name({"title": exp["title"]}) == "link-sever"
    assert control.experiment_name({"title": "My own: drill!"}) == "my-own-drill"


EXPERIMENT = {
    "version": "1.0.0", "title": "hold under the riftdrill control", "description": "unit test",
    "controls": [{"name": "riftdrill",
                  "provider": {"type": "python", "module": "riftdrill.chaos.control"}}],
    "configuration": {"hold_s": 30, "run_dir": "", "owner_pid": 0},
    "method": [{"type": "action", "name": "hold", "provider": {
        "type": "python", "module": "riftdrill.chaos.actions", "func": "hold",
        "arguments": {"seconds": "${hold_s}"}}}],
    "rollbacks": [],
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stock_chaos_run_interrupted_during_a_hold_ends_at_once(tmp_path: Path,
                                                               sig: signal.Signals) -> None:
    """`chaos run` started with SIGINT ignored (as `cmd &` in a script does) and the default
    rollback strategy: the interrupt still ends the hold at once and the control's end runs."""
    exp = tmp_path / "exp.json"
    exp.write_text(json.dumps(EXPERIMENT))
    proc = subprocess.Popen(
        [str(CHAOS), "--no-log-file", "run", "--journal-path", str(tmp_path / "journal.json"),
         str(exp)],
        cwd=tmp_path, env={**os.environ, "RIFTDRILL_HOME": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    runs = tmp_path / "results" / "runs"
    deadline = time.monotonic() + 60
    while not any("Action: hold" in line for line in lines):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        time.sleep(0.1)
    time.sleep(0.5)
    t0 = time.monotonic()
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)
    elapsed = time.monotonic() - t0
    reader.join(timeout=5)
    out = "".join(lines)
    assert elapsed < 5, out
    assert proc.returncode == 1 and "Rollbacks strategy: default" in out, out
    [run_dir] = list(runs.iterdir())
    report = runner.read_control_report(run_dir)
    assert report.interrupted_by == sig.name, out
    # no inventory here: the heal could not run, and says so instead of passing silently
    assert any("riftdrill heal" in e for e in report.cleanup_errors), report
    assert json.loads((tmp_path / "journal.json").read_text())["status"] == "interrupted"


def test_a_failed_guard_stops_the_experiment_before_its_fault(tmp_path: Path) -> None:
    """chaoslib goes on after a failed action; a failed guard (here: nothing crossed the
    mirror) must not be followed by the fault. A real `chaos run`: the control interrupts it,
    the hold after the guard never starts, and control.json says why."""
    exp = {**EXPERIMENT, "method": [
        {"type": "action", "name": "await-replication", "provider": {
            "type": "python", "module": "riftdrill.chaos.actions", "func": "await_replication",
            "arguments": {"timeout_s": 0}}},
        *EXPERIMENT["method"]]}  # type: ignore[misc]
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(exp))
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(CHAOS), "--no-log-file", "run", "--journal-path", str(tmp_path / "journal.json"),
         str(path)], cwd=tmp_path, env={**os.environ, "RIFTDRILL_HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert time.monotonic() - t0 < 25, out  # the 30 s hold never ran
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted", out
    assert [r["activity"]["name"] for r in journal["run"]] == ["await-replication"]
    [run_dir] = list((tmp_path / "results" / "runs").iterdir())
    refused = runner.read_control_report(run_dir).refused
    assert refused is not None and refused.startswith("await-replication: no record of the run "
                                                      "reached the mirror"), refused
    assert "nothing was injected" in refused


def test_only_a_failed_guard_interrupts(tmp_path: Path) -> None:
    control._RUN = _state(tmp_path, owns_end=False)
    try:
        guard = {"name": "await-group-checkpoints",
                 "provider": {"type": "python", "func": "await_checkpoints"}}
        fault = {"name": "kill", "provider": {"type": "python", "func": "kill_broker"}}
        control.after_activity_control(guard, {"status": "succeeded"})
        control.after_activity_control(fault, {"status": "failed", "exception": ["x"]})
        assert control._RUN.refused is None
        from chaoslib.exceptions import InterruptExecution

        with pytest.raises(InterruptExecution, match="group never committed"):
            control.after_activity_control(guard, {"status": "failed", "exception": [
                "Traceback...\n", "chaoslib.exceptions.ActivityFailed: riftdrill.errors."
                "ValidationError: no checkpoint: the group never committed in aws\n"]})
        assert control._RUN.refused == ("await-group-checkpoints: no checkpoint: the group "
                                        "never committed in aws")
    finally:
        control._RUN = None


def test_any_activity_the_cloud_guard_refused_interrupts(tmp_path: Path) -> None:
    """Not only the GUARDS: a fault the cloud guard refused (wrong account, untagged VM) stops
    the experiment, so chaoslib does not go on to the next fault."""
    from chaoslib.exceptions import InterruptExecution

    control._RUN = _state(tmp_path, owns_end=False)
    try:
        fault = {"name": "kill-broker", "provider": {"type": "python", "func": "kill_broker"}}
        with pytest.raises(InterruptExecution, match="not on the allow-list"):
            control.after_activity_control(fault, {"status": "failed", "exception": [
                "Traceback...\n", "chaoslib.exceptions.ActivityFailed: riftdrill.guard."
                "GuardError: AWS account 999999999999 is not on the allow-list (...)\n"]})
        assert control._RUN.refused == ("kill-broker: AWS account 999999999999 is not on the "
                                        "allow-list (...)")
    finally:
        control._RUN = None


def test_a_run_refused_at_its_start_stops_before_its_method(tmp_path: Path) -> None:
    from chaoslib.exceptions import InterruptExecution

    from riftdrill.guard import GuardError

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise GuardError("GCP project rd-prod-9999 is not on the allow-list")

    configuration: dict[str, Any] = {"run_dir": "", "owner_pid": 0}
    state = control.begin_run(configuration, {}, runs_dir=tmp_path, begin=refused)
    assert state.refused == "GCP project rd-prod-9999 is not on the allow-list"
    control.before_method_control({})  # no run of this process: nothing to stop
    control._RUN = state
    try:
        with pytest.raises(InterruptExecution, match="rd-prod-9999"):
            control.before_method_control({})
    finally:
        control._RUN = None


def test_sleep_while_ends_when_the_owner_is_gone_and_on_a_stop() -> None:
    interrupt.reset()
    checks = iter([True, True, False])
    sleep = interrupt.sleep_while(lambda: next(checks), check_every_s=0.01)
    started = time.monotonic()
    assert sleep(30.0) is False  # the third check found the owner gone
    assert time.monotonic() - started < 5
    assert interrupt.sleep_while(lambda: True, check_every_s=0.01)(0.05) is True
    interrupt.request_stop()
    try:
        assert interrupt.sleep_while(lambda: True)(30.0) is False
    finally:
        interrupt.reset()
