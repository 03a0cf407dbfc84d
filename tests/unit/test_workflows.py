"""Static checks of .github/workflows: they parse, every action is pinned by commit, and the
cloud drill always destroys what it deployed (it has never run: this is what can be checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CLOUD = ROOT / ".github" / "workflows" / "cloud-drill.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def _steps(wf: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    wf = _load(path)
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    assert "jobs" in wf and (True in wf or "on" in wf), f"{path.name}: not a workflow"
    uses = [s["uses"] for s in _steps(wf) if "uses" in s]
    assert uses, f"{path.name} uses no action"
    for ref in uses:
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned by a full commit sha"
    # The comment after each pin names the version, for humans and update bots.
    for line in path.read_text().splitlines():
        if re.search(r"\buses: ", line):
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_the_cloud_drill_always_destroys_and_never_overlaps() -> None:
    wf = _load(CLOUD)
    assert wf["concurrency"]["group"] and wf["concurrency"]["cancel-in-progress"] is False
    (job,) = wf["jobs"].values()
    steps = job["steps"]
    names = [s.get("name") or s.get("uses", "") for s in steps]
    destroy = next(s for s in steps if "make destroy TARGET=aws-gcp" in s.get("run", ""))
    assert destroy["if"] == "always()"
    assert "YES=1" in destroy["run"]
    deploy = next(s for s in steps if "make deploy TARGET=aws-gcp" in s.get("run", ""))
    guard = next(s for s in steps if "cost-estimate" in s.get("run", ""))
    # guard -> auth -> deploy -> drills -> ... -> destroy
    i_guard, i_deploy, i_destroy = steps.index(guard), steps.index(deploy), steps.index(destroy)
    auth = [i for i, s in enumerate(steps) if s.get("uses", "").startswith(
        ("aws-actions/configure-aws-credentials@", "google-github-actions/auth@"))]
    assert len(auth) == 2 and all(i_guard < i < i_deploy for i in auth), names
    assert i_deploy < i_destroy, names
    assert [s.get("name") for s in steps[i_destroy + 1:]] == ["fail on regression"], names
    assert "--budget-usd" in guard["run"] and "--hours" in guard["run"]
    # Bounded: the job, and each long step so that destroy keeps time of its own.
    assert job["timeout-minutes"] <= int(wf["env"]["RUN_HOURS"]) * 60
    assert destroy["timeout-minutes"] and deploy["timeout-minutes"]
    assert sum(s.get("timeout-minutes", 0) for s in steps) <= job["timeout-minutes"]
    # OIDC, no keys: the id-token permission and the role / workload identity inputs.
    assert job["permissions"]["id-token"] == "write"
    aws = steps[auth[0]]["with"]
    assert "role-to-assume" in aws and "aws-access-key-id" not in aws
    assert aws["role-duration-seconds"] >= int(wf["env"]["RUN_HOURS"]) * 3600
    gcp = steps[auth[1]]["with"]
    assert {"workload_identity_provider", "service_account"} <= set(gcp)
    assert "credentials_json" not in gcp


def test_a_regression_notifies_and_fails_the_run() -> None:
    wf = _load(CLOUD)
    (job,) = wf["jobs"].values()
    steps = {s.get("name"): s for s in job["steps"]}
    assert "--fail-on-regression" in (ROOT / "scripts" / "scheduled-drill.sh").read_text()
    notify = steps["notify on regression"]
    assert "regressed == 'true'" in notify["if"]
    assert "secrets.RIFTDRILL_REGRESSION_WEBHOOK" in notify["env"]["WEBHOOK"]
    assert "gh issue create" in notify["run"]
    assert steps["fail on regression"]["run"].strip().endswith("exit 1")
    # No expression of user input inside a script: inputs reach the shell through env only.
    for s in job["steps"]:
        assert "inputs." not in s.get("run", ""), s.get("name")


def _notice(tmp_path: Path, summaries: str) -> subprocess.CompletedProcess[str]:
    sched = tmp_path / "scheduled"
    sched.mkdir(exist_ok=True)
    (sched / "20260101T000000Z.json").write_text("[]")
    (sched / "20260102T000000Z.json").write_text(summaries)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "regression-notice.py"), str(sched),
                           "--out", str(tmp_path / "notice.md")],
                          capture_output=True, text=True, timeout=60)


def test_the_notice_names_the_regressed_drills(tmp_path: Path) -> None:
    flag = {"figure": "lost", "old": 0, "new": 3, "limit": 0, "message": "lost 3 (previous run: 0)"}
    runs = [{"experiment": "link-sever", "run_id": "r2", "verdict": {"passed": True},
             "regressions": {"previous_run_id": "r1", "flags": [flag]}},
            {"experiment": "broker-kill", "run_id": "r3", "verdict": {"passed": True},
             "regressions": {"previous_run_id": None, "flags": []}}]
    res = _notice(tmp_path, __import__("json").dumps(runs))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["regressed=true", "drills=2"]
    text = (tmp_path / "notice.md").read_text()
    assert "1 of 2 drill(s) regressed" in text and "link-sever" in text and "lost 3" in text
    assert "broker-kill" not in text


def test_no_regression_and_no_suite(tmp_path: Path) -> None:
    res = _notice(tmp_path, "[]")
    assert res.returncode == 0 and res.stdout.splitlines()[0] == "regressed=false"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "regression-notice.py"),
                          str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1


FAKE_RD = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/calls"
if [[ $1 == drill ]]; then echo '[]'; fi
"""


@pytest.mark.parametrize(("experiment", "expected"), [("", "drill --suite --json"),
                                                      ("link-sever", "drill link-sever --json")])
def test_the_scheduled_script_runs_one_drill_or_the_suite(tmp_path: Path, experiment: str,
                                                          expected: str) -> None:
    """RIFTDRILL_EXPERIMENT (the cloud workflow's input) picks one drill; deploy args pass on."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "scheduled-drill.sh"
    script.write_text((ROOT / "scripts" / "scheduled-drill.sh").read_text())
    rd = tmp_path / "rd"
    rd.write_text(FAKE_RD)
    rd.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "RD": str(rd), "RIFTDRILL_EXPERIMENT": experiment,
           "HOME": str(tmp_path)}
    res = subprocess.run(["bash", str(script), "--target", "aws-gcp"], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "deploy --target aws-gcp" and calls[1] == "heal"
    assert calls[2].startswith(expected) and "--fail-on-regression" in calls[2]
    assert calls[3] == "report"
