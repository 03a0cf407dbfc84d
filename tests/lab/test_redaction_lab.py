"""Redaction against the real lab: after a full drill, no file of its run directory and no log
under .riftdrill/logs shows a secret of the lab (~90 s).

The secrets are the registry's (`drivers.known_secrets`: the lab's object-store secret key and
every file under .riftdrill/secrets/), plus canaries the test plants: a password file and a TLS
private key under .riftdrill/secrets/, quoted mid-drill in a broker's log the way a broker would
log its SASL login (`sasl.jaas.config`), a plain mention, and the key's PEM block. The drill
must copy that line into the run (so the path was exercised) with every secret masked.

A failure names the file and the kind of secret, never the secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from riftdrill import drivers
from riftdrill.inventory import Inventory
from riftdrill.lab import procs
from riftdrill.redact import MIN_LITERAL_CHARS, Secret
from tests.conftest import RIFTDRILL, ROOT

pytestmark = pytest.mark.lab

CANARY_PASSWORD = "lab-test-canary.password"
CANARY_KEY = "lab-test-canary.key"
SHORT = ["--var", "hold_s=10", "--var", "baseline_s=8", "--var", "recovery_s=15",
         "--var", "rate=100"]


def _fake_pem() -> str:
    """A PEM private key block of random base64: a canary, not a key."""
    body = base64.b64encode(secrets.token_bytes(288)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def _log4j_line(text: str) -> str:
    now = time.time()
    stamp = datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S,") + f"{int(now * 1000) % 1000:03d}"
    return f"[{stamp}] INFO {text} (org.apache.kafka.common.security.authenticator)\n"


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:g} s"
        time.sleep(0.5)


def _leaks(files: list[Path], known: list[Secret]) -> list[str]:
    """'<file>: <kind>' for every file that holds a secret's value (bytes, every file)."""
    found: list[str] = []
    for path in files:
        data = path.read_bytes()
        for s in known:
            if s.value.encode() in data:
                found.append(f"{path.relative_to(ROOT)}: {s.kind}")
    return sorted(set(found))


def test_a_drill_leaves_no_secret_of_the_lab_in_its_run_dir_or_the_logs(lab: Inventory,
                                                                        tmp_path: Path) -> None:
    broker_log = procs.log_path(lab.broker("aws-1").handle)  # not the drill's target (aws-2)
    assert broker_log.is_file(), broker_log
    secrets_dir = ROOT / ".riftdrill" / "secrets"
    made_dir = not secrets_dir.exists()
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = f"rd-canary-{secrets.token_hex(12)}"
    pem = _fake_pem()
    planted = {CANARY_PASSWORD: password + "\n", CANARY_KEY: pem}
    for name, text in planted.items():
        (secrets_dir / name).write_text(text)
        os.chmod(secrets_dir / name, 0o600)
    # the drill renders the committed results/index.*: put them back afterwards
    index = {p: p.read_bytes() for p in (ROOT / "results").glob("index.*")}
    runs = ROOT / "results" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    try:
        # what the registry knows, with the canaries, as the drill resolves it
        known = [s for s in drivers.known_secrets(lab, secrets_dir=secrets_dir)
                 if len(s.value) >= MIN_LITERAL_CHARS]
        kinds = {s.kind for s in known}
        assert {"object-store secret key (lab S3)", f"secret file {CANARY_PASSWORD}",
                f"secret file {CANARY_KEY}"} <= kinds, kinds
        # stderr (chaos's lines, the live ticker) to a file: nothing reads a pipe until the end
        err_path = tmp_path / "drill.stderr"
        with open(err_path, "w") as err_file:
            drill = subprocess.Popen([*RIFTDRILL, "drill", "broker-kill", *SHORT, "--json"],
                                     stdout=subprocess.PIPE, stderr=err_file, text=True,
                                     cwd=ROOT, env={**os.environ, "RIFTDRILL_HOME": str(ROOT)})
        try:
            def load_running() -> bool:
                new = [d for d in runs.glob("*-broker-kill") if d not in before]
                return bool(new) and (new[0] / "load" / "spec.json").exists()

            _wait_for(load_running, 120, "the drill's load started")
            time.sleep(3)
            # a broker that logs its SASL login and its key: one write, so no line of the
            # broker's own comes between (the file is opened for append by both)
            with open(broker_log, "a") as log:
                log.write(_log4j_line('sasl.jaas.config = org.apache.kafka.common.security.plain.'
                                      f'PlainLoginModule required username="alice" password="'
                                      f'{password}"; plain {password}; key:') + pem)
            out, _ = drill.communicate(timeout=400)
        finally:
            if drill.poll() is None:
                drill.kill()
                drill.wait()
    finally:
        for name in planted:
            (secrets_dir / name).unlink(missing_ok=True)
        if made_dir:
            secrets_dir.rmdir()
        for path, data in index.items():
            path.write_bytes(data)
    assert drill.returncode in (0, 1), err_path.read_text()[-3000:]
    [summary] = json.loads(out)
    run = runs / summary["run_id"]

    copied = run / "logs" / "aws-1.log"
    assert copied.is_file(), summary.get("cluster_timeline", {}).get("logs_note")
    text = copied.read_text(errors="replace")
    assert f"plain ***secret file {CANARY_PASSWORD}***" in text, (
        "the canary line was not copied into the run: the copy path was not exercised")
    assert "***PRIVATE KEY***" in text

    files = sorted(p for p in run.rglob("*") if p.is_file())
    files += sorted(p for p in (ROOT / ".riftdrill" / "logs").glob("*") if p.is_file())
    assert len(files) > 20  # a whole drill: summary, verify, journal, chaos log, load, logs
    leaks = _leaks(files, known)
    assert not leaks, "secrets in what riftdrill wrote (values not shown):\n" + "\n".join(leaks)
