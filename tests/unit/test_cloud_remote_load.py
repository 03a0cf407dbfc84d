"""Load and verify on a cloud target's load VMs (riftdrill.load.remote, riftdrill.verify.remote).

AWS: SSM Run Command and the S3 carrier against a moto server; the GCS carrier against
fake-gcs-server. moto records a command but runs
nothing, so the VM's side is played by `VmStandIn`: it reads what the operator staged from the
carrier, writes real ledgers with the project's LedgerWriter and does the final read with
final_read.read_on_node over a fake cluster, then uploads as the VM's script does. GCP's IAP
transport: a fake runner (no emulator for IAP).
The round trip under test: VM ledger -> bucket -> operator's run dir -> verify_run's verdict.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from riftdrill.cloud.inventory import inventory_from_outputs
from riftdrill.cloud.transport import (
    CommandResult,
    IapTransport,
    NodeAccess,
    S3Carrier,
    SsmTransport,
    TransportError,
    iap_ssh_command,
)
from riftdrill.errors import RiftdrillError, ValidationError
from riftdrill.inventory import Inventory, LoadNode, Security
from riftdrill.load.fence import FenceSet
from riftdrill.load.ledger import LedgerWriter, read_header
from riftdrill.load.remote import Bundle, final_read_script, load_script, run_remote_load
from riftdrill.load.runner import worker_command
from riftdrill.load.spec import LoadSpec
from riftdrill.verify import final_read
from riftdrill.verify.check import Absence, PartitionRead
from riftdrill.verify.remote import verify_remote
from tests.unit.test_cloud_inventory import outputs

REGION = "eu-west-1"
AWS_BUCKET = "rd-aws-ops-1"
GCP_BUCKET = "rd-gcp-ops-1"


def with_load_nodes(raw: dict[str, Any], instance_id: str = "i-0123456789abcdef0") -> dict[str, Any]:
    clouds = raw["riftdrill"]["value"]["clouds"]
    clouds["aws"]["load_node"] = {"name": "rd-aws-load", "handle": instance_id,
                                  "address": "10.40.0.50", "transport": "ssm",
                                  "carrier": f"s3://{AWS_BUCKET}/riftdrill-load/"}
    clouds["gcp"]["load_node"] = {
        "name": "rd-gcp-load", "address": "10.50.0.50", "transport": "iap",
        "handle": "projects/rd-drills-1234/zones/europe-west1-b/instances/rd-gcp-load",
        "carrier": f"gs://{GCP_BUCKET}/riftdrill-load/"}
    return raw


# -- the servers and fakes --------------------------------------------------------------------



@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for k, v in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset",
                                                  method="POST"), timeout=10).close()
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=AWS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return {"ssm": boto3.client("ssm", region_name=REGION), "s3": s3,
            "instance_id": instance["Instances"][0]["InstanceId"]}


@pytest.fixture(scope="module")
def gcs_client() -> Iterator[Any]:
    """google-cloud-storage's client against fake-gcs-server (make setup installs it)."""
    import socket
    import time

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    from riftdrill.lab.stores import fake_gcs_bin

    binary = fake_gcs_bin()
    if not binary.exists():
        pytest.skip(f"fake-gcs-server is not installed ({binary}); run `make setup`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port",
                             str(port), "-backend", "memory", "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        client = storage.Client(project="rd-drills-1234", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
        client.create_bucket(GCP_BUCKET)
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class MemoryCarrier:
    """A bucket in a dict (the GCP side; GcsCarrier is the same three calls on GCS's client)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, path: Path, url: str) -> None:
        self.objects[url] = path.read_bytes()

    def get(self, url: str, path: Path) -> None:
        if url not in self.objects:
            raise TransportError(f"{url} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.objects[url])

    def exists(self, url: str) -> bool:
        return url in self.objects


NONCE = b"f" * 16


class Cluster:
    """What the brokers hold: (cluster, topic, partition) -> [(offset, producer id, seq)]."""

    def __init__(self) -> None:
        self.log: dict[tuple[str, str, int], list[tuple[int, int, int]]] = {}

    def fence(self, bootstrap: str, topics: Sequence[str]) -> FenceSet:
        return FenceSet(nonce=NONCE, offsets={t: {0: 1000} for t in topics})

    def replay(self, bootstrap: str, cluster: str, topics: Sequence[str], since_ns: int,
               fences: FenceSet) -> list[PartitionRead]:
        out = []
        for (c, t, p), recs in sorted(self.log.items()):
            if c == cluster and t in topics:
                r = PartitionRead(cluster=c, topic=t, partition=p, fenced=True, fence_offset=1000,
                                  high_watermark=1001)
                for off, pid, seq in recs:
                    r.append(off, pid, seq, 0, True)
                out.append(r)
        return out

    def presence(self, cluster: str, tps: Any) -> dict[tuple[str, int], Absence]:
        return {tp: Absence(gone=True, reason="every broker says it does not exist") for tp in tps}


class VmStandIn:
    """Plays a load VM behind a transport: does what the script does, with the carrier."""

    def __init__(self, carrier: Any, cluster: Cluster, drop_seq: int | None = None,
                 fail: bool = False) -> None:
        self.carrier = carrier
        self.cluster = cluster
        self.drop_seq = drop_seq  # acked but never in the log: the verdict must say lost
        self.fail = fail
        self.scripts: list[str] = []
        self.specs: list[LoadSpec] = []

    def __call__(self, node: LoadNode, script: str, work: Path) -> CommandResult:
        self.scripts.append(script)
        run = script.split("run ", 1)[1].splitlines()[0]
        base = f"{node.carrier}runs/{run}/"
        if "riftdrill.load run-spec" in script:
            return self._load(node, base, run, work)
        return self._final_read(base, work)

    def _load(self, node: LoadNode, base: str, run: str, work: Path) -> CommandResult:
        self.carrier.get(f"{base}spec-{node.cloud}.json", work / "in" / "spec.json")
        self.carrier.get(f"{base}inventory.json", work / "in" / "inventory.json")
        spec = LoadSpec.from_json(json.loads((work / "in" / "spec.json").read_text()))
        self.specs.append(spec)
        inv = Inventory.model_validate_json((work / "in" / "inventory.json").read_text())
        if self.fail:
            return CommandResult("failed", 1, "", "KafkaException: broker transport failure")
        assert spec.run_clouds is not None
        pid = spec.run_clouds.index(node.cloud) * 256  # what the runner gives process 0
        cluster = inv.cluster_of(node.cloud).name
        load = work / run / "load"
        with LedgerWriter(load / "ledgers" / f"{node.cloud}-p{pid}.rdl", pid, node.cloud,
                          [spec.topic], bootstrap=inv.bootstrap(node.cloud),
                          schedule_start_ns=1, cluster=cluster) as w:
            for seq in range(4):
                w.append_ack(spec.topic, 0, seq, b"k-1", seq, 0, 0, 0)
                if seq != self.drop_seq:
                    log = self.cluster.log.setdefault((cluster, spec.topic, 0), [])
                    log.append((seq, pid, seq))
        (load / "summary.json").write_text(json.dumps({"started_at": "2026-12-03T11:00:00",
                                                       "ended_at": "2026-12-03T11:01:00"}))
        (load / "fences.json").write_text("{}")
        buf = work / "load.tgz"
        with tarfile.open(buf, "w:gz") as tar:
            tar.add(load, arcname="load")
        (work / "runner.out").write_text("{}\n")
        self.carrier.put(buf, f"{base}{node.cloud}/load.tgz")
        self.carrier.put(work / "runner.out", f"{base}{node.cloud}/runner.out")
        return CommandResult("success", 0, "{}", "")

    def _final_read(self, base: str, work: Path) -> CommandResult:
        self.carrier.get(f"{base}final-read/request.json", work / "request.json")
        self.carrier.get(f"{base}inventory.json", work / "inventory.json")
        request = final_read.FinalReadRequest.model_validate_json(
            (work / "request.json").read_text())
        inv = Inventory.model_validate_json((work / "inventory.json").read_text())
        shipped = final_read.read_on_node(request, inv, fence=self.cluster.fence,
                                          replay=self.cluster.replay,
                                          presence=self.cluster.presence)
        final_read.save(shipped, work / "final-read.npz")
        self.carrier.put(work / "final-read.npz", f"{base}final-read/result.npz")
        return CommandResult("success", 0, "", "")


class StandInTransport:
    def __init__(self, vm: VmStandIn, work: Path) -> None:
        self.vm = vm
        self.work = work

    def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
        work = self.work / node.cloud
        work.mkdir(parents=True, exist_ok=True)
        return self.vm(node, script, work)


class SsmThenStandIn:
    """The real SsmTransport against moto (which records the command and reports Success),
    then the stand-in does what the agent would have run."""

    def __init__(self, ssm: SsmTransport, vm: VmStandIn, work: Path) -> None:
        self.ssm = ssm
        self.stand_in = StandInTransport(vm, work)

    def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
        sent = self.ssm.run(node, script, timeout_s)
        assert sent.status == "success", sent
        return self.stand_in.run(node, script, timeout_s)


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    wheel = tmp_path / "dist" / "riftdrill-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"PK-not-really-a-wheel")
    cons = tmp_path / "dist" / "constraints.txt"
    cons.write_text("pydantic==2.14.3\n")
    return Bundle(wheel, cons)


def _setup(aws: dict[str, Any], tmp_path: Path, drop_seq: int | None = None,
           fail_gcp: bool = False, gcs: Any = None,
           ) -> tuple[Inventory, dict[str, NodeAccess], VmStandIn, VmStandIn]:
    inv = inventory_from_outputs(with_load_nodes(outputs("per-cloud"), aws["instance_id"]))
    cluster = Cluster()
    s3 = S3Carrier(aws["s3"])
    gcs = gcs or MemoryCarrier()
    aws_vm = VmStandIn(s3, cluster, drop_seq=drop_seq)
    gcp_vm = VmStandIn(gcs, cluster, fail=fail_gcp)
    access = {
        "aws": NodeAccess(SsmThenStandIn(SsmTransport(aws["ssm"], poll_s=0.05), aws_vm,
                                         tmp_path / "vm"), s3),
        "gcp": NodeAccess(StandInTransport(gcp_vm, tmp_path / "vm"), gcs),
    }
    return inv, access, aws_vm, gcp_vm


# -- the tests --------------------------------------------------------------------------------


def test_the_env_output_carries_the_load_vms_into_the_inventory() -> None:
    inv = inventory_from_outputs(with_load_nodes(outputs()))
    assert [(n.cloud, n.transport) for n in inv.load_nodes] == [("aws", "ssm"), ("gcp", "iap")]
    assert inv.load_node("gcp").carrier == f"gs://{GCP_BUCKET}/riftdrill-load/"
    assert inventory_from_outputs(outputs()).load_nodes == []  # an output from before them
    with pytest.raises(RiftdrillError, match=r"no load VM in cloud 'aws'.*re-apply"):
        inventory_from_outputs(outputs()).load_node("aws")


def test_ledgers_come_back_from_both_vms_and_verify_judges_them(
        aws: dict[str, Any], gcs_client: Any, tmp_path: Path, bundle: Bundle) -> None:
    from riftdrill.cloud.transport import GcsCarrier

    inv, access, aws_vm, gcp_vm = _setup(aws, tmp_path, drop_seq=2,
                                         gcs=GcsCarrier(gcs_client))
    run_dir = tmp_path / "results" / "runs" / "r1"
    spec = LoadSpec(rate_per_s=100, duration_s=10, consumers=False)
    result = run_remote_load(spec, run_dir, inv, access, bundle)

    # SSM got the script as AWS-RunShellScript for the load VM's instance.
    (cmd,) = aws["ssm"].list_commands()["Commands"][:1]
    assert cmd["DocumentName"] == "AWS-RunShellScript"
    assert cmd["InstanceIds"] == [aws["instance_id"]]
    assert "riftdrill.load run-spec" in cmd["Parameters"]["commands"][0]
    # Each VM ran its own cloud's share of one run: ids and the rate split count both clouds.
    assert [(s.placement, s.run_clouds) for s in aws_vm.specs + gcp_vm.specs] == [
        (["aws"], ["aws", "gcp"]), (["gcp"], ["aws", "gcp"])]
    # The bundle went to each bucket once, under its sha.
    key = f"riftdrill-load/bundles/{bundle.sha256}/{bundle.wheel.name}"
    assert aws["s3"].head_object(Bucket=AWS_BUCKET, Key=key)["ContentLength"] > 0
    ledgers = sorted(p.name for p in (run_dir / "load" / "ledgers").glob("*.rdl"))
    assert ledgers == ["aws-p0.rdl", "gcp-p256.rdl"]
    assert read_header(run_dir / "load" / "ledgers" / "gcp-p256.rdl")["cloud"] == "gcp"
    assert (run_dir / "load" / "remote" / "gcp" / "summary.json").exists()
    assert result.run_dir == run_dir

    # Verify: the final read runs on the aws VM, the verdict here over the returned ledgers.
    report = verify_remote(run_dir, inv, access, bundle)
    assert "riftdrill.verify.final_read" in aws_vm.scripts[-1]
    assert (report.acks, report.clusters) == (8, ["aws", "gcp"])
    by_cluster = {p.cluster: p for p in report.partitions}
    assert by_cluster["gcp"].anomalies == {}
    assert "lost" in by_cluster["aws"].anomalies  # aws seq 2 was acked, never in the log
    assert not report.passed


def test_a_failed_share_names_its_cloud_and_keeps_what_came_back(
        aws: dict[str, Any], tmp_path: Path, bundle: Bundle) -> None:
    inv, access, _, _ = _setup(aws, tmp_path, fail_gcp=True)
    run_dir = tmp_path / "runs" / "r2"
    with pytest.raises(RiftdrillError, match=r"load on the gcp load VM failed \(KafkaException"):
        run_remote_load(LoadSpec(rate_per_s=10, duration_s=5), run_dir, inv, access, bundle)
    assert (run_dir / "load" / "ledgers" / "aws-p0.rdl").exists()


def test_a_secured_deployment_is_refused_before_anything_is_staged(
        aws: dict[str, Any], tmp_path: Path, bundle: Bundle) -> None:
    inv, access, aws_vm, _ = _setup(aws, tmp_path)
    inv.security = Security(mode="sasl-tls")
    with pytest.raises(RiftdrillError, match="hold no client secrets"):
        run_remote_load(LoadSpec(rate_per_s=10, duration_s=5), tmp_path / "r3", inv, access,
                        bundle)
    assert aws_vm.scripts == [] and "Contents" not in aws["s3"].list_objects_v2(Bucket=AWS_BUCKET)


def test_ssm_transport_reports_the_invocation(aws: dict[str, Any]) -> None:
    node = LoadNode(name="rd-aws-load", cloud="aws", address="10.40.0.50",
                    handle=aws["instance_id"], transport="ssm", carrier="s3://b/p/")
    r = SsmTransport(aws["ssm"], poll_s=0.05).run(node, "echo hi", 60)
    assert r.status == "success" and r.exit_code == 0

    class Unmanaged:  # what SSM answers for an instance whose agent never registered
        def send_command(self, **kw: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "InvalidInstanceId", "Message": "not managed"}},
                              "SendCommand")

    with pytest.raises(TransportError, match=r"SSM could not send .*InvalidInstanceId"):
        SsmTransport(Unmanaged()).run(node, "echo", 60)


def test_gcs_carrier_round_trip_and_missing_object(gcs_client: Any, tmp_path: Path) -> None:
    from riftdrill.cloud.transport import GcsCarrier

    c = GcsCarrier(gcs_client)
    src = tmp_path / "load.tgz"
    src.write_bytes(b"\x1f\x8b ledger tarball")
    url = f"gs://{GCP_BUCKET}/riftdrill-load/carrier-test/load.tgz"
    assert not c.exists(url)
    c.put(src, url)
    assert c.exists(url)
    c.get(url, tmp_path / "back" / "load.tgz")
    assert (tmp_path / "back" / "load.tgz").read_bytes() == src.read_bytes()
    with pytest.raises(TransportError, match="did not upload it"):
        c.get(url + ".missing", tmp_path / "b")


def test_s3_carrier_round_trip_and_missing_object(aws: dict[str, Any], tmp_path: Path) -> None:
    c = S3Carrier(aws["s3"])
    src = tmp_path / "a.txt"
    src.write_text("ledger bytes")
    url = f"s3://{AWS_BUCKET}/riftdrill-load/x/a.txt"
    assert not c.exists(url)
    c.put(src, url)
    assert c.exists(url) and not c.exists(url[:-1])  # a prefix is not the object
    c.get(url, tmp_path / "back" / "a.txt")
    assert (tmp_path / "back" / "a.txt").read_text() == "ledger bytes"
    with pytest.raises(TransportError, match="did not upload it"):
        c.get(url + ".missing", tmp_path / "b")


GCP_NODE = LoadNode(name="rd-gcp-load", cloud="gcp", address="10.50.0.50", transport="iap",
                    handle="projects/p-1/zones/europe-west1-b/instances/rd-gcp-load",
                    carrier="gs://b/riftdrill-load/")


def test_iap_transport_sends_the_script_on_stdin_through_the_tunnel() -> None:
    seen: dict[str, Any] = {}

    def runner(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.update(cmd=cmd, **kw)
        return subprocess.CompletedProcess(cmd, 0, "ok\n", "")

    r = IapTransport(runner).run(GCP_NODE, "echo hi", 30)
    assert r.status == "success" and seen["input"] == "echo hi" and seen["timeout"] == 30
    assert seen["cmd"] == iap_ssh_command(GCP_NODE)
    assert "--tunnel-through-iap" in seen["cmd"] and "--zone=europe-west1-b" in seen["cmd"]


def test_iap_transport_failures() -> None:
    def refused(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 255, "", "ERROR: (gcloud) 4033: not authorized\n")

    with pytest.raises(TransportError, match=r"IAP ssh to rd-gcp-load failed: .*4033"):
        IapTransport(refused).run(GCP_NODE, "true", 5)

    def slow(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd, 5, output=b"half", stderr=b"")

    assert IapTransport(slow).run(GCP_NODE, "true", 5).status == "timed-out"
    with pytest.raises(RiftdrillError, match="is not projects/"):
        IapTransport(refused).run(GCP_NODE.model_copy(update={"handle": "rd-gcp-load"}), "x", 5)


@pytest.mark.parametrize("transport", ["ssm", "iap"])
def test_scripts_are_valid_bash_and_copy_through_the_right_cli(transport: str, bundle: Bundle,
                                                               tmp_path: Path) -> None:
    node = GCP_NODE if transport == "iap" else GCP_NODE.model_copy(
        update={"transport": "ssm", "cloud": "aws", "carrier": "s3://b/riftdrill-load/"})
    for script in (load_script(node, bundle, "20261203T110000Z-load"),
                   final_read_script(node, bundle, "20261203T110000Z-load")):
        path = tmp_path / "s.sh"
        path.write_text(script)
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
        cli = "aws s3 cp" if transport == "ssm" else "gcloud storage cp"
        assert cli in script and f"bundles/{bundle.sha256}/" in script
        assert '"$work/in/inventory.json"' in script  # expanded on the VM, not quoted away
    assert 'tar -C "$work" -czf "$work/load.tgz" load' in load_script(node, bundle, "r")


def test_final_read_file_round_trip(tmp_path: Path) -> None:
    r = PartitionRead(cluster="aws", topic="t", partition=3, fenced=True, fence_offset=9,
                      high_watermark=10, foreign=[4], earlier_runs=2, reader="native")
    for off in (0, 1, 2):
        r.append(off, 7, off, 0xABC, off != 1)
    fences = FenceSet(nonce=NONCE, offsets={"t": {3: 9}})
    shipped = final_read.ShippedRead({"aws": "10.40.0.20:9092"}, {"aws": fences}, {"aws": [r]},
                                     {"aws": {("t", 5): Absence(gone=True, reason="gone")}})
    final_read.save(shipped, tmp_path / "out.npz")
    back = final_read.load(tmp_path / "out.npz")
    (got,) = back.replay()("10.40.0.20:9092", "aws", ["t"], 0, fences)
    assert (got.offsets, got.checksum_ok, got.foreign, got.reader) == (
        [0, 1, 2], [True, False, True], [4], "native")
    assert got.arrays is not None and got.arrays.seqs.tolist() == [0, 1, 2]
    assert back.fence()("10.40.0.20:9092", ["t"]).offsets == {"t": {3: 9}}
    absent = back.presence()("aws", [("t", 5), ("t", 6)])
    assert absent[("t", 5)].gone and not absent[("t", 6)].gone  # not asked on the VM: not judged
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(RiftdrillError, match="not a final read"):
        final_read.load(tmp_path / "bad.npz")


def test_a_share_keeps_the_whole_runs_ids_and_rate_split() -> None:
    inv = inventory_from_outputs(with_load_nodes(outputs()))
    share = LoadSpec(rate_per_s=100, duration_s=10, placement=["gcp"], run_clouds=["aws", "gcp"])
    cmd = worker_command(share, inv, "gcp", 1, Path("/tmp/r"), 1)
    assert cmd[cmd.index("--rd-producers-total") + 1] == "2"
    assert cmd[cmd.index("--rd-process-index") + 1] == "1"
    with pytest.raises(ValidationError, match="run_clouds"):
        LoadSpec(rate_per_s=1, duration_s=1, placement=["gcp"], run_clouds=["aws"])


def test_bundle_sha_changes_with_the_constraints(bundle: Bundle) -> None:
    before = bundle.sha256
    bundle.constraints.write_text("pydantic==2.14.4\n")
    assert bundle.sha256 != before


def test_the_operator_bundle_is_this_checkout_with_its_pins(tmp_path: Path) -> None:
    from riftdrill.load.remote import _uv, operator_bundle

    if _uv() is None:
        pytest.skip("no uv (make setup installs it)")
    b = operator_bundle(tmp_path / "bundle")
    import zipfile

    names = zipfile.ZipFile(b.wheel).namelist()
    assert "riftdrill/native.c" in names  # the VM builds the fast reader from it
    assert "riftdrill/load/locustfile.py" in names
    pins = b.constraints.read_text().splitlines()
    assert any(p.startswith("confluent-kafka==") for p in pins)
    assert not any(p.startswith(("-e", "riftdrill")) for p in pins)


def test_the_wrappers_run_the_script_with_bash_and_nothing_in_it_eats_the_rest() -> None:
    from riftdrill.cloud.transport import IAP_REMOTE_COMMAND, ssm_command

    script = "set -euo pipefail\necho one\ncat >/dev/null\necho two\nexit 3\n"
    ssm = subprocess.run(["sh", "-c", ssm_command(script)], capture_output=True, text=True,
                         timeout=30)
    assert (ssm.stdout, ssm.returncode) == ("one\ntwo\n", 3)
    iap = subprocess.run(["sh", "-c", IAP_REMOTE_COMMAND.replace("sudo ", "")], input=script,
                         capture_output=True, text=True, timeout=30)
    assert (iap.stdout, iap.returncode) == ("one\ntwo\n", 3)


def test_aws_scripts_take_the_region_from_imds_and_long_loads_are_refused(
        aws: dict[str, Any], tmp_path: Path, bundle: Bundle) -> None:
    inv, access, aws_vm, _ = _setup(aws, tmp_path)
    script = load_script(inv.load_node("aws"), bundle, "r")
    assert "meta-data/placement/region" in script and "--force-reinstall" in script
    assert "placement/region" not in load_script(inv.load_node("gcp"), bundle, "r")
    with pytest.raises(RiftdrillError, match="does not fit in one SSM command"):
        run_remote_load(LoadSpec(rate_per_s=1, duration_s=3 * 86400), tmp_path / "r4", inv,
                        access, bundle)
    assert aws_vm.scripts == [] and not (tmp_path / "r4").exists()  # nothing left behind


def test_the_cli_sends_a_cloud_targets_load_and_verify_to_the_vms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from riftdrill import cli, inventory
    from riftdrill.load import cli as load_cli
    from riftdrill.verify import remote as verify_remote_mod

    inv = inventory_from_outputs(with_load_nodes(outputs()))
    inventory.save(inv, tmp_path / ".riftdrill" / "inventory.json")
    env = {"RIFTDRILL_HOME": str(tmp_path), "COLUMNS": "200"}
    app = cli.mounted_app()
    calls: list[str] = []

    def on_vms(*args: Any, **kw: Any) -> Any:
        calls.append("load")
        raise RiftdrillError("the load on the aws load VM failed (stand-in)")

    monkeypatch.setattr(load_cli, "load_on_vms", on_vms)
    res = CliRunner().invoke(app, ["load", "--duration", "5"], env=env)
    assert (res.exit_code, calls) == (2, ["load"]) and "stand-in" in res.output
    # run-spec is what start_load runs in the background: the operator's side goes to the
    # VMs, a VM's own share (run_clouds set) runs locally there.
    ran_locally: list[Any] = []
    monkeypatch.setattr(load_cli, "run_load", lambda spec, *a, **kw: ran_locally.append(spec)
                        or (_ for _ in ()).throw(RiftdrillError("local stand-in")))
    inv_file = tmp_path / ".riftdrill" / "inventory.json"
    for spec, expect in ((LoadSpec(rate_per_s=1, duration_s=1), "load"),
                         (LoadSpec(rate_per_s=1, duration_s=1, placement=["aws"],
                                   run_clouds=["aws", "gcp"]), "local")):
        spec_file = tmp_path / f"spec-{expect}.json"
        spec_file.write_text(json.dumps(spec.to_json()))
        res = CliRunner().invoke(app, ["load", "run-spec", str(spec_file), str(tmp_path / "r"),
                                       "--inventory", str(inv_file)], env=env)
        assert res.exit_code == 2, res.output
    assert calls == ["load", "load"] and [s.run_clouds for s in ran_locally] == [["aws", "gcp"]]

    run = tmp_path / "results" / "runs" / "r9"
    run.mkdir(parents=True)

    def verify_on_vms(run_dir: Path, inv: Inventory, clusters: Any = None) -> Any:
        calls.append(f"verify {run_dir.name}")
        raise RiftdrillError("the final read on the aws load VM failed: stand-in")

    monkeypatch.setattr(verify_remote_mod, "verify_on_vms", verify_on_vms)
    res = CliRunner().invoke(app, ["verify", "--run", str(run)], env=env)
    assert res.exit_code == 2 and calls[-1] == "verify r9", res.output


def test_a_stop_reaches_every_vm_and_the_run_still_comes_back(
        aws: dict[str, Any], tmp_path: Path, bundle: Bundle) -> None:
    """stop_load SIGINTs the operator's process; it sends each VM the stop, then waits for
    the shares to drain and upload, as a local run ends."""
    import os
    import signal
    import threading

    inv, access, aws_vm, gcp_vm = _setup(aws, tmp_path)
    stopped = {c: threading.Event() for c in ("aws", "gcp")}

    class Stoppable(StandInTransport):
        def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
            if ": stop run " in script.splitlines()[1]:
                assert "kill -INT" in script
                stopped[node.cloud].set()
                return CommandResult("success", 0, "", "")
            if node.cloud == "aws":  # the first share to start interrupts the operator
                os.kill(os.getpid(), signal.SIGINT)
            assert stopped[node.cloud].wait(20), "the VM never got the stop"
            return super().run(node, script, timeout_s)

    access = {"aws": NodeAccess(Stoppable(aws_vm, tmp_path / "vm"), access["aws"].carrier),
              "gcp": NodeAccess(Stoppable(gcp_vm, tmp_path / "vm"), access["gcp"].carrier)}
    run_dir = tmp_path / "runs" / "r5"
    result = run_remote_load(LoadSpec(rate_per_s=10, duration_s=600), run_dir, inv, access,
                             bundle)
    assert result.interrupted
    assert len(list((run_dir / "load" / "ledgers").glob("*.rdl"))) == 2
    state = json.loads((run_dir / "load" / "state.json").read_text())
    assert state["state"] == "done" and state["interrupted"]
