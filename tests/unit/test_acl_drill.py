"""The ACL drill's fault: `revoke_acl` recorded before the load principal's writes go, healed
by restore_acl / heal_all, refused in one line on a lab without security.

The cluster is faked at the Admin API (`tests/unit/acl_fakes.py`): `security.acls.apply_acls`,
`faults.sync_acls`, the primitives and the Chaos Toolkit actions run for real over a real
inventory file under a temporary RIFTDRILL_HOME.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riftdrill import faults, inventory
from riftdrill.chaos import actions, windows
from riftdrill.errors import FaultError, LabError, ValidationError
from riftdrill.inventory import Inventory
from riftdrill.security import acls
from tests.unit.acl_fakes import FakeCluster, fake_clusters, secure
from tests.unit.test_fault_actions import OWNER, configuration, lab, on_disk

ROOT = Path(__file__).resolve().parents[2]
LOAD_WRITES = {("ResourceType.TOPIC", p, "AclOperation.WRITE") for p in acls.LOAD_PREFIXES} | {
    ("ResourceType.TOPIC", "main.", "AclOperation.WRITE")} | {
    ("ResourceType.TRANSACTIONAL_ID", p, "AclOperation.WRITE") for p in acls.LOAD_PREFIXES}


@pytest.fixture()
def secured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
            ) -> Iterator[tuple[Inventory, dict[str, FakeCluster]]]:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    inv = secure(lab(), tmp_path / ".riftdrill" / "secrets")
    inventory.save(inv)
    plan = acls.inventory_plan(inv)
    clusters = fake_clusters(monkeypatch, [a for rules in plan.values() for a in rules])
    monkeypatch.setattr(faults, "driver_for", lambda inv: object())  # no driver is used
    yield inv, clusters


def test_the_plan_is_what_the_fake_cluster_starts_with(
        secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, _ = secured
    load = {(str(b.restype), b.name, str(b.operation))
            for b in acls.bindings(acls.inventory_plan(inv)["load"])}
    assert load >= LOAD_WRITES  # what a revoke takes is in the plan


def test_revoke_is_recorded_before_the_writes_go_and_restore_forgets_before_they_return(
        secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, clusters = secured
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    effects = []
    fault = faults.revoke_acl(inv, "load", owner_pid=OWNER, on_effect=effects.append)
    assert (fault.kind, fault.target, fault.by_pid) == ("revoke_acl", "load", OWNER)
    # One Admin client per cluster of the inventory (main and backup), as the super user
    assert len(clusters) == 2
    for cluster in clusters.values():
        assert {p for _, p in cluster.clients} == {"broker"}
        assert cluster.principal_ops("load") & LOAD_WRITES == set()
        kept = cluster.principal_ops("load")
        assert ("ResourceType.BROKER", acls.CLUSTER, "AclOperation.IDEMPOTENT_WRITE") in kept
        assert ("ResourceType.TOPIC", "drill-", "AclOperation.READ") in kept
        assert cluster.principal_ops("mirrormaker")  # other principals untouched
        cluster.on_change = lambda what: seen.append((what, on_disk()))
    [effect] = effects
    assert effect.confirmed_ns >= effect.requested_ns
    assert "gone" in effect.confirmed_by and "load" in effect.confirmed_by

    restored = faults.restore_acl(inventory.load(), "load")
    assert "listed" in restored.confirmed_by
    # the record was gone from inventory.json before the first ACL came back
    assert seen and all(what == "create" and disk == [] for what, disk in seen)
    for cluster in clusters.values():
        assert cluster.principal_ops("load") >= LOAD_WRITES
    assert on_disk() == []


def test_the_revoke_is_on_disk_when_the_cluster_changes(
        secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, clusters = secured
    disk: list[list[tuple[str, str]]] = []
    faults.restore_acl(inv, "load")  # nothing recorded: a sync that changes nothing
    assert all(c.calls == ["describe", "describe"] for c in clusters.values())
    for cluster in clusters.values():
        cluster.on_change = lambda what: disk.append(on_disk())
    faults.revoke_acl(inventory.load(), "load", owner_pid=0)
    assert disk and all(d == [("revoke_acl", "load")] for d in disk)


def test_heal_all_restores_the_acls(secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, clusters = secured
    faults.revoke_acl(inv, "load", owner_pid=OWNER)
    healed = faults.heal_all()
    assert [(f.kind, f.target) for f in healed] == [("revoke_acl", "load")]
    assert on_disk() == []
    assert all(c.principal_ops("load") >= LOAD_WRITES for c in clusters.values())


def test_a_restore_that_fails_keeps_the_revoke_recorded_for_the_next_heal(
        secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, clusters = secured
    faults.revoke_acl(inv, "load", owner_pid=0)
    for c in clusters.values():
        c.fail_create = True
    with pytest.raises(LabError, match=r"changing ACLs at .* failed"):
        faults.heal_all()
    assert on_disk() == [("revoke_acl", "load")]  # `riftdrill heal` can try again
    for c in clusters.values():
        c.fail_create = False
    assert [f.kind for f in faults.heal_all()] == ["revoke_acl"]
    assert on_disk() == [] and all(c.principal_ops("load") >= LOAD_WRITES
                                   for c in clusters.values())


def test_heal_of_one_owner_keeps_anothers_revoke_in_force(
        secured: tuple[Inventory, dict[str, FakeCluster]]) -> None:
    inv, clusters = secured
    faults.revoke_acl(inv, "load", owner_pid=OWNER)
    faults.revoke_acl(inventory.load(), "load", owner_pid=0)  # by hand, meanwhile
    assert [f.by_pid for f in faults.heal_all(owner_pid=OWNER)] == [OWNER]
    assert on_disk() == [("revoke_acl", "load")]
    assert all(c.principal_ops("load") & LOAD_WRITES == set() for c in clusters.values())


@pytest.mark.parametrize(("role", "message"), [
    ("verifier", "role verifier has no write ACL to revoke"),
    ("broker", "role broker is the super user"),
    ("nobody", "unknown role 'nobody'; roles are: broker, load, verifier, mirrormaker, connect"),
])
def test_a_role_that_cannot_be_revoked_is_refused_before_anything_is_recorded(
        secured: tuple[Inventory, dict[str, FakeCluster]], role: str, message: str) -> None:
    inv, clusters = secured
    with pytest.raises(FaultError, match=message):
        faults.revoke_acl(inv, role, owner_pid=0)
    assert on_disk() == [] and clusters == {}


def test_security_off_is_refused_in_one_line_and_records_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    inventory.save(lab())  # security off
    clusters = fake_clusters(monkeypatch)
    run_dir = tmp_path / "run"
    with pytest.raises(FaultError) as err:
        actions.revoke_acl("load", configuration(run_dir))
    assert "\n" not in str(err.value)
    assert "security off" in str(err.value) and "SECURITY=sasl-tls" in str(err.value)
    assert on_disk() == [] and clusters == {} and windows.fault_windows(run_dir) == []

    from typer.testing import CliRunner

    from tests.unit.test_cli import APP

    result = CliRunner().invoke(APP, ["fault", "revoke-acl", "load"],
                                env={"RIFTDRILL_HOME": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "SECURITY=sasl-tls" in lines[0], result.output
    assert on_disk() == []


def test_the_actions_stamp_the_window_with_the_acls_seen_gone_and_back(
        secured: tuple[Inventory, dict[str, FakeCluster]], tmp_path: Path) -> None:
    conf = configuration(tmp_path / "run")
    assert actions.revoke_acl("load", conf)["revoked"] == "load"
    assert [(f.kind, f.target, f.by_pid) for f in inventory.load().faults] == [
        ("revoke_acl", "load", OWNER)]
    out = actions.restore_acl("load", conf)
    assert "listed" in out["how"]
    [w] = windows.fault_windows(tmp_path / "run")
    assert (w.kind, w.target) == ("revoke_acl", "load")
    assert w.end_ns is not None and w.end_ns >= w.start_ns
    assert w.confirmed_by is not None and "gone" in w.confirmed_by


def test_the_drill_is_refused_on_a_lab_without_security(tmp_path: Path) -> None:
    from riftdrill.chaos.runner import check_drill_fits

    exp = json.loads((ROOT / "experiments" / "acl-revoke.json").read_text())
    assert "security" in exp["tags"]
    with pytest.raises(ValidationError, match="SECURITY=sasl-tls"):
        check_drill_fits("acl-revoke", exp, {}, lab())
    check_drill_fits("acl-revoke", exp, {}, secure(lab(), tmp_path / "secrets"))


def test_the_experiment_revokes_holds_restores_and_its_rollback_heals() -> None:
    """The base's rollback heal_all restores the ACLs (faults.heal_all syncs them), on every
    end of the run; the control heals what the run owns the same way."""
    exp = json.loads((ROOT / "experiments" / "acl-revoke.json").read_text())
    funcs = [s["provider"]["func"] for s in exp["method"]]
    i = funcs.index("revoke_acl")
    assert funcs[i:i + 4] == ["revoke_acl", "hold", "p99_ack_latency_ms", "restore_acl"]
    assert [s["provider"]["func"] for s in exp["rollbacks"]] == ["heal_all", "stop_load"]
    assert exp["configuration"]["role"]["default"] == "load"


_REFUSED = r'''
import sys, types
from pathlib import Path
from confluent_kafka import KafkaError
from riftdrill.load.users import KafkaProducerUser
from riftdrill.load.ledger import LedgerWriter
from riftdrill.load.record import HEADER, MAGIC

class Msg:
    def __init__(self, seq, partition, offset):
        self.seq, self._p, self._o = seq, partition, offset
    def value(self):
        return HEADER.pack(MAGIC, 1, self.seq, 123, 0) + b"x" * 8
    def key(self):
        return b"k-3"
    def partition(self):
        return self._p
    def offset(self):
        return self._o

class Sink:
    def fire(self, **_):
        pass

acked = []
user = types.SimpleNamespace(topic="t", sending=True, fatal=None, report_each=False)
user.ledger = LedgerWriter(Path(sys.argv[1]), 1, "aws", ["t"])
user.ctx = types.SimpleNamespace(metrics=types.SimpleNamespace(
    failed=lambda: None, acked=lambda us: acked.append(us)))
user.environment = types.SimpleNamespace(events=types.SimpleNamespace(request=Sink()))
user._record_error = lambda *a: KafkaProducerUser._record_error(user, *a)
refused = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
KafkaProducerUser._on_delivery(user, None, Msg(0, 2, 10))      # before the revoke: acked
KafkaProducerUser._on_delivery(user, refused, Msg(1, 2, -1))   # during it: refused
KafkaProducerUser._on_delivery(user, None, Msg(2, 2, 11))      # after the restore: acked
user.ledger.close()
assert user.fatal is None, user.fatal  # a refusal does not make the client unusable
assert len(acked) == 2
'''


def test_a_refused_send_lands_in_the_ledger_as_rejected_never_as_acked(tmp_path: Path) -> None:
    """What the load's producer does with librdkafka's delivery report of a send the authorizer
    refused (a permanent error: librdkafka does not retry it): a DeliveryError with its name,
    counted failed, never acked. A subprocess: locust patches the interpreter it is imported
    in."""
    import subprocess
    import sys

    from riftdrill.load.ledger import Ack, DeliveryError, read_producer_ledger
    from riftdrill.load.outcomes import send_outcomes

    path = tmp_path / "load" / "ledgers" / "aws-p1.rdl"
    path.parent.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", _REFUSED, str(path)], check=True, timeout=60)
    entries = read_producer_ledger(path).entries
    assert [type(e) for e in entries] == [Ack, DeliveryError, Ack]
    refused = entries[1]
    assert isinstance(refused, DeliveryError)
    assert (refused.seq, refused.partition, refused.error_name) == (
        1, 2, "TOPIC_AUTHORIZATION_FAILED")
    outcomes = send_outcomes(tmp_path)
    assert (outcomes.acked, outcomes.failed) == (2, 1)
    assert outcomes.errors_by_code == {"TOPIC_AUTHORIZATION_FAILED": 1}


def test_a_revoke_counts_from_the_deleteacls_request_not_from_its_listing(
        secured: tuple[Inventory, dict[str, FakeCluster]], monkeypatch: pytest.MonkeyPatch) -> None:
    # A broker refuses the writes once it applies the deletion, which may be before DescribeAcls
    # lists it: a refusal must never come before the window (the baseline would call the cluster
    # unhealthy), so the window starts at the request.
    inv, _ = secured
    monkeypatch.setattr(acls, "apply_acls", lambda bootstrap, admin, present, absent: acls.AclSync(
        bootstrap, 0, len(absent), confirmed_ns=2_000_000_000, changed_ns=1_000_000_000))
    effects: list[Any] = []
    faults.revoke_acl(inv, "load", owner_pid=OWNER, on_effect=effects.append)
    [effect] = effects
    assert effect.confirmed_ns == 1_000_000_000
    assert "deleteacls sent" in effect.confirmed_by and "gone 1000 ms later" in effect.confirmed_by
    restored = faults.restore_acl(inventory.load(), "load")
    assert restored.confirmed_ns == 2_000_000_000  # a restore is in effect once listed
