"""The CLI's conventions, through click's test runner (no lab): help everywhere, usage errors as
one line and exit 2, choices from the Literal types, --version, one way to name a run, exit 1
for a failed verdict, one JSON shape per command."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer._click import Command
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from riftdrill import cli, inventory
from riftdrill.chaos import runner
from tests.unit.test_inventory import sample

APP = cli.mounted_app()


def invoke(args: list[str], home: Path | None = None) -> Result:
    """The CLI in a checkout of its own (no inventory: no stale-fault warnings on stderr)."""
    env = {"COLUMNS": "200"}  # help on one line per option
    if home is not None:
        env["RIFTDRILL_HOME"] = str(home)
    return CliRunner().invoke(APP, args, env=env)


def walk(command: Command, path: str = "riftdrill") -> list[tuple[str, Command]]:
    found = [(path, command)]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += walk(sub, f"{path} {name}")
    return found


COMMANDS = walk(typer.main.get_command(APP))


def test_the_tree_holds_every_command() -> None:
    paths = {p for p, _ in COMMANDS}
    assert {"riftdrill deploy", "riftdrill fault resume", "riftdrill fault heal-link",
            "riftdrill fault unblock-store", "riftdrill load status", "riftdrill verify",
            "riftdrill drill", "riftdrill report"} <= paths


@pytest.mark.parametrize(("path", "command"), [c for c in COMMANDS if not c[1].hidden],
                         ids=[p for p, c in COMMANDS if not c.hidden])
def test_every_command_and_option_has_help(path: str, command: Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help"
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name} has no help"


@pytest.mark.parametrize("args", [
    ["status", "--target", "aws-gcp"],  # an option another command has
    ["deploy", "--bogus"],
    ["fault", "kill"],  # a missing argument
    ["nope"],  # an unknown command
    ["load", "status", "--run"],  # an option without its value
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = invoke(args, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riftdrill: error: ") and "--help" in lines[0]


def test_version_comes_from_the_package_metadata() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"riftdrill {version('riftdrill')}"


@pytest.mark.parametrize(("args", "needle"), [
    (["deploy", "--engine", "redpanda"], "unknown engine 'redpanda'; choose one of: kafka, tansu, automq"),
    (["deploy", "--topology", "ring"], "unknown topology 'ring'; choose one of: stretched, per-cloud"),
    (["destroy", "--target", "azure"], "unknown target 'azure'; choose one of: local, aws-gcp"),
    (["fault", "sever", "--direction", "up"], "unknown direction 'up'; choose one of: both, a-to-b, b-to-a"),
    (["compare", "--engine", "automq"], "unknown engine 'automq'; choose one of: kafka, tansu"),
    (["compare", "--setup", "mm2"],
     "unknown setup 'mm2'; choose one of: kafka, kafka-per-cloud, tansu"),
    (["compare", "--wan", "latency=-5ms"], "latency"),
    (["compare", "--experiment", "no-such-drill"], "no-such-drill"),
    (["load", "--profile", "fast"], "unknown profile 'fast'; choose one of: idempotent, legacy"),
])
def test_a_bad_choice_is_one_line_listing_the_choices(tmp_path: Path, args: list[str],
                                                       needle: str) -> None:
    result = invoke(args, tmp_path)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_choices_are_shown_in_help() -> None:
    result = invoke(["deploy", "--help"])
    assert result.exit_code == 0
    assert "local|aws-gcp" in result.stdout and "kafka|tansu|automq" in result.stdout
    assert "stretched|per-cloud" in result.stdout


def test_choices_complete_in_the_shell() -> None:
    deploy = dict(COMMANDS)["riftdrill deploy"]
    [engine] = [p for p in deploy.params if p.name == "engine"]
    ctx = deploy.make_context("deploy", [], resilient_parsing=True)
    assert [c.value for c in engine.shell_complete(ctx, "t")] == ["tansu"]


def test_exit_codes_are_documented_in_the_top_level_help() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0 ok", "1 a verdict failed", "2 bad input", "130 interrupted"):
        assert code in text


def test_no_command_shows_the_help_and_exits_2() -> None:
    result = invoke([])
    assert result.exit_code == 2
    assert "Usage" in result.output and "deploy" in result.output


def test_report_run_naming_nothing_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "results" / "runs" / "r1").mkdir(parents=True)
    result = invoke(["report", "--results", str(tmp_path / "results"), "--run", "nope"], tmp_path)
    assert result.exit_code == 2
    assert "no run or comparison 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_run_is_named_the_same_way_everywhere(tmp_path: Path) -> None:
    from riftdrill import paths

    runs = tmp_path / "results" / "runs"
    (runs / "old").mkdir(parents=True)
    (runs / "new").mkdir()
    import os

    os.utime(runs / "old", (1, 1))
    assert paths.resolve_run_dir(None, runs).name == "new"  # default: the newest run
    assert paths.resolve_run_dir("old", runs) == runs / "old"  # a run id
    assert paths.resolve_run_dir(str(runs / "old"), runs) == runs / "old"  # a directory
    assert paths.new_run_dir("x/y") == Path("x/y")
    for args in (["load", "status", "--run", "gone"], ["load", "stop", "--run-dir", "gone"],
                 ["verify", "--run", "gone"]):
        result = invoke(args, tmp_path)
        assert result.exit_code == 2, (args, result.output)
        assert "no run 'gone'" in result.stderr


def test_a_failed_smoke_test_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(inventory, "load", lambda path=None: sample())

    def failing(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "no ack")

    monkeypatch.setattr(subprocess, "run", failing)
    result = invoke(["smoke"], tmp_path)
    assert result.exit_code == 1
    assert "smoke test failed in: aws, gcp" in result.stderr


def fake_drill(plan: runner.DrillPlan, *_: Any, **__: Any) -> Any:
    name = plan.name
    return SimpleNamespace(summary={"experiment": name, "run_id": f"r-{name}"},
                           verdict=SimpleNamespace(passed=True, reasons=[]), regressions=[],
                           regressed=False, exit_code=runner.EXIT_PASS, run_dir=Path("r"),
                           stop_requested=False)


def test_drill_json_is_a_list_for_one_drill_as_for_a_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "run_drill", fake_drill)
    monkeypatch.setattr(runner, "render_report", lambda d: runner.ReportOutcome(True, "report"))
    one = invoke(["drill", "broker-kill", "--json"])
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout) == [{"experiment": "broker-kill", "run_id": "r-broker-kill"}]
    suite = invoke(["drill", "--suite", "--json"])
    assert suite.exit_code == 0, suite.output
    assert [s["experiment"] for s in json.loads(suite.stdout)] == list(runner.SUITE)


def test_ctrl_c_while_a_drill_heals_stops_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(plan: runner.DrillPlan, *a: Any, **kw: Any) -> Any:
        result = fake_drill(plan)
        result.stop_requested = plan.name == runner.SUITE[1]
        return result

    monkeypatch.setattr(runner, "run_drill", stopped)
    monkeypatch.setattr(runner, "render_report", lambda d: runner.ReportOutcome(True, "report"))
    suite = invoke(["drill", "--suite", "--json"])
    assert suite.exit_code == runner.EXIT_INTERRUPTED
    assert [s["experiment"] for s in json.loads(suite.stdout)] == list(runner.SUITE[:2])
