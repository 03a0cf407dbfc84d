"""Every writer under results/ and .riftdrill/logs goes through the one redaction step: the
registry of the deployment's secrets, Terraform's log, a drill's run directory (chaos.out, the
copied broker logs, verify.json, summary.json, control.json, journal.json, the final sweep),
the load's directory, compare.json. What is not the subject is faked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from riftdrill import drivers
from riftdrill.chaos import brokerlogs, control, runner
from riftdrill.chaos.slo import ExperimentSlo, Tolerance
from riftdrill.chaos.verdict import Verdict
from riftdrill.context import RunContext
from riftdrill.drivers.cloud import CloudDriver
from riftdrill.drivers.local import LocalDriver
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory, ObjectStore
from riftdrill.lab import stores
from riftdrill.redact import Redactor, Secret
from riftdrill.terraform import Workspace
from riftdrill.verify.report import VerifyReport
from tests.unit.test_chaos_targets import inv

SECRET = "sasl-pw-Of-The-Lab-42"
KIND = "secret file sasl.password"
KNOWN = Redactor([Secret(KIND, SECRET)])
MASKED = f"***{KIND}***"


def lab_inv() -> Inventory:
    store = ObjectStore(name="aws-s3", cloud="aws", api="s3", endpoint="http://198.18.1.5:9000",
                        address="198.18.1.5", port=9000, buckets=["b"], server="moto")
    return inv().model_copy(update={"stores": [store]})


def assert_clean(path: Path) -> None:
    data = path.read_bytes()
    assert SECRET.encode() not in data, f"{path.name} shows the secret"


# ---- the registry -------------------------------------------------------------------------

def test_known_secrets_are_the_targets_and_the_secrets_dir(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "sasl.password").write_text(SECRET + "\n")
    lab = drivers.known_secrets(lab_inv(), LocalDriver(), secrets)
    assert {s.kind for s in lab} == {"object-store secret key (lab S3)", KIND}
    assert stores.LAB_S3_SECRET in {s.value for s in lab}
    assert stores.LAB_S3_KEY not in {s.value for s in lab}  # an id, not a secret
    assert {s.kind for s in drivers.known_secrets(lab_inv(), CloudDriver(), secrets)} == {KIND}
    assert {s.kind for s in drivers.known_secrets(None, secrets_dir=secrets)} == {KIND}
    r = drivers.redactor_for(lab_inv(), LocalDriver(), secrets)
    assert r.text(f"as {stores.LAB_S3_SECRET} and {SECRET}") == (
        f"as ***object-store secret key (lab S3)*** and {MASKED}")


def test_the_deploy_workspace_redacts_the_targets_secrets(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill import deploy

    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    (tmp_path / ".riftdrill" / "secrets").mkdir(parents=True)
    (tmp_path / ".riftdrill" / "secrets" / "sasl.password").write_text(SECRET)
    assert deploy.workspace("local").redactor.kinds == ["object-store secret key (lab S3)", KIND]
    assert deploy.workspace("aws-gcp").redactor.kinds == [KIND]


# ---- .riftdrill/logs: Terraform's log -----------------------------------------------------

def test_terraforms_output_is_redacted_into_its_log_and_the_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    ws = Workspace(module_dir=tmp_path, name="unit", redactor=KNOWN)
    script = (f"print('terraform_data.x (local-exec): riftdrill: auth failed with {SECRET}')\n"
              "import sys; print('Error: password=hunter2-pw', file=sys.stderr)\n")

    def fake_terraform() -> tuple[int, None, None]:
        # python-terraform hands sys.stdout/err to the process when it does not capture
        rc = subprocess.call([sys.executable, "-c", script], stdout=sys.stdout, stderr=sys.stderr)
        return rc + 1, None, None

    progress: list[str] = []
    with pytest.raises(RiftdrillError) as failed:
        ws._run("apply", fake_terraform, progress.append)
    assert_clean(ws.log_path)
    assert "hunter2-pw" not in ws.log_path.read_text()
    assert f"auth failed with {MASKED}" in ws.log_path.read_text()
    assert progress and not any(SECRET in p or "hunter2-pw" in p for p in progress)
    assert SECRET not in str(failed.value) and MASKED in str(failed.value)  # last_error


# ---- a drill's run directory --------------------------------------------------------------

def _log4j(ts: float, text: str) -> str:
    stamp = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S,") + f"{int(ts * 1000) % 1000:03d}"
    return f"[{stamp}] INFO {text} (kafka.server.KafkaServer)\n"


def test_broker_logs_are_redacted_as_they_are_copied(tmp_path: Path) -> None:
    t0 = time.time()
    src = tmp_path / "broker-aws-1.log"
    src.write_text(_log4j(t0 - 100, f"before {SECRET}") + _log4j(t0, f"sasl {SECRET} in")
                   + "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n"
                   "-----END RSA PRIVATE KEY-----\n" + _log4j(t0 + 1, "after the key"))
    run = tmp_path / "run"
    run.mkdir()
    copied = brokerlogs.copy_logs({"aws-1": src}, run, since_s=t0 - 5, until_s=t0 + 5,
                                  redactor=KNOWN)
    assert copied.files == ["logs/aws-1.log"]
    text = (run / "logs" / "aws-1.log").read_text()
    assert f"sasl {MASKED} in" in text and "***PRIVATE KEY***" in text
    assert SECRET not in text and "MIIEpAIBAAKCAQEA" not in text and "after the key" in text


def test_chaos_output_is_redacted_into_chaos_out(tmp_path: Path) -> None:
    say = f"print('[INFO] configuration: {SECRET}'); print('ssl.key.password = hunter2-pw')"
    outcome = runner.run_chaos([sys.executable, "-c", say], tmp_path, redactor=KNOWN,
                               echo=False, heal_all=lambda: [], stop_load=lambda d: None)
    assert outcome.returncode == 0
    text = (tmp_path / "chaos.out").read_text()
    assert f"configuration: {MASKED}" in text and "hunter2-pw" not in text


def test_control_json_and_the_journal_are_written_redacted(tmp_path: Path) -> None:
    state = control.RunState(ctx=RunContext(tmp_path, 4242), owns_end=True, name="broker-kill",
                             started_monotonic=time.monotonic(), redactor=KNOWN)
    state.start = SimpleNamespace(redactor=KNOWN)  # type: ignore[assignment]

    def heal(owner: int) -> list[Any]:
        raise RuntimeError(f"cannot reach the broker with {SECRET}")

    seen: dict[str, Any] = {}
    control.finish_run(state, {"status": "completed", "configuration": {"password": SECRET}},
                       heal=heal, stop_load=lambda d: None,
                       finish=lambda d, s, o: seen.setdefault("journal", json.loads(
                           (d / "journal.json").read_text())),
                       render=lambda d: None)
    assert_clean(tmp_path / "control.json")
    assert_clean(tmp_path / "journal.json")
    report = runner.read_control_report(tmp_path)
    assert report.cleanup_errors == [f"heal_all failed: cannot reach the broker with {MASKED} "
                                     "(run `riftdrill heal`)"]
    assert seen["journal"] == {"status": "completed", "configuration": {"password": "***"}}


def test_verify_json_is_written_redacted_and_reads_back(tmp_path: Path) -> None:
    report = VerifyReport(run_dir=f"/results/runs/{SECRET}", clusters=["main"])
    path = report.write(tmp_path, KNOWN)
    assert path == tmp_path / "verify.json"
    assert_clean(path)
    assert VerifyReport.model_validate_json(path.read_text()).clusters == ["main"]


def test_the_verify_probe_and_command_write_verify_json_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill import inventory
    from riftdrill.chaos import probes
    from riftdrill.verify import cli, verifier

    monkeypatch.setattr(verifier, "verify_run", lambda run_dir, inv, **k: VerifyReport(
        run_dir=f"{run_dir} {SECRET}", passed=True))
    monkeypatch.setattr(inventory, "load", lambda *a: lab_inv())
    monkeypatch.setattr(drivers, "redactor_for", lambda inv, *a: KNOWN)
    assert probes.verify_ledger({"run_dir": str(tmp_path), "owner_pid": 1})["passed"]
    assert_clean(tmp_path / "verify.json")
    (tmp_path / "verify.json").unlink()
    cli.verify(run=str(tmp_path), cluster=None, json_out=False)
    assert_clean(tmp_path / "verify.json")


class LabLike:
    """A driver that measures nothing and keeps one broker log (the lab's shape)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def link_counters(self, inv: Inventory) -> dict[str, Any]:
        return {}

    def store_snapshot(self, inv: Inventory) -> dict[str, Any]:
        return {}

    def log_files(self, inv: Inventory) -> dict[str, Path]:
        return {"aws-1": self.log}


def test_finish_drill_writes_redacted_and_sweeps_what_others_wrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "runs" / "20260101T000000Z-broker-kill"
    (run / "load" / "ledgers").mkdir(parents=True)
    (run / "load" / "workers").mkdir()
    (run / "chaos.log").write_text(f"[DEBUG] secrets loaded: {SECRET}\n")
    (run / "journal.json").write_text(json.dumps({"experiment": {"secret": SECRET}}))
    (run / "load" / "workers" / "aws.log").write_text(f"KafkaError: SASL auth {SECRET}\n")
    (run / "load" / "locust").mkdir()
    (run / "load" / "locust" / "aws_failures.csv").write_text(f"produce,x,\"{SECRET}\",1\n")
    ledger = run / "load" / "ledgers" / "aws-p0.rdl"
    ledger.write_bytes(b"RDL1" + b"\x00" * 60)
    broker_log = tmp_path / "broker-aws-1.log"
    broker_log.write_text(_log4j(time.time(), f"sasl.jaas.config=x password=\"{SECRET}\";"))
    monkeypatch.setattr(runner, "observer_for", lambda inv: LabLike(broker_log))
    monkeypatch.setattr(runner, "judge", lambda *a: runner.Judgement(
        Verdict(passed=False, reasons=[f"verify could not check the run: auth {SECRET}"]),
        None, None, [], [], None, None))
    start = runner.DrillStart(
        name="broker-kill", experiment={"title": "T"}, params={"hold_s": 1}, inv=inv(),
        bounds=ExperimentSlo(), tolerance=Tolerance(),
        started_at=datetime.fromtimestamp(time.time() - 10).astimezone().isoformat(),
        counters_before={}, stores_before={}, redactor=KNOWN)
    result = runner.finish_drill(run, start, runner.ChaosOutcome(
        returncode=0, interrupted_by=None, seconds=1))
    for path in (p for p in run.rglob("*") if p.is_file()):
        assert_clean(path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"]["reasons"] == [f"verify could not check the run: auth {MASKED}"]
    assert result.verdict.reasons[0].endswith(SECRET)  # in memory, never written as it is
    assert (run / "logs" / "aws-1.log").is_file()
    assert ledger.read_bytes() == b"RDL1" + b"\x00" * 60
    assert not list(run.rglob("*.tmp"))


# ---- the load's directory, compare.json ---------------------------------------------------

def test_the_load_sweeps_its_directory_however_it_ends(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from riftdrill.load import runner as load_runner
    from riftdrill.load.spec import LoadSpec

    def failing_load(spec: Any, run_dir: Path, inv: Any, progress: bool) -> Any:
        (run_dir / "load" / "workers").mkdir(parents=True)
        (run_dir / "load" / "workers" / "aws.log").write_text(f"Traceback: conf {SECRET}\n")
        raise RiftdrillError("load process for cloud aws failed")

    monkeypatch.setattr(load_runner, "_run_load", failing_load)
    monkeypatch.setattr(load_runner, "redactor_for", lambda inv: KNOWN)
    with pytest.raises(RiftdrillError):
        load_runner.run_load(LoadSpec(rate_per_s=1, duration_s=1), tmp_path, inv(), progress=False)
    assert_clean(tmp_path / "load" / "workers" / "aws.log")


def test_compare_json_is_written_redacted(tmp_path: Path) -> None:
    from riftdrill.report.compare import build_compare, load_compare, write_compare

    out = write_compare(build_compare("c1", [], title=f"kafka vs tansu {SECRET}"), tmp_path,
                        KNOWN)
    assert_clean(out / "compare.json")
    assert load_compare(out).title == f"kafka vs tansu {MASKED}"
