"""Every Chaos Toolkit action over a fake driver: one read and one locked write of inventory.json
per fault action, record-before-apply, fault windows and owners from the run context.

The driver is faked (it is not the subject: the lab tests drive the real one); the inventory is
a real file under a temporary RIFTDRILL_HOME, and every read and write of it is counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from riftdrill import faults, inventory, paths
from riftdrill.chaos import actions, windows
from riftdrill.drivers.base import BrokerState, Effect
from riftdrill.errors import FaultError, RiftdrillError
from riftdrill.inventory import (
    Broker,
    Cloud,
    Cluster,
    ConnectWorker,
    Database,
    Hub,
    Inventory,
    Link,
    MirrorMaker,
    ObjectStore,
)
from riftdrill.security import acls

OWNER = 4242


def lab() -> Inventory:
    def broker(i: int, name: str, cloud: str) -> Broker:
        return Broker(id=i, name=name, cloud=cloud, cluster="main", address=f"198.18.{i % 100}.11",
                      port=9092, roles=["broker"], handle=f"broker-{name}")

    return Inventory(
        target="local", engine="kafka", engine_version="4.4.0", topology="stretched",
        replication_factor=3, min_insync_replicas=2,
        clouds=[Cloud(name="aws", provider="lab", cidr="198.18.1.0/24", namespace="rd-aws"),
                Cloud(name="gcp", provider="lab", cidr="198.18.2.0/24", namespace="rd-gcp")],
        clusters=[Cluster(name="main", clouds=["aws", "gcp"], brokers=[101, 102, 201],
                          bootstrap={"aws": "198.18.1.11:9092", "gcp": "198.18.2.11:9092"}),
                  # what MirrorMaker 2 copies to (cluster_of still answers "main" for gcp)
                  Cluster(name="backup", clouds=["gcp"], brokers=[],
                          bootstrap={"gcp": "198.18.2.21:9092"})],
        mirrors=[MirrorMaker(name="main-to-backup", cloud="gcp", source="main", target="backup",
                             topics=".*", handle="mirror-main-to-backup")],
        brokers=[broker(101, "aws-1", "aws"), broker(102, "aws-2", "aws"),
                 broker(201, "gcp-1", "gcp")],
        stores=[ObjectStore(name="aws-s3", cloud="aws", api="s3", endpoint="http://198.18.1.5:9000",
                            address="198.18.1.5", port=9000, buckets=["b"])],
        links=[Link(name="aws-gcp", a="aws", b="gcp", emulated=True)],  # the default WAN
        hub=Hub(group="g", source_connector="s", sink_connector="k", topic_prefix="hub",
                databases=[Database(name="pg-aws", cloud="aws", role="source",
                                    address="198.18.1.21", port=5432, handle="database-pg-aws"),
                           Database(name="pg-gcp", cloud="gcp", role="sink",
                                    address="198.18.2.21", port=5432, handle="database-pg-gcp")],
                workers=[ConnectWorker(name="connect-aws", cloud="aws", address="198.18.1.31",
                                       rest_port=8083, handle="connect-connect-aws")]),
    )


def on_disk() -> list[tuple[str, str]]:
    """(kind, target) of the faults inventory.json records now (read past the counters)."""
    with open(paths.inventory_path()) as f:
        return [(x["kind"], x["target"]) for x in json.load(f)["faults"]]


@dataclass
class FakeDriver:
    """Brokers are states in a dict; a network fault is what the last sync saw recorded. Each
    call checks the order against the file: injected faults are on disk before they are applied,
    network heals are off disk before the target is synced."""

    states: dict[str, BrokerState] = field(default_factory=dict)
    severed: dict[str, list[str]] = field(default_factory=dict)
    blocked: dict[str, bool] = field(default_factory=dict)
    weather: dict[str, Any] = field(default_factory=dict)
    store_weather: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_start: set[str] = field(default_factory=set)

    def broker_state(self, inv: Inventory, broker: Broker) -> BrokerState:
        return self.states.get(broker.name, "running")

    def kill_broker(self, inv: Inventory, broker: Broker) -> Effect:
        assert ("kill_broker", broker.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"kill {broker.name}")
        self.states[broker.name] = "dead"
        return self._effect("pid gone")

    def pause_broker(self, inv: Inventory, broker: Broker) -> Effect:
        assert ("pause_broker", broker.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"pause {broker.name}")
        self.states[broker.name] = "paused"
        return self._effect("state stopped")

    def resume_broker(self, inv: Inventory, broker: Broker) -> Effect:
        self.calls.append(f"resume {broker.name}")
        self.states[broker.name] = "running"
        return self._effect("state running")

    def start_broker(self, inv: Inventory, broker: Broker) -> Effect:
        if broker.name in self.fail_start:
            raise FaultError(f"broker {broker.name} did not start")
        self.calls.append(f"start {broker.name}")
        self.states[broker.name] = "running"
        return self._effect("broker listening")

    def kill_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        assert ("stop_mirror", mirror.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"kill_mirror {mirror.name}")
        self.states[mirror.name] = "dead"
        return self._effect("pid gone")

    def start_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        self.calls.append(f"start_mirror {mirror.name}")
        self.states[mirror.name] = "running"
        return self._effect("process started")

    def kill_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        assert ("stop_worker", worker.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"kill_worker {worker.name}")
        self.states[worker.name] = "dead"
        return self._effect("pid gone")

    def start_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        self.calls.append(f"start_worker {worker.name}")
        self.states[worker.name] = "running"
        return self._effect("process started")

    def pause_connector(self, inv: Inventory, connector: str) -> Effect:
        assert ("pause_connector", connector) in on_disk(), "applied before it was recorded"
        self.calls.append(f"pause_connector {connector}")
        self.states[connector] = "paused"
        return self._effect("status PAUSED")

    def resume_connector(self, inv: Inventory, connector: str) -> Effect:
        self.calls.append(f"resume_connector {connector}")
        self.states[connector] = "running"
        return self._effect("status RUNNING")

    def kill_database(self, inv: Inventory, database: Database) -> Effect:
        assert ("stop_database", database.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"kill_database {database.name}")
        self.states[database.name] = "dead"
        return self._effect("pid gone")

    def start_database(self, inv: Inventory, database: Database) -> Effect:
        self.calls.append(f"start_database {database.name}")
        self.states[database.name] = "running"
        return self._effect("accepts connections")

    def pause_database(self, inv: Inventory, database: Database) -> Effect:
        assert ("pause_database", database.name) in on_disk(), "applied before it was recorded"
        self.calls.append(f"pause_database {database.name}")
        self.states[database.name] = "paused"
        return self._effect("state stopped")

    def resume_database(self, inv: Inventory, database: Database) -> Effect:
        self.calls.append(f"resume_database {database.name}")
        self.states[database.name] = "running"
        return self._effect("state running")

    def sync_link(self, inv: Inventory, link: str) -> Effect:
        recorded = [f.direction for f in inv.faults_on("sever_link", link)]
        assert recorded == [d for k, d in self._disk_directions(link) if k == "sever_link"]
        self.calls.append(f"sync_link {link} {recorded}")
        self.severed[link] = list(recorded)
        return self._effect("nft rule listed" if recorded else "nft rules gone")

    def sync_weather(self, inv: Inventory, link: str) -> Effect:
        recorded = [f.weather for f in inv.faults_on("degrade_link", link)]
        assert len(recorded) == sum(k == "degrade_link" for k, _ in self._disk_directions(link))
        self.calls.append(f"sync_weather {link} {len(recorded)}")
        self.weather[link] = recorded[-1] if recorded else None
        return self._effect("emulator profile reported")

    def sync_store_weather(self, inv: Inventory, store: str) -> Effect:
        recorded = [f.weather for f in inv.faults_on("brownout_store", store)]
        self.calls.append(f"sync_store_weather {store} {len(recorded)}")
        self.store_weather[store] = recorded[-1] if recorded else None
        return self._effect("proxy profile reported")

    def sync_store(self, inv: Inventory, store: str) -> Effect:
        blocked = bool(inv.faults_on("block_object_store", store))
        assert blocked == (("block_object_store", store) in on_disk())
        self.calls.append(f"sync_store {store} {blocked}")
        self.blocked[store] = blocked
        return self._effect("store unreachable" if blocked else "store reachable")

    # Effects on a clock of its own: asked for at n, seen in effect at n + 1 (seconds).
    clock_s: int = 1000

    def _effect(self, confirmed_by: str) -> Effect:
        self.clock_s += 2
        return Effect(self.clock_s * 10**9, (self.clock_s + 1) * 10**9, confirmed_by)

    @staticmethod
    def _disk_directions(link: str) -> list[tuple[str, str]]:
        with open(paths.inventory_path()) as f:
            return [(x["kind"], x["direction"]) for x in json.load(f)["faults"]
                    if x["target"] == link]


@dataclass
class Counts:
    loads: int = 0  # inventory.load outside a lock: plain reads
    locked: int = 0  # inventory.locked: read-modify-writes under flock
    unlocked_saves: int = 0  # writes outside a lock: must never happen
    file_reads: int = 0  # reads of inventory.json's bytes, however they come


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Counts, FakeDriver]]:
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path))
    inventory.save(lab())
    inv_path = paths.inventory_path()
    counts = Counts()
    depth = [0]
    real_load, real_save, real_locked = inventory.load, inventory.save, inventory.locked
    real_read_text = Path.read_text

    def load(path: Path | None = None) -> Inventory:
        if depth[0] == 0:
            counts.loads += 1
        return real_load(path)

    def save(inv: Inventory, path: Path | None = None) -> None:
        if depth[0] == 0:
            counts.unlocked_saves += 1
        real_save(inv, path)

    @contextlib.contextmanager
    def locked(path: Path | None = None) -> Iterator[Inventory]:
        counts.locked += 1
        depth[0] += 1
        try:
            with real_locked(path) as inv:
                yield inv
        finally:
            depth[0] -= 1

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == inv_path:
            counts.file_reads += 1
        return real_read_text(self, *args, **kwargs)

    # `locked` calls the module's `load`/`save`, so patching the module counts those too.
    monkeypatch.setattr(inventory, "load", load)
    monkeypatch.setattr(inventory, "save", save)
    monkeypatch.setattr(inventory, "locked", locked)
    monkeypatch.setattr(Path, "read_text", read_text)
    driver = FakeDriver()
    monkeypatch.setattr(faults, "driver_for", lambda inv: driver)
    yield counts, driver


def configuration(run_dir: Path) -> dict[str, Any]:
    return {"run_dir": str(run_dir), "owner_pid": OWNER, "other": "kept"}


def test_every_action_reads_once_and_writes_once_under_the_lock(
        counted: tuple[Counts, FakeDriver], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts, driver = counted
    run_dir = tmp_path / "results" / "runs" / "r1"
    conf = configuration(run_dir)

    import riftdrill.load.runner as load_runner

    started: list[Path] = []
    monkeypatch.setattr(load_runner, "start_load", lambda spec, rd, inv_path: started.append(rd) or 7)
    monkeypatch.setattr(load_runner, "stop_load", lambda rd: None)
    from riftdrill.load import failover, mirrortail

    (run_dir / "load").mkdir(parents=True)
    (run_dir / "load" / "spec.json").write_text(json.dumps({"rate_per_s": 1, "duration_s": 1}))

    def long_load() -> None:  # the soak refuses a load that ends before it
        (run_dir / "load" / "spec.json").write_text(json.dumps({"rate_per_s": 1,
                                                                "duration_s": 100}))
    cp = mirrortail.Checkpoint("riftdrill-r1", "main.riftdrill", 0, 10, 9, 1)
    monkeypatch.setattr(mirrortail, "read_checkpoints", lambda *a, **kw: {0: cp})
    moved: list[Any] = []

    def start(load_dir: Path, o: Any, ns: Any, source: str) -> Any:
        moved.append((o.source_group, o.group, o.topic, o.cluster, ns, source))
        return failover.FailoverState(pid=1, create_time=0.0, source_cloud=source,
                                      target_cloud=o.cloud, source_group=o.source_group,
                                      group=o.group, topic=o.topic, ledger="l", started_ns=1)

    monkeypatch.setattr(failover, "start", start)
    monkeypatch.setattr(failover, "stop", lambda load_dir: None)
    from riftdrill.load.consumer_ledger import ConsumerLedgerWriter

    with ConsumerLedgerWriter(run_dir / "load" / "mirror" / "main-to-backup-tail.rdc", group="",
                              client_id="tail", cloud="gcp", topics=["main.riftdrill"],
                              run_start_ns=0, bootstrap="b") as tail:
        tail.poll(0, 0, 0, 1, 7, 0, 1, 1, 2, 0)  # one record crossed
    monkeypatch.setattr(actions, "BASELINE_AFTER_S", 0.0)
    from tests.unit.acl_fakes import fake_clusters, secure

    def secure_on_disk() -> None:
        inv = Inventory.model_validate_json(paths.inventory_path().read_bytes())
        inv = secure(inv, tmp_path / "secrets")
        paths.inventory_path().write_text(inv.model_dump_json())
        acl_clusters.update(fake_clusters(monkeypatch, [
            a for rules in acls.inventory_plan(inv).values() for a in rules]))

    acl_clusters: dict[str, Any] = {}

    def rotatable_on_disk() -> None:
        from riftdrill.security import credentials, rotation

        credentials.write_secret(credentials.Secrets(tmp_path / "secrets").password_file("load"),
                                 b"old-not-a-secret")
        monkeypatch.setattr(rotation, "upsert", lambda inv, principal, password:
                            rotation.Rotation(principal, 1, 1, 2))
        monkeypatch.setattr(rotation, "prove", lambda inv, sec, old: "proven (fake)")

    # (action, call, plain reads allowed, locked writes expected, faults on disk afterwards)
    Step = tuple[str, Callable[[], dict[str, Any]], int, int, list[tuple[str, str]]]
    drill: list[Step] = [
        ("start_load", lambda: actions.start_load(rate=1, duration_s=1, configuration=conf), 0, 0, []),
        ("hold", lambda: actions.hold(0), 0, 0, []),
        ("kill_broker", lambda: actions.kill_broker("aws-1", conf), 1, 1,
         [("kill_broker", "aws-1")]),
        ("restart_broker", lambda: actions.restart_broker("101", conf), 1, 1, []),
        ("pause_broker", lambda: actions.pause_broker("gcp-1", conf), 1, 1,
         [("pause_broker", "gcp-1")]),
        ("resume_broker", lambda: actions.resume_broker("gcp-1", conf), 1, 1, []),
        ("kill_cloud", lambda: actions.kill_cloud("aws", conf), 1, 1,
         [("kill_broker", "aws-1"), ("kill_broker", "aws-2")]),
        ("restart_cloud", lambda: actions.restart_cloud("aws", conf), 1, 1, []),
        ("pause_broker", lambda: actions.pause_broker("aws-2", conf), 1, 1,
         [("pause_broker", "aws-2")]),
        ("restart_faulted_brokers", lambda: actions.restart_faulted_brokers(conf), 1, 1, []),
        ("sever_link", lambda: actions.sever_link("a-to-b", None, conf), 1, 1,
         [("sever_link", "aws-gcp")]),
        ("heal_link", lambda: actions.heal_link("aws-gcp", conf), 1, 1, []),
        ("degrade_link", lambda: actions.degrade_link(300, 50, 2, 10, "both", None, conf), 1, 1,
         [("degrade_link", "aws-gcp")]),
        ("restore_link", lambda: actions.restore_link("aws-gcp", conf), 1, 1, []),
        # flap_link is `cycles` severs and heals: one locked write each, one read in all
        ("flap_link", lambda: actions.flap_link(2, 0, 0, "both", None, conf), 1, 4, []),
        ("block_object_store", lambda: actions.block_object_store("aws", conf), 1, 1,
         [("block_object_store", "aws-s3")]),
        ("unblock_object_store", lambda: actions.unblock_object_store("aws-s3", conf), 1, 1, []),
        ("brownout_object_store", lambda: actions.brownout_object_store(
            "aws", 500, 200, 20, 503, 0, 1, conf), 1, 1, [("brownout_store", "aws-s3")]),
        ("clear_object_store_weather",
         lambda: actions.clear_object_store_weather("aws-s3", conf), 1, 1, []),
        ("kill_broker", lambda: actions.kill_broker("gcp-1", conf), 1, 1,
         [("kill_broker", "gcp-1")]),
        ("sever_link", lambda: actions.sever_link("both", "aws-gcp", conf), 1, 1,
         [("kill_broker", "gcp-1"), ("sever_link", "aws-gcp")]),
        ("block_object_store", lambda: actions.block_object_store("aws-s3", conf), 1, 1,
         [("kill_broker", "gcp-1"), ("sever_link", "aws-gcp"), ("block_object_store", "aws-s3")]),
        ("kill_mirror", lambda: actions.kill_mirror("", conf), 1, 1,
         [("kill_broker", "gcp-1"), ("sever_link", "aws-gcp"), ("block_object_store", "aws-s3"),
          ("stop_mirror", "main-to-backup")]),
        ("heal_all", lambda: actions.heal_all(conf), 1, 1, []),
        ("heal_all", lambda: actions.heal_all(conf), 1, 0, []),  # nothing recorded: no write
        ("kill_mirror", lambda: actions.kill_mirror("main-to-backup", conf), 1, 1,
         [("stop_mirror", "main-to-backup")]),
        ("restart_mirror", lambda: actions.restart_mirror("", conf), 1, 1, []),
        ("kill_worker", lambda: actions.kill_worker("aws", conf), 1, 1,
         [("stop_worker", "connect-aws")]),
        ("restart_worker", lambda: actions.restart_worker("", conf), 1, 1, []),
        ("kill_database", lambda: actions.kill_database("source", conf), 1, 1,
         [("stop_database", "pg-aws")]),
        ("restart_database", lambda: actions.restart_database("pg-aws", conf), 1, 1, []),
        ("pause_database", lambda: actions.pause_database("sink", conf), 1, 1,
         [("pause_database", "pg-gcp")]),
        ("resume_database", lambda: actions.resume_database("sink", conf), 1, 1, []),
        ("kill_database", lambda: actions.kill_database("source", conf), 1, 1,
         [("stop_database", "pg-aws")]),
        ("pause_database", lambda: actions.pause_database("sink", conf), 1, 1,
         [("stop_database", "pg-aws"), ("pause_database", "pg-gcp")]),
        ("pause_connector", lambda: actions.pause_connector("source", conf), 1, 1,
         [("stop_database", "pg-aws"), ("pause_database", "pg-gcp"), ("pause_connector", "s")]),
        ("heal_all", lambda: actions.heal_all(conf), 1, 1, []),
        ("pause_connector", lambda: actions.pause_connector("k", conf), 1, 1,
         [("pause_connector", "k")]),
        ("resume_connector", lambda: actions.resume_connector("sink", conf), 1, 1, []),
        # failover reads the inventory once and records no fault (it moves consumers)
        ("await_checkpoints", lambda: actions.await_checkpoints("aws", 0, configuration=conf),
         1, 0, []),
        ("await_replication", lambda: actions.await_replication(0, conf), 0, 0, []),
        ("await_mirror_copying", lambda: actions.await_mirror_copying(0, conf), 0, 0, []),
        ("fail_over_consumers", lambda: actions.fail_over_consumers("aws", conf), 1, 0, []),
        ("fail_back_consumers", lambda: actions.fail_back_consumers(conf), 0, 0, []),
        # producers are pointed by a file the load reads: no fault recorded
        ("fail_over_producers", lambda: actions.fail_over_producers("aws", conf), 1, 0, []),
        ("fail_back_producers", lambda: actions.fail_back_producers("aws", conf), 1, 0, []),
        # the ACL drill: on a secured lab (made so on disk here, past the counters), through
        # a fake Admin API (tests/unit/acl_fakes.py); no driver is involved
        ("revoke_acl", lambda: (secure_on_disk(), actions.revoke_acl("load", conf))[1], 1, 1,
         [("revoke_acl", "load")]),
        ("restore_acl", lambda: actions.restore_acl("load", conf), 1, 1, []),
        # credential rotation: the clusters faked at their API (tests/unit/test_credential_rotation.py)
        ("rotate_scram", lambda: (rotatable_on_disk(), actions.rotate_scram("load", conf))[1],
         1, 1, [("rotate_scram", "load")]),
        ("finish_rotation", lambda: actions.finish_rotation("load", conf), 1, 1, []),
        # the soak's nemesis: the inventory once for its schedule, then one fault's own
        # inject and heal (a second of hold, after a second's wait)
        # (owned by this process: a nemesis whose owner is gone stops, see below)
        ("nemesis", lambda: (long_load(), actions.nemesis(
            "link-degrade", 2, 1, 1, configuration={**conf, "owner_pid": os.getpid()}))[1],
         3, 2, []),
        ("stop_load", lambda: actions.stop_load(conf), 0, 0, []),
    ]
    assert {name for name, *_ in drill} == set(actions.__all__), "an action is not covered here"

    env_before = dict(os.environ)
    for name, call, reads, writes, after in drill:
        before = Counts(**vars(counts))
        call()
        loads, locked = counts.loads - before.loads, counts.locked - before.locked
        assert loads <= reads, f"{name}: {loads} reads of inventory.json"
        assert locked == writes, f"{name}: {locked} locked writes of inventory.json"
        assert counts.file_reads - before.file_reads == loads + locked, f"{name}: a hidden read"
        assert counts.unlocked_saves == 0, f"{name}: wrote inventory.json outside the lock"
        assert sorted(on_disk()) == sorted(after), name
    assert dict(os.environ) == env_before, "an action changed os.environ"
    assert moved == [("riftdrill-r1", "riftdrill-r1.failover", "main.riftdrill", "backup", "rd-gcp",
                      "aws")]
    from riftdrill.load.switch import read_switch, switch_events

    assert [(e["cloud"], e["cluster"]) for e in switch_events(run_dir / "load")] == [
        ("aws", "backup"), ("aws", "main")]
    assert read_switch(run_dir / "load", "aws") == ("198.18.1.11:9092", "main")
    assert "kill_mirror main-to-backup" in driver.calls
    assert driver.calls.count("start_mirror main-to-backup") == 2  # heal_all, restart_mirror
    assert started == [run_dir]

    assert all(f == "running" for f in driver.states.values())
    assert driver.severed == {"aws-gcp": []} and driver.blocked == {"aws-s3": False}
    wins = windows.fault_windows(run_dir)
    assert [(w.kind, w.target) for w in wins] == [
        ("kill_broker", "aws-1"), ("pause_broker", "gcp-1"),
        ("kill_broker", "aws-1"), ("kill_broker", "aws-2"), ("pause_broker", "aws-2"),
        ("sever_link", "aws-gcp"), ("degrade_link", "aws-gcp"), ("sever_link", "aws-gcp"),
        ("sever_link", "aws-gcp"), ("block_object_store", "aws-s3"), ("brownout_store", "aws-s3"),
        ("kill_broker", "gcp-1"), ("sever_link", "aws-gcp"), ("block_object_store", "aws-s3"),
        ("stop_mirror", "main-to-backup"), ("stop_mirror", "main-to-backup"),
        ("stop_worker", "connect-aws"), ("stop_database", "pg-aws"), ("pause_database", "pg-gcp"),
        ("stop_database", "pg-aws"), ("pause_database", "pg-gcp"),
        ("pause_connector", "s"), ("pause_connector", "k"),
        ("degrade_link", "aws-gcp"),  # the nemesis's one fault (windows sort by start)
        ("revoke_acl", "load"), ("rotate_scram", "load")]
    assert all(w.end_ns is not None and w.end_ns >= w.start_ns for w in wins)
    assert wins[5].direction == "a-to-b"


def test_faults_are_owned_by_the_run_contexts_owner(counted: tuple[Counts, FakeDriver],
                                                    tmp_path: Path) -> None:
    actions.kill_broker("aws-1", configuration(tmp_path / "run"))
    actions.sever_link("both")  # no run context: injected by nobody, no window written
    owners = {f.kind: f.by_pid for f in inventory.load().faults}
    assert owners == {"kill_broker": OWNER, "sever_link": 0}
    assert [w.kind for w in windows.fault_windows(tmp_path / "run")] == ["kill_broker"]


def test_start_load_without_a_run_context_refuses_in_one_line(
        counted: tuple[Counts, FakeDriver]) -> None:
    from riftdrill.errors import ValidationError

    with pytest.raises(ValidationError, match=r"riftdrill\.chaos\.control"):
        actions.start_load()
    assert actions.stop_load() == {"stopped": False, "reason": "no load was started"}


def test_start_load_refuses_a_trace_memory_that_is_not_a_boolean(tmp_path: Path) -> None:
    from riftdrill.context import RUN_DIR_KEY
    from riftdrill.errors import ValidationError

    run = tmp_path / "run"
    with pytest.raises(ValidationError, match=r"trace_memory 'maybe' is not true or false"):
        actions.start_load(trace_memory="maybe", configuration={RUN_DIR_KEY: str(run)})
    assert not run.exists()  # refused before anything was made


def test_directions_come_from_the_literal() -> None:
    assert actions.DIRECTIONS == ("both", "a-to-b", "b-to-a")
    from riftdrill.errors import ValidationError

    with pytest.raises(ValidationError, match="use both, a-to-b or b-to-a"):
        actions.sever_link("sideways")


def test_heal_all_heals_what_it_can_and_keeps_the_rest_recorded(
        counted: tuple[Counts, FakeDriver]) -> None:
    _, driver = counted
    inv = inventory.load()
    faults.kill_broker(inv.broker("aws-1"), owner_pid=0)
    faults.kill_broker(inv.broker("aws-2"), owner_pid=0)
    faults.sever_link(inv.link(), "both", owner_pid=0)
    driver.fail_start = {"aws-1"}
    with pytest.raises(FaultError, match="aws-1 did not start"):
        faults.heal_all()
    assert on_disk() == [("kill_broker", "aws-1")]
    assert driver.states == {"aws-1": "dead", "aws-2": "running"}
    assert driver.severed == {"aws-gcp": []}
    driver.fail_start = set()
    assert [(f.kind, f.target) for f in faults.heal_all()] == [("kill_broker", "aws-1")]
    assert on_disk() == []


def test_a_fault_that_cannot_be_healed_is_kept_and_named(
        counted: tuple[Counts, FakeDriver]) -> None:
    """A stopped mirror the inventory no longer names: the rest is healed, it stays recorded."""
    from riftdrill.inventory import Fault

    with inventory.locked() as inv:
        inv.faults.append(Fault(id="m", kind="stop_mirror", target="mm"))
        inv.faults.append(Fault(id="s", kind="sever_link", target="aws-gcp"))
    with pytest.raises(RiftdrillError, match="no MirrorMaker 2 'mm'"):
        faults.heal_all()
    assert on_disk() == [("stop_mirror", "mm")]


def test_a_killed_connect_worker_is_recorded_first_and_healed(
        counted: tuple[Counts, FakeDriver]) -> None:
    _, driver = counted
    worker = inventory.load().require_hub().worker("aws")  # by cloud, too
    fault = faults.kill_worker(worker, owner_pid=0)
    assert (fault.kind, fault.target) == ("stop_worker", "connect-aws")
    assert driver.states["connect-aws"] == "dead"
    assert [(f.kind, f.target) for f in faults.heal_all()] == [("stop_worker", "connect-aws")]
    assert driver.states["connect-aws"] == "running" and on_disk() == []


def test_restart_forgets_the_brokers_brought_back_when_a_later_one_fails(
        counted: tuple[Counts, FakeDriver]) -> None:
    counts, driver = counted
    inv = inventory.load()
    brokers = [inv.broker("aws-1"), inv.broker("aws-2")]
    faults.kill_brokers(brokers, owner_pid=0)
    driver.fail_start = {"aws-2"}
    before = counts.locked
    with pytest.raises(FaultError):
        faults.restart_brokers(inventory.load(), brokers)
    assert counts.locked - before == 1
    assert on_disk() == [("kill_broker", "aws-2")]


def test_heal_all_of_one_owner_keeps_the_others_faults_in_force(
        counted: tuple[Counts, FakeDriver]) -> None:
    counts, driver = counted
    inv = inventory.load()
    faults.sever_link(inv.link(), "a-to-b", owner_pid=OWNER)
    faults.sever_link(inv.link(), "b-to-a", owner_pid=0)
    faults.kill_broker(inv.broker("aws-1"), owner_pid=OWNER)
    faults.pause_broker(inv.broker("gcp-1"), owner_pid=0)
    before = Counts(**vars(counts))
    healed = faults.heal_all(owner_pid=OWNER)
    assert (counts.loads - before.loads, counts.locked - before.locked) == (1, 1)
    assert sorted((f.kind, f.target) for f in healed) == [("kill_broker", "aws-1"),
                                                          ("sever_link", "aws-gcp")]
    assert sorted(on_disk()) == [("pause_broker", "gcp-1"), ("sever_link", "aws-gcp")]
    assert driver.severed == {"aws-gcp": ["b-to-a"]}
    assert driver.states == {"aws-1": "running", "gcp-1": "paused"}


def test_actions_stamp_windows_with_the_effect(counted: tuple[Counts, FakeDriver],
                                               tmp_path: Path) -> None:
    """A window runs from the fault seen in effect to the heal seen in effect, and keeps when
    each was asked for and what was observed (summary.json's fault windows too)."""
    from riftdrill.chaos.summary import FaultWindow

    conf = configuration(tmp_path / "run")
    actions.kill_broker("aws-1", conf)
    actions.restart_broker("aws-1", conf)
    actions.sever_link("both", None, conf)
    actions.heal_link(None, conf)
    actions.block_object_store("aws-s3", conf)
    actions.unblock_object_store("aws-s3", conf)
    lines = [json.loads(x) for x in (tmp_path / "run" / windows.FILE).read_text().splitlines()]
    for line in lines:  # the fake driver: asked for at n s, seen in effect at n + 1 s
        assert line["ts_ns"] - line["requested_ns"] == 10**9
    assert [line["confirmed_by"] for line in lines] == [
        "pid gone", "broker listening", "nft rule listed", "nft rules gone",
        "store unreachable", "store reachable"]
    wins = windows.fault_windows(tmp_path / "run")
    kill = wins[0]
    assert (kill.confirmed_by, kill.end_confirmed_by) == ("pid gone", "broker listening")
    assert kill.start_ns == 1003 * 10**9 and kill.requested_ns == 1002 * 10**9
    assert kill.end_ns == 1005 * 10**9 and kill.end_requested_ns == 1004 * 10**9
    # ...and into summary.json's fault windows
    shown = FaultWindow.model_validate(kill.to_summary())
    assert (shown.start_s, shown.requested_s, shown.confirmed_by) == (1003.0, 1002.0, "pid gone")
    assert (shown.end_s, shown.end_requested_s, shown.end_confirmed_by) == (
        1005.0, 1004.0, "broker listening")


def test_database_faults_are_recorded_first_and_healed_whatever_their_kind(
        counted: tuple[Counts, FakeDriver]) -> None:
    _, driver = counted
    hub = inventory.load().require_hub()
    faults.kill_database(hub.database("source"), owner_pid=0)
    faults.pause_database(hub.database("pg-gcp"), owner_pid=0)  # by name, too
    assert driver.states["pg-aws"] == "dead" and driver.states["pg-gcp"] == "paused"
    healed = [(f.kind, f.target) for f in faults.heal_all()]
    assert healed == [("stop_database", "pg-aws"), ("pause_database", "pg-gcp")]
    assert driver.states["pg-aws"] == driver.states["pg-gcp"] == "running"
    assert on_disk() == []


def test_an_unknown_database_is_named_with_the_hubs_databases() -> None:
    with pytest.raises(RiftdrillError, match=r"no database 'pg-x'; databases are: pg-aws "
                                             r"\(source\), pg-gcp \(sink\)"):
        lab().require_hub().database("pg-x")


def test_an_unknown_connector_is_named_with_the_hubs_connectors() -> None:
    hub = lab().require_hub()
    assert (hub.connector(""), hub.connector("sink"), hub.connector("s")) == ("s", "k", "s")
    with pytest.raises(RiftdrillError, match=r"no connector 'x' in the hub; connectors are: "
                                             r"s \(source\), k \(sink\)"):
        hub.connector("x")


def test_a_nemesis_whose_owner_is_gone_injects_nothing_more(
        counted: tuple[Counts, FakeDriver], tmp_path: Path) -> None:
    """A SIGKILLed `riftdrill drill` leaves chaos running in its own session: the nemesis must
    stop (healing what it opened) instead of injecting behind the user's `riftdrill heal`."""
    _, driver = counted
    run_dir = tmp_path / "results" / "runs" / "r1"
    (run_dir / "load").mkdir(parents=True)
    (run_dir / "load" / "spec.json").write_text(json.dumps({"rate_per_s": 1, "duration_s": 100}))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = actions.nemesis("link-degrade", 20, 1, 1, configuration={
        "run_dir": str(run_dir), "owner_pid": gone.pid})
    assert out["interrupted"] is True and out["faults"] == 0, out
    assert driver.calls == [] and inventory.load().faults == []


def test_the_recovery_after_a_mirror_restart_waits_for_new_records_in_the_mirror(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The mirror-kill drill's recovery window must start with MirrorMaker 2 copying again,
    however long its restart took; a mirror that stays silent is the ledgers' to judge."""
    conf = configuration(tmp_path / "run")
    seen = iter([5, 5, 5, 2**62])  # the newest first poll: before the restart, then a new one
    monkeypatch.setattr(actions, "_newest_visible_ns", lambda _run_dir, _sizes: next(seen))
    monkeypatch.setattr(actions.interrupt, "sleep_s", lambda _s: True)
    out = actions.await_mirror_copying(60, conf)
    assert out["copying"] is True and next(seen, None) is None, out
    monkeypatch.setattr(actions, "_newest_visible_ns", lambda _run_dir, _sizes: 0)
    assert actions.await_mirror_copying(0, conf)["copying"] is False


def test_a_nemesis_link_flap_severs_and_heals_in_turns_and_leaves_the_link_up(
        counted: tuple[Counts, FakeDriver], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, driver = counted
    monkeypatch.setattr(actions, "FLAP_HALF_PERIOD_S", 0.05)
    run_dir = tmp_path / "results" / "runs" / "r1"
    (run_dir / "load").mkdir(parents=True)
    (run_dir / "load" / "spec.json").write_text(json.dumps({"rate_per_s": 1, "duration_s": 100}))
    out = actions.nemesis("link-flap", 2.5, 1, 1, configuration={
        "run_dir": str(run_dir), "owner_pid": os.getpid()})
    assert out["faults"] == 1 and out["kinds"] == ["link-flap"], out
    severs = [c for c in driver.calls if c.endswith("['both']")]
    heals = [c for c in driver.calls if c.endswith("[]")]
    assert len(severs) >= 3 and len(heals) >= len(severs), driver.calls  # 1 s in 0.05 s turns
    assert driver.severed[lab().links[0].name] == [] and inventory.load().faults == []
    assert actions._FLAPS == {}
