"""`riftdrill verify` end to end without Kafka: real ledger files, a fake replay, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riftdrill import paths
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Broker, Cloud, Cluster, Inventory, MirrorMaker
from riftdrill.load.fence import FenceSet
from riftdrill.load.ledger import LedgerWriter
from riftdrill.verify import cli, verifier
from riftdrill.verify.bench import run_bench
from riftdrill.verify.check import PartitionRead
from riftdrill.verify.report import expand


def per_cloud_inventory() -> Inventory:
    clouds = [Cloud(name=n, provider="lab", cidr="198.18.0.0/24") for n in ("aws", "gcp")]
    clusters = [Cluster(name=n, clouds=[n], brokers=[i], bootstrap={n: f"198.18.{i}.1:9092"})
                for i, n in enumerate(("aws", "gcp"), start=1)]
    brokers = [Broker(id=i, name=f"{n}-1", cloud=n, cluster=n, address=f"198.18.{i}.1",
                      port=9092, roles=["broker", "controller"])
               for i, n in enumerate(("aws", "gcp"), start=1)]
    return Inventory(target="local", engine="kafka", engine_version="4.4.0",
                     topology="per-cloud", replication_factor=1, min_insync_replicas=1,
                     clouds=clouds, clusters=clusters, brokers=brokers, stores=[], links=[],
                     mirrors=[MirrorMaker(name="mm2", cloud="gcp", source="aws", target="gcp",
                                          topics="orders")])


def write_ledger(run_dir: Path, cloud: str, pid: int, n: int) -> None:
    path = run_dir / "load" / "ledgers" / f"{cloud}-p{pid}.rdl"
    with LedgerWriter(path, pid, cloud, ["orders"]) as w:
        for seq in range(n):
            w.append_ack("orders", 0, seq, b"k-1", seq, 0, 0, 0)
        w.append_error("orders", n, 7, 0, 0)


FENCES = FenceSet(nonce=b"n" * 16)


def fake_fence(bootstrap: str, topics: Sequence[str]) -> FenceSet:
    return FENCES


def fake_replay(logs: dict[tuple[str, str], list[tuple[int, int, int]]],
                unfenced: frozenset[tuple[str, str]] = frozenset()) -> verifier.Replay:
    """Reads of partition 0 of each topic; each met its fence unless named in `unfenced`."""
    def replay(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
               fences: FenceSet) -> list[PartitionRead]:
        assert fences is FENCES
        out = []
        for topic in topics:
            recs = logs.get((cluster, topic))
            if recs is None:
                continue
            r = PartitionRead(cluster=cluster, topic=topic, partition=0,
                              fenced=(cluster, topic) not in unfenced)
            for off, pid, seq in recs:
                r.append(off, pid, seq, 0, True)
            r.high_watermark = len(recs)
            out.append(r)
        return out
    return replay


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "results" / "runs" / "r1"
    write_ledger(d, "aws", 1, 5)
    write_ledger(d, "gcp", 2, 3)
    return d


def test_ledgers_go_to_their_clouds_cluster_and_mirror_is_checked(run_dir: Path) -> None:
    logs = {
        ("aws", "orders"): [(o, 1, o) for o in range(5)],
        ("gcp", "orders"): [(0, 2, 0), (1, 2, 2)],  # gcp seq 1 lost
        ("gcp", "aws.orders"): [(0, 1, 0), (1, 1, 2)],  # mirror lacks aws seq 1, lags on 3-4
    }
    replay = fake_replay(logs, unfenced=frozenset({("gcp", "aws.orders")}))
    report = verifier.verify_run(run_dir, per_cloud_inventory(), replay=replay, fence=fake_fence)
    assert report.clusters == ["aws", "gcp"]
    assert (report.ledgers, report.acks, report.errors) == (2, 8, 2)
    by_cluster = {p.cluster: p for p in report.partitions}
    assert by_cluster["aws"].anomalies == {}
    assert expand(by_cluster["gcp"].anomalies["lost"]) == [1]
    (mirror,) = report.mirrors
    assert mirror.mirror_topic == "aws.orders"
    assert expand(mirror.anomalies["missing_in_mirror"]) == [1]
    assert expand(mirror.anomalies["unreadable"]) == [3, 4]
    assert not report.passed


def test_cluster_filter_skips_mirror(run_dir: Path) -> None:
    logs = {("aws", "orders"): [(o, 1, o) for o in range(5)]}
    report = verifier.verify_run(run_dir, per_cloud_inventory(), clusters=["aws"],
                                 replay=fake_replay(logs), fence=fake_fence)
    assert report.passed and report.mirrors == []
    with pytest.raises(RiftdrillError, match="no cluster 'nope'"):
        verifier.verify_run(run_dir, per_cloud_inventory(), clusters=["nope"],
                            replay=fake_replay(logs), fence=fake_fence)


def test_resolve_run_dir(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(RiftdrillError, match="no runs"):
        paths.resolve_run_dir(None, runs)
    (runs / "old").mkdir(parents=True)
    (runs / "new").mkdir()
    os.utime(runs / "old", (1, 1))
    assert paths.resolve_run_dir(None, runs).name == "new"
    assert paths.resolve_run_dir("old", runs) == runs / "old"
    with pytest.raises(RiftdrillError, match="no run 'gone'"):
        paths.resolve_run_dir("gone", runs)


def test_no_ledgers_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(RiftdrillError, match="no ledgers"):
        verifier.load_ledgers(tmp_path, per_cloud_inventory())


def test_cli_writes_verify_json_and_exits_1_on_lost(run_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    logs = {("aws", "orders"): [(o, 1, o) for o in (0, 1, 3, 4)]}  # seq 2 lost
    monkeypatch.setattr(cli.inventory, "load", per_cloud_inventory)
    real = verifier.verify_run
    monkeypatch.setattr(verifier, "verify_run", lambda d, inv, clusters=None: real(
        d, inv, clusters=clusters, replay=fake_replay(logs), fence=fake_fence))
    result = CliRunner().invoke(cli.app, ["--run", str(run_dir), "--cluster", "aws", "--json"])
    assert result.exit_code == 1, result.output
    saved = json.loads((run_dir / "verify.json").read_text())
    assert saved["totals"]["lost"] == 1 and saved["passed"] is False
    assert json.loads(result.stdout)["totals"]["lost"] == 1


def test_cli_bad_run_exits_2_with_one_line(tmp_path: Path) -> None:
    # Through the real entry point: the main CLI turns RiftdrillError into one line + exit 2.
    proc = subprocess.run([sys.executable, "-m", "riftdrill", "verify", "--run",
                           str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no run" in proc.stderr


def test_bench_writes_figures(tmp_path: Path) -> None:
    figures = run_bench(tmp_path / "verify.json", records=20_000)
    saved = json.loads((tmp_path / "verify.json").read_text())
    assert saved["records"] == 20_000 and figures["records_per_s"] == saved["records_per_s"]
    assert saved["totals"]["lost"] > 0 and saved["totals"]["duplicates"] > 0


def test_ledger_of_a_producer_outside_the_inventory_clouds_maps_by_its_bootstrap() -> None:
    inv = per_cloud_inventory()
    header = {"cloud": "local", "producer_id": 0, "bootstrap": "198.18.2.1:9092"}
    assert verifier.ledger_cluster(header, inv) == "gcp"
    assert verifier.ledger_cluster({"cloud": "aws", "producer_id": 0}, inv) == "aws"
    with pytest.raises(RiftdrillError, match="--rd-cloud"):
        verifier.ledger_cluster({"cloud": "local", "producer_id": 0, "bootstrap": "10.0.0.1:9092"}, inv)


def test_replay_is_told_when_this_run_started(tmp_path: Path) -> None:
    """Records intended before the earliest schedule start belong to an earlier run."""
    for pid, start in ((1, 2_000), (2, 1_000)):
        path = tmp_path / "load" / "ledgers" / f"aws-p{pid}.rdl"
        with LedgerWriter(path, pid, "aws", ["orders"], schedule_start_ns=start) as w:
            w.append_ack("orders", 0, pid - 1, b"k-1", 0, 0, start, start)
    seen: list[int] = []

    def replay(bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
               fences: FenceSet) -> list[PartitionRead]:
        seen.append(since_ns)
        return fake_replay({("aws", "orders"): [(0, 1, 0), (1, 2, 0)]})(
            bootstrap, cluster, topics, since_ns, fences)

    report = verifier.verify_run(tmp_path, per_cloud_inventory(), clusters=["aws"],
                                 replay=replay, fence=fake_fence)
    assert seen == [1_000]
    assert report.passed


def test_a_torn_last_entry_is_counted_not_fatal(run_dir: Path) -> None:
    path = run_dir / "load" / "ledgers" / "aws-p1.rdl"
    path.write_bytes(path.read_bytes()[:-10])  # a crash cut the last entry
    logs = {("aws", "orders"): [(o, 1, o) for o in range(5)]}
    report = verifier.verify_run(run_dir, per_cloud_inventory(), clusters=["aws"],
                                 replay=fake_replay(logs), fence=fake_fence)
    assert report.ledger_truncated_lines == 1
    assert report.passed and report.errors == 1  # the torn entry was aws's error entry


def test_damaged_ledger_is_bad_input_naming_the_file(run_dir: Path) -> None:
    path = run_dir / "load" / "ledgers" / "aws-p1.rdl"
    data = bytearray(path.read_bytes())
    data[-64 * 3] ^= 0xFF  # an entry before good ones
    path.write_bytes(bytes(data))
    with pytest.raises(RiftdrillError, match=r"aws-p1\.rdl is unreadable.*damaged"):
        verifier.verify_run(run_dir, per_cloud_inventory(), replay=fake_replay({}),
                            fence=fake_fence)


def test_ledgers_without_any_outcome_are_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "load" / "ledgers" / "aws-p1.rdl"
    LedgerWriter(path, 1, "aws", ["orders"]).close()
    with pytest.raises(RiftdrillError, match="no send outcome"):
        verifier.verify_run(tmp_path, per_cloud_inventory(), replay=fake_replay({}),
                            fence=fake_fence)


def test_cli_damaged_ledger_is_one_error_naming_the_file(run_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI raises the RiftdrillError (the main entry point prints it as one line, exit 2:
    test_cli_bad_run_exits_2_with_one_line) and writes no verify.json."""
    path = run_dir / "load" / "ledgers" / "gcp-p2.rdl"
    path.write_bytes(b"RDL1\x00")  # cut inside its header
    monkeypatch.setattr(cli.inventory, "load", per_cloud_inventory)
    result = CliRunner().invoke(cli.app, ["--run", str(run_dir)])
    assert isinstance(result.exception, RiftdrillError)
    assert "gcp-p2.rdl" in str(result.exception) and "\n" not in str(result.exception)
    assert not (run_dir / "verify.json").exists()
