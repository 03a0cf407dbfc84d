"""Credential rotation: refused in one line for what cannot rotate, recorded before the cluster
changes, the files swapped only once the new password is proven, a crash completed by heal,
and a long-running client told once.

The clusters are faked at their API (`rotation.upsert`, `rotation.prove`: what a lab test runs
for real, tests/lab/test_security_lab.py); the secrets directory, the inventory file and the
fault primitives are real.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from riftdrill import faults, inventory
from riftdrill.chaos import actions, windows
from riftdrill.drivers.base import Effect
from riftdrill.errors import FaultError, SetupError
from riftdrill.inventory import Inventory
from riftdrill.security import acls, credentials, rotation
from riftdrill.security.client import ClientSecurity, Follower
from tests.unit.acl_fakes import secure
from tests.unit.test_fault_actions import OWNER, configuration, lab, on_disk

ROOT = Path(__file__).resolve().parents[2]
OLD = "old-not-a-secret"


class FakeClusters:
    """What each cluster holds as the load principal's password; `fail` makes upsert refuse."""

    def __init__(self, inv: Inventory) -> None:
        self.password = {b: OLD for b in acls.cluster_bootstraps(inv)}
        self.fail = False
        self.seen_on_disk: list[list[tuple[str, str]]] = []

    def upsert(self, inv: Inventory, principal: str, password: str,
               timeout_s: float = 30) -> rotation.Rotation:
        self.seen_on_disk.append(on_disk())
        if self.fail:
            raise SetupError("cluster refused (fake)")
        for b in self.password:
            self.password[b] = password
        return rotation.Rotation(principal, len(self.password), 1, 2)

    def prove(self, inv: Inventory, sec: ClientSecurity, old: str, timeout_s: float = 30) -> str:
        assert all(p == sec.password for p in self.password.values())
        assert old != sec.password
        return "proven (fake)"


@pytest.fixture()
def secured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Inventory, FakeClusters]]:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    inv = secure(lab(), tmp_path / ".riftdrill" / "secrets")
    s = credentials.Secrets(Path(inv.security.secrets_dir))
    credentials.write_secret(s.password_file("load"), OLD.encode())
    data = json.loads(s.client_file("load").read_text())
    credentials.write_secret(s.client_file("load"), json.dumps({**data, "password": OLD}).encode())
    inventory.save(inv)
    fake = FakeClusters(inv)
    monkeypatch.setattr(rotation, "upsert", fake.upsert)
    monkeypatch.setattr(rotation, "prove", fake.prove)
    monkeypatch.setattr(faults, "driver_for", lambda inv: object())  # no driver is used
    yield inv, fake


def _secrets(inv: Inventory) -> credentials.Secrets:
    return credentials.Secrets(Path(inv.security.secrets_dir))


def test_a_rotation_is_recorded_first_and_swaps_every_file_of_the_principal(
        secured: tuple[Inventory, FakeClusters]) -> None:
    inv, fake = secured
    s = _secrets(inv)
    java = ClientSecurity.read(s.client_file("load")).java_config_file()
    effects: list[Effect] = []
    fault = faults.rotate_scram(inv, "load", owner_pid=OWNER, on_effect=effects.append)
    assert (fault.kind, fault.target) == ("rotate_scram", "load")
    assert fake.seen_on_disk == [[("rotate_scram", "load")]]  # recorded before the change
    new = s.password("load")
    assert new != OLD and set(fake.password.values()) == {new}
    assert json.loads(s.client_file("load").read_text())["password"] == new
    assert new in java.read_text() and OLD not in java.read_text()
    for f in (s.password_file("load"), s.client_file("load"), java):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert rotation.pending_principals(s) == []
    [effect] = effects
    assert effect.confirmed_by == "proven (fake)"
    # still recorded until it is finished; finishing forgets it and changes nothing
    assert on_disk() == [("rotate_scram", "load")]
    done = faults.finish_rotation(inventory.load(), "load")
    assert "holds the cluster's password" in done.confirmed_by
    assert on_disk() == [] and s.password("load") == new


def test_a_crash_before_the_swap_leaves_the_old_files_and_heal_completes_it(
        secured: tuple[Inventory, FakeClusters]) -> None:
    inv, fake = secured
    s = _secrets(inv)
    fake.fail = True
    with pytest.raises(SetupError):
        faults.rotate_scram(inv, "load", owner_pid=OWNER)
    # the clients still hold what the cluster holds; the pending password waits for a heal
    assert s.password("load") == OLD
    assert ClientSecurity.read(s.client_file("load")).password == OLD
    assert rotation.pending_principals(s) == ["load"]
    pending = rotation.pending_file(s, "load").read_text()
    assert on_disk() == [("rotate_scram", "load")]
    fake.fail = False
    healed = faults.heal_all()
    assert [f.kind for f in healed] == ["rotate_scram"]
    assert s.password("load") == pending and set(fake.password.values()) == {pending}
    assert rotation.pending_principals(s) == [] and on_disk() == []


