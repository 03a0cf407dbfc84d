"""Experiments come from one source (experiments/base.yaml + experiments/drills/*.yaml): the
committed JSON is exactly what the generator writes, and the real `chaos validate` accepts every
experiment (functions, arguments and the control exist)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from riftdrill.chaos import experiments as gen

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
CHAOS = Path(sys.executable).parent / "chaos"
CONTROL = {"name": "riftdrill", "provider": {"type": "python", "module": "riftdrill.chaos.control"}}


def test_committed_experiments_are_the_generated_ones() -> None:
    states = gen.states(EXPERIMENTS)
    assert len(states) >= 8
    stale = [gen.describe(st, ROOT) for st in states if st.state != "same"]
    assert not stale, "\n".join(stale)


def test_every_experiment_declares_the_control_and_the_run_context() -> None:
    for path in sorted(EXPERIMENTS.glob("*.json")):
        exp = json.loads(path.read_text())
        assert exp["controls"] == [CONTROL], path.name
        assert exp["configuration"]["run_dir"] == "", path.name
        assert exp["configuration"]["owner_pid"] == 0, path.name
        assert exp["tags"][0] == "riftdrill"
        assert [r["name"] for r in exp["rollbacks"]][-2:] == ["heal-every-recorded-fault",
                                                             "stop-background-load"]


def _chaos(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOS), "--no-version-check", "--no-log-file", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_chaos_validate_passes_on_every_experiment(tmp_path: Path) -> None:
    paths = sorted(EXPERIMENTS.glob("*.json"))
    procs = {p.name: subprocess.Popen(
        [str(CHAOS), "--no-version-check", "--no-log-file", "validate", str(p)], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for p in paths}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {out}"
        assert "experiment syntax and semantic look valid" in out, f"{name}: {out}"
        # a control module that does not import is only a warning to chaos validate
        assert "Could not find Python module" not in out, f"{name}: {out}"


def test_chaos_validate_finds_a_misnamed_function(tmp_path: Path) -> None:
    exp = json.loads((EXPERIMENTS / "broker-kill.json").read_text())
    fault = next(a for a in exp["method"] if a["name"] == "kill-broker")
    fault["provider"]["func"] = "kill_brokr"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(exp))
    proc = _chaos("validate", str(bad), cwd=tmp_path)
    assert proc.returncode != 0
    assert "kill_brokr" in proc.stdout + proc.stderr


def test_chaos_discover_lists_the_riftdrill_activities(tmp_path: Path) -> None:
    out = tmp_path / "discovery.json"
    proc = _chaos("discover", "riftdrill", "--no-install", "--no-system-info",
                  "--discovery-path", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    discovery = json.loads(out.read_text())
    assert discovery["extension"]["name"] == "riftdrill"
    found = {(a["type"], a["name"]) for a in discovery["activities"]}
    assert {("action", "kill_broker"), ("action", "sever_link"), ("action", "heal_all"),
            ("probe", "produce_succeeds"), ("probe", "no_offline_partitions")} <= found
    # every activity the experiments use is discoverable
    used = set()
    for path in EXPERIMENTS.glob("*.json"):
        exp = json.loads(path.read_text())
        for a in exp["steady-state-hypothesis"]["probes"] + exp["method"] + exp["rollbacks"]:
            used.add((a["type"], a["provider"]["func"]))
    assert used <= found, used - found


# --- the generator on a copy of the sources -------------------------------------------------

@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "experiments"
    (d / "drills").mkdir(parents=True)
    shutil.copy(EXPERIMENTS / "base.yaml", d / "base.yaml")
    for p in (EXPERIMENTS / "drills").glob("*.yaml"):
        shutil.copy(p, d / "drills" / p.name)
    for p in EXPERIMENTS.glob("*.json"):
        shutil.copy(p, d / p.name)
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    return d


def _cli(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(gen.command)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_check_names_each_differing_file_and_write_fixes_it(sources: Path) -> None:
    assert _cli("--check") == (0, "")
    base = sources / "base.yaml"
    base.write_text(base.read_text().replace("max_lag: 5000", "max_lag: 6000"))
    (sources / "link-flap.json").unlink()
    (sources / "hand-made.json").write_text("{}\n")
    code, out = _cli("--check")
    lines = out.splitlines()
    assert code == 1
    drills = len(list((sources / "drills").glob("*.yaml")))
    assert len(lines) == drills + 1  # all but one differ, 1 missing, 1 without a source
    assert ("experiments/link-flap.json: missing (source experiments/drills/link-flap.yaml + "
            "experiments/base.yaml); run `make experiments`") in lines
    assert ("experiments/broker-kill.json: differs from what experiments/drills/broker-kill.yaml + "
            "experiments/base.yaml generate; run `make experiments`") in lines
    assert "experiments/hand-made.json: no source experiments/drills/hand-made.yaml" in out
    code, out = _cli("--write")
    assert code == 1  # the hand-made JSON is still there, named
    assert out.count("wrote ") == len(list((sources / "drills").glob("*.yaml")))
    (sources / "hand-made.json").unlink()
    assert _cli("--check") == (0, "")
    conf = json.loads((sources / "link-flap.json").read_text())["configuration"]
    assert conf["max_lag"] == {"type": "env", "key": "RIFTDRILL_MAX_LAG", "default": 6000}


def test_a_new_drill_is_one_small_file(sources: Path) -> None:
    (sources / "drills" / "broker-kill-twice.yaml").write_text(
        "title: Kill two brokers\n"
        "description: Two at once.\n"
        "tags: [broker]\n"
        "configuration: {first: aws-1, second: gcp-1, hold_s: 5, rate: 50}\n"
        "fault:\n"
        "  - {action: kill-first, func: kill_broker, arguments: {broker: '${first}'}}\n"
        "  - {action: kill-second, func: kill_broker, arguments: {broker: '${second}'}}\n"
        "  - hold-fault\n"
        "heal:\n"
        "  - {action: restart-both, func: restart_faulted_brokers}\n"
        "rollbacks:\n"
        "  - {action: restart-both-again, func: restart_faulted_brokers, pauses: {after: 1}}\n")
    gen.write(sources)
    exp = json.loads((sources / "broker-kill-twice.json").read_text())
    names = [a["name"] for a in exp["method"]]
    assert names[3:7] == ["kill-first", "kill-second", "hold-fault", "p99-ack-latency-ms-under-fault"]
    assert names[7] == "restart-both"
    assert exp["configuration"]["rate"]["default"] == 50  # overrides the base in place
    assert next(iter(exp["configuration"])) == "rate"
    assert list(exp["configuration"])[-2:] == ["run_dir", "owner_pid"]
    assert exp["rollbacks"][0]["pauses"] == {"after": 1}
    assert [r["name"] for r in exp["rollbacks"]][1:] == ["heal-every-recorded-fault",
                                                        "stop-background-load"]
    assert exp["tags"] == ["riftdrill", "broker"]


@pytest.mark.parametrize(("drill", "message"), [
    ("title: t\ndescription: d\nfault: [{action: a, func: f}]\nhold: 3\n",
     r"drills/x.yaml: hold: Extra inputs are not permitted"),
    ("title: t\ndescription: d\nfault: []\n", r"drills/x.yaml: fault: List should have at least 1"),
    ("title: t\ndescription: d\nfault: [{action: a, fnc: f}]\n", r"unknown key\(s\) fnc"),
    ("title: t\ndescription: d\nfault: [hold-the-fault]\n",
     r"unknown step 'hold-the-fault'; shared steps \(base.yaml steps\) are: hold-fault"),
    ("title: t\ndescription: d\nfault: [hold-fault]\n",
     r"\$\{hold_s\} is used but not configured; add hold_s"),
    ("title: t\ndescription: d\nconfiguration: {run_dir: /tmp}\nfault: [{action: a, func: f}]\n",
     r"configuration run_dir is the run context"),
    ("title: t\ndescription: d\nfault: [{action: a, probe: b, func: f}]\n",
     r"exactly one of `action: <name>` or `probe: <name>`"),
    ("title: [t\n", r"drills/x.yaml is unreadable: expected ',' or ']', but got '<stream end>' "
                     r"\(line 2\)"),
])
def test_a_malformed_source_is_one_line_naming_it(sources: Path, drill: str, message: str) -> None:
    (sources / "drills" / "x.yaml").write_text(drill)
    with pytest.raises(gen.ExperimentSourceError, match=message) as info:
        gen.generate(sources)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_the_base_method_has_each_slot_once(sources: Path) -> None:
    base = sources / "base.yaml"
    base.write_text(base.read_text().replace("  - heal\n", ""))
    with pytest.raises(gen.ExperimentSourceError, match=r"the `heal` slot exactly once"):
        gen.generate(sources)
