"""One short broker-kill drill, run as `make drill` runs it (scripts/drill.sh), judged three ways:
no acknowledged record lost and the broker timeline and logs kept (the drill's truth), no secret
of the lab in anything it wrote (redaction), and a report a reader can use (headless Chromium).

A drill costs ~2 min of the lab suite, so the three share it (a module fixture): the leader of
the most partitions is killed, and while the load runs a canary login line is written into a
broker's log, so the copy-and-redact path of the run's logs is exercised by the same drill.

Redaction: the secrets are the registry's (`drivers.known_secrets`: the lab's object-store secret
key and every file under .riftdrill/secrets/), plus canaries the fixture plants: a password file
and a TLS private key under .riftdrill/secrets/, quoted mid-drill in a broker's log the way a
broker would log its SASL login (`sasl.jaas.config`), a plain mention, and the key's PEM block.
The drill must copy that line into the run with every secret masked. A failure names the file
and the kind of secret, never the secret.

Report: its report.html in headless Chromium: the headline box, the timeline with one series
per cloud and the shaded fault window (its data-* attributes and its pixels), no console error;
results/index.html rendered by the drill itself.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from riftdrill import drivers
from riftdrill.inventory import Inventory
from riftdrill.lab import procs
from riftdrill.redact import MIN_LITERAL_CHARS, Secret
from tests.conftest import ROOT, default_lab
from tests.lab.test_drills_lab import (
    assert_broker_timeline_and_logs,
    assert_lab_healthy,
    assert_passed_without_loss,
)

pytestmark = pytest.mark.lab

CANARY_PASSWORD = "lab-test-canary.password"
CANARY_KEY = "lab-test-canary.key"
CANARY_BROKER = "aws-1"
# the broker leading the most partitions of the load's topic, so leaders must move
ARGS = ("--var broker=leader --var hold_s=12 --var baseline_s=8 --var recovery_s=15 "
        "--var rate=200 --json")


@dataclass
class BrokerKill:
    rc: int
    summary: dict[str, Any]
    started: float  # wall clock before the drill
    known: list[Secret]  # the lab's secrets with the canaries, as the drill resolved them

    @property
    def run(self) -> Path:
        return ROOT / "results" / "runs" / str(self.summary["run_id"])


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


@pytest.fixture(scope="module")
def broker_kill(lab_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerKill]:
    lab = default_lab()
    assert isinstance(lab, Inventory)
    broker_log = procs.log_path(lab.broker(CANARY_BROKER).handle)
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
    # the drill renders the committed results/index.*: put them back after the module's tests
    index = {p: p.read_bytes() for p in (ROOT / "results").glob("index.*")}
    runs = ROOT / "results" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    try:
        err_path = tmp_path_factory.mktemp("broker-kill") / "drill.stderr"
        try:
            known = [s for s in drivers.known_secrets(lab, secrets_dir=secrets_dir)
                     if len(s.value) >= MIN_LITERAL_CHARS]
            kinds = {s.kind for s in known}
            assert {"object-store secret key (lab S3)", f"secret file {CANARY_PASSWORD}",
                    f"secret file {CANARY_KEY}"} <= kinds, kinds
            started = time.time()
            # what `make drill EXP=broker-kill` runs after `make setup`, with the lab deployed;
            # stderr (chaos's lines, the live ticker) to a file: nothing reads a pipe until the end
            env = {**os.environ, "RIFTDRILL_HOME": str(ROOT), "RIFTDRILL_DRILL_ARGS": ARGS,
                   "RD": str(ROOT / ".riftdrill" / "venv" / "bin" / "riftdrill")}
            with open(err_path, "w") as err_file:
                drill = subprocess.Popen(["bash", "scripts/drill.sh", "broker-kill"],
                                         stdout=subprocess.PIPE, stderr=err_file, text=True,
                                         cwd=ROOT, env=env)
            try:
                def load_running() -> bool:
                    new = [d for d in runs.glob("*-broker-kill") if d not in before]
                    return bool(new) and (new[0] / "load" / "spec.json").exists()

                _wait_for(load_running, 120, "the drill's load started")
                time.sleep(3)  # in the baseline window: the broker is up whichever one is killed
                # a broker that logs its SASL login and its key: one write, so no line of the
                # broker's own comes between (the file is opened for append by both)
                with open(broker_log, "a") as log:
                    log.write(_log4j_line('sasl.jaas.config = org.apache.kafka.common.security.plain.'
                                          f'PlainLoginModule required username="alice" password="'
                                          f'{password}"; plain {password}; key:') + pem)
                out, _ = drill.communicate(timeout=600)
            finally:
                if drill.poll() is None:
                    drill.kill()
                    drill.wait()
        finally:
            for name in planted:
                (secrets_dir / name).unlink(missing_ok=True)
            if made_dir:
                secrets_dir.rmdir()
        err = err_path.read_text(errors="replace")[-3000:]
        assert drill.returncode in (0, 1), err
        # deploy and heal may print before the drill's JSON list (indent 2: "[" alone on a line)
        [summary] = json.loads(out if out.startswith("[") else out[out.rindex("\n[\n") + 1:])
        yield BrokerKill(drill.returncode, summary, started, known)
    finally:
        for path, data in index.items():
            path.write_bytes(data)


def test_broker_kill_drill_loses_nothing_heals_and_keeps_the_broker_timeline(
        lab: Inventory, broker_kill: BrokerKill) -> None:
    rc, summary = broker_kill.rc, broker_kill.summary
    assert_passed_without_loss(rc, summary, "kill_broker")
    assert summary["fault_windows"][0]["target"] in {b.name for b in lab.brokers}
    # The cost report's object-store figures are measured around the drill: moto counts requests.
    usage = summary["store_usage"]
    assert set(usage) == {s.name for s in lab.stores}
    assert usage["aws-s3"]["requests_measured"] is True and "error" not in usage["gcp-gcs"]
    assert_broker_timeline_and_logs(lab, summary)
    assert_lab_healthy()


def test_a_drill_leaves_no_secret_of_the_lab_in_its_run_dir_or_the_logs(
        broker_kill: BrokerKill) -> None:
    run = broker_kill.run
    copied = run / "logs" / f"{CANARY_BROKER}.log"
    assert copied.is_file(), broker_kill.summary.get("cluster_timeline", {}).get("logs_note")
    text = copied.read_text(errors="replace")
    assert f"plain ***secret file {CANARY_PASSWORD}***" in text, (
        "the canary line was not copied into the run: the copy path was not exercised")
    assert "***PRIVATE KEY***" in text

    files = sorted(p for p in run.rglob("*") if p.is_file())
    files += sorted(p for p in (ROOT / ".riftdrill" / "logs").glob("*") if p.is_file())
    assert len(files) > 20  # a whole drill: summary, verify, journal, chaos log, load, logs
    leaks = _leaks(files, broker_kill.known)
    assert not leaks, "secrets in what riftdrill wrote (values not shown):\n" + "\n".join(leaks)


def test_make_drill_renders_the_run_report_and_the_index(broker_kill: BrokerKill) -> None:
    from riftdrill.report.browser import Browser, blend, check_page, plot_pixels, rgb
    from riftdrill.report.plots import CLOUD_COLORS, FAULT_ALPHA, FAULT_COLOR

    run, summary = broker_kill.run, broker_kill.summary
    page, index = run / "report.html", ROOT / "results" / "index.html"
    for path in (page, run / "report.md", index, ROOT / "results" / "index.md"):
        assert path.exists() and path.stat().st_mtime >= broker_kill.started, path
    assert f"runs/{summary['run_id']}/report.html" in index.read_text()
    assert_lab_healthy()

    with Browser() as browser:
        check = check_page(browser, page)
        assert check.console_errors == [] and check.external == []
        assert {"plot-timeline", "plot-percentiles"} <= {i["id"] for i in check.images}
        assert browser.evaluate(
            "document.querySelector('section.headline h2').textContent") == "Headline"
        out = plot_pixels(browser, "plot-timeline", {
            "shade": blend(FAULT_COLOR, FAULT_ALPHA), "aws": rgb(CLOUD_COLORS["aws"]),
            "gcp": rgb(CLOUD_COLORS["gcp"])})
    assert out is not None
    data, counts = out["data"], out["counts"]
    # one series per cloud (the load places a producer in each), x from the fault start
    assert data["series"] == "aws,gcp" and data["x"] == "seconds from fault start"
    [window] = data["faultWindows"].split(",")
    start_s, end_s = (float(v) for v in window.split(":"))
    assert start_s == 0.0 and end_s >= 10.0, window  # hold_s=12 until the restart is confirmed
    assert counts["shade"] > 2000, counts
    assert counts["aws"] > 200 and counts["gcp"] > 200, counts