def test_a_heal_that_fails_keeps_the_rotation_recorded(
        secured: tuple[Inventory, FakeClusters]) -> None:
    inv, fake = secured
    fake.fail = True
    with pytest.raises(SetupError):
        faults.rotate_scram(inv, "load", owner_pid=OWNER)
    with pytest.raises(SetupError):
        faults.heal_all()
    assert on_disk() == [("rotate_scram", "load")]
    assert rotation.pending_principals(_secrets(inv)) == ["load"]


def test_begin_keeps_a_pending_password_a_crashed_rotation_may_have_given_out(tmp_path: Path) -> None:
    s = credentials.Secrets(tmp_path / "secrets")
    first = rotation.begin(s, "load")
    assert rotation.begin(s, "load") == first
    assert stat.S_IMODE(rotation.pending_file(s, "load").stat().st_mode) == 0o600


@pytest.mark.parametrize("role", ["broker", "mirrormaker", "connect", "verifier"])
def test_a_principal_whose_login_is_read_at_start_is_refused(
        secured: tuple[Inventory, FakeClusters], role: str) -> None:
    inv, fake = secured
    with pytest.raises(FaultError, match=f"role {role}'s login .* rotate load"):
        faults.rotate_scram(inv, role, owner_pid=OWNER)
    assert on_disk() == [] and set(fake.password.values()) == {OLD}


def test_unknown_role_off_and_tansu_are_refused_in_one_line(
        secured: tuple[Inventory, FakeClusters]) -> None:
    inv, _ = secured
    with pytest.raises(FaultError, match="unknown role 'nobody'; roles are: "):
        rotation.rotatable(inv, "nobody")
    with pytest.raises(FaultError, match="deploy with SECURITY=sasl-tls"):
        rotation.rotatable(lab(), "load")
    with pytest.raises(FaultError, match="tansu does not serve"):
        rotation.rotatable(inv.model_copy(update={"engine": "tansu"}), "load")
    assert on_disk() == []


def test_the_actions_stamp_the_window_from_proof_to_finish(
        secured: tuple[Inventory, FakeClusters], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    conf = configuration(run_dir)
    actions.rotate_scram("load", configuration=conf)
    out = actions.finish_rotation("load", configuration=conf)
    assert "holds the cluster's password" in out["how"]
    [w] = windows.fault_windows(run_dir)
    assert (w.kind, w.target) == ("rotate_scram", "load")
    assert w.end_ns is not None and w.end_ns >= w.start_ns
    assert w.confirmed_by == "proven (fake)"


def test_a_follower_sees_a_swapped_password_once(tmp_path: Path) -> None:
    s = credentials.Secrets(tmp_path / "secrets")
    path = s.client_file("load")
    credentials.write_secret(path, json.dumps({"principal": "load", "password": OLD}).encode())
    follower = Follower(ClientSecurity.read(path))
    assert follower.changed() is None  # the file names the password it started with
    assert follower.changed() is None
    rotation.swap(s, "load", "new-not-a-secret")
    got = follower.changed()
    assert got is not None and got.password == "new-not-a-secret"
    assert follower.changed() is None
    assert Follower(ClientSecurity()).changed() is None  # security off: nothing to follow


def test_the_runners_fences_use_the_password_the_client_file_has_now(tmp_path: Path) -> None:
    # The runner reads the load principal's settings at its start; a rotation during the run
    # swaps the password, and fences written with the old one were refused (the consumers then
    # read on for their whole fence wait).
    s = credentials.Secrets(tmp_path / "secrets")
    path = s.client_file("load")
    credentials.write_secret(path, json.dumps({"principal": "load", "password": OLD}).encode())
    started = ClientSecurity.read(path)
    rotation.swap(s, "load", "new-not-a-secret")
    assert started.reread().password == "new-not-a-secret"
    path.unlink()
    assert started.reread() is started  # unreadable now: what the run started with
    assert ClientSecurity().reread() == ClientSecurity()  # security off


def test_the_brokers_make_sessions_log_in_again_as_often_as_rotation_says() -> None:
    for engine in ("kafka", "automq"):
        text = (ROOT / "infra" / "templates" / engine / "server.properties.tftpl").read_text()
        assert (f"listener.name.sasl_ssl.scram-sha-512.connections.max.reauth.ms="
                f"{rotation.REAUTH_MS}\n") in text


def test_the_experiment_holds_longer_than_a_session_lives() -> None:
    exp = json.loads((ROOT / "experiments" / "scram-rotate.json").read_text())
    assert float(exp["configuration"]["hold_s"]["default"]) > rotation.REAUTH_MS / 1000
    funcs = [a["provider"]["func"] for a in exp["method"] if a.get("type") == "action"]
    rotate = funcs.index("rotate_scram")
    assert funcs[rotate:rotate + 3] == ["rotate_scram", "hold", "finish_rotation"]
    assert "security" in exp["tags"]
