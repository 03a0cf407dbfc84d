"""The deadline rule of cloud faults (riftdrill.expiry) and the reaper's markers.

The reaper itself runs against moto server in test_cloud_aws.py and stub clients in
test_cloud_gcp.py; here: the arithmetic, the markers' round trips, and that the reaper stays
a module the Lambda can run alone (standard library and boto3 only).
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from riftdrill import expiry
from riftdrill.chaos import actions
from riftdrill.cloud import reaper
from riftdrill.inventory import Fault


def test_a_dead_runner_leaves_a_fault_for_under_hold_plus_five_minutes() -> None:
    assert expiry.deadline_s(1000.0, 20.0) == 1000 + 20 + expiry.MARGIN_S + 1
    assert expiry.deadline_s(1000.0, None) == 1000 + expiry.UNTIMED_HOLD_S + expiry.MARGIN_S + 1
    # deadline, then at most one reaper period until a run sees it: still inside the promise
    assert expiry.MARGIN_S + 1 + expiry.REAPER_PERIOD_S < expiry.MAX_OVERRUN_S


def test_live_leaves_out_what_is_past_its_deadline() -> None:
    ahead = Fault(id="a", kind="sever_link", target="l", expires_at=2000)
    past = Fault(id="p", kind="sever_link", target="l", expires_at=1000)
    assert expiry.live([ahead, past], now_s=1500) == [ahead]
    # recorded before deadlines existed: the by-hand deadline, from its start
    legacy = Fault(id="o", kind="sever_link", target="l",
                   started_at=datetime.fromtimestamp(1000, UTC).isoformat())
    assert expiry.fault_deadline_s(legacy) == expiry.deadline_s(1000, None)


def test_the_drill_hold_comes_from_the_experiment_configuration() -> None:
    assert actions._hold_s({"hold_s": "30"}) == 30.0
    assert actions._hold_s({"hold_s": 45}) == 45.0
    assert actions._hold_s({}) is None
    assert actions._hold_s(None) is None
    assert actions._hold_s({"hold_s": "soon"}) is None
    assert actions._hold_s({"hold_s": -1}) is None


def test_markers_round_trip() -> None:
    assert reaper.sid_deadline(reaper.block_sid(1234)) == 1234
    assert reaper.sid_deadline(reaper.BLOCK_SID) == 0  # a block from before deadlines: expired
    assert reaper.sid_deadline("DenyInsecureTransport") is None
    base = "riftdrill link-sever drill (ingress)"
    marked = reaper.with_deadline(base, 99)
    assert reaper.description_deadline(marked) == 99
    assert reaper.with_deadline(reaper.with_deadline(marked, 123), None) == base
    assert reaper.description_deadline(base) is None
    assert reaper.expired("10", 10) and not reaper.expired("11", 10) and reaper.expired("x", 0)


def test_the_reaper_module_needs_only_the_standard_library_and_boto3() -> None:
    tree = ast.parse(Path(reaper.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    # google: only inside the GCP functions (the Cloud Function installs it)
    assert imported <= {"__future__", "json", "os", "re", "time", "collections", "dataclasses",
                        "typing", "boto3", "google"}, imported
