"""The brokers of the cloud modules, checked offline (issue 18 items 2 and 4).

- The rendered cloud-init (riftdrill.cloud.render, the renderer the lab shares with Terraform)
  turns AutoMQ's object storage on, mounts the data disk before the storage is formatted and
  repairs a failed boot; its data-disk and HMAC scripts are run for real against stub
  commands, so "never reformat" and "bounded retry" are behaviour, not text.
- The HCL maps the root device from the AMI, a separate data volume, pins the AMI by id and
  has no attribute that replaces a broker on a second apply.
- scripts/cloud/print-ami.sh's lookup against a moto server; scripts/drill.sh never applies
  to a cloud.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from riftdrill.cloud import ami
from riftdrill.cloud.render import (
    DATA_DEVICE,
    GCP_DATA_DEVICE,
    properties_from_cloud_init,
    render_cloud_init,
)
from riftdrill.engines.templates import render, templates_dir
from tests.unit.test_cloud_render import AUTOMQ, NODE

ROOT = Path(__file__).resolve().parents[2]
AWS_MAIN = ROOT / "infra" / "modules" / "aws-cluster" / "main.tf"
GCP_MAIN = ROOT / "infra" / "modules" / "gcp-cluster" / "main.tf"
REGION = "eu-west-1"


def _props(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


def _files(doc: str) -> dict[str, str]:
    """write_files of a cloud-init document: path -> content (base64 decoded)."""
    out: dict[str, str] = {}
    for f in yaml.safe_load(doc)["write_files"]:
        content = str(f["content"])
        out[f["path"]] = base64.b64decode(content).decode() if f.get("encoding") == "b64" else content
    return out


def _code(path: Path) -> str:
    """An HCL file without its comment lines: what Terraform reads."""
    return "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))


def _block(text: str, start: str) -> str:
    """The brace-balanced HCL block that opens on the line starting with `start`."""
    i = text.index(start)
    depth = 0
    for j in range(text.index("{", i), len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise AssertionError(f"unbalanced block {start}")


# ---- AutoMQ on object storage -------------------------------------------------------------

def test_automq_runs_on_object_storage() -> None:
    props = _props(properties_from_cloud_init(render_cloud_init("automq", AUTOMQ)))
    assert props["elasticstream.enable"] == "true"  # AutoMQ's default is false: plain Kafka
    assert props["s3.data.buckets"] == AUTOMQ["data_buckets"]
    assert props["s3.ops.buckets"] == AUTOMQ["ops_buckets"]
    assert props["s3.wal.path"].startswith("0@s3://")  # an S3 WAL: no record only on the disk
    kafka = _props(properties_from_cloud_init(render_cloud_init("kafka", NODE)))
    assert "elasticstream.enable" not in kafka


@pytest.mark.parametrize(("module", "query"), [
    ("aws-cluster", "authType=instance"),
    ("gcp-cluster", "pathStyle=true&authType=static"),
])
def test_modules_give_automq_its_bucket_urls(module: str, query: str) -> None:
    main = (ROOT / "infra" / "modules" / module / "main.tf").read_text()
    assert re.search(r'automq_query = ".*' + re.escape(query) + '"', main)
    for key, index in (("data_buckets", "0"), ("ops_buckets", "1"), ("wal_path", "0")):
        assert re.search(rf'{key}\s+= "{index}@s3://\$\{{', main), key


# ---- the data disk ------------------------------------------------------------------------

def test_cloud_init_mounts_the_data_disk_before_the_storage_is_formatted() -> None:
    doc = render_cloud_init("kafka", NODE)
    files = _files(doc)
    install = files["/usr/local/sbin/riftdrill-install"]
    assert install.index("/usr/local/sbin/riftdrill-data-disk") < install.index("kafka-storage.sh format")
    disk = files["/usr/local/sbin/riftdrill-data-disk"]
    assert f"'{DATA_DEVICE}'" in disk
    assert "mnt=/var/lib/riftdrill" in disk
    assert NODE["log_dirs"].startswith("/var/lib/riftdrill/")  # log.dirs is under the mount
    assert "nofail" in disk and "/etc/fstab" in disk
    engine = files["/etc/systemd/system/riftdrill-engine.service"]
    assert "RequiresMountsFor=/var/lib/riftdrill" in engine
    gcp = _files(render_cloud_init("automq", {**AUTOMQ, "data_device": GCP_DATA_DEVICE}))
    assert f"'{GCP_DATA_DEVICE}'" in gcp["/usr/local/sbin/riftdrill-data-disk"]


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def disk_box(tmp_path: Path) -> dict[str, Path]:
    """The data-disk script with its paths moved into tmp_path and every disk command stubbed:
    the device is a file, blkid answers from blkid.rc, mkfs/mount log their calls."""
    bin_dir, dev = tmp_path / "bin", tmp_path / "nvme1n1"
    bin_dir.mkdir()
    dev.write_text("")
    log = tmp_path / "calls.log"
    script = _files(render_cloud_init("kafka", NODE))["/usr/local/sbin/riftdrill-data-disk"]
    script = (script.replace("/var/lib/riftdrill", str(tmp_path / "mnt"))
              .replace("/etc/fstab", str(tmp_path / "fstab"))
              .replace("[ -b ", "[ -e "))  # the stub device is a file, not a block device
    (tmp_path / "fstab").write_text("")
    (tmp_path / "data-disk").write_text(script)
    _stub(bin_dir, "mountpoint", "exit 1\n")
    _stub(bin_dir, "findmnt", "echo /dev/nvme0n1p1\n")
    _stub(bin_dir, "lsblk", 'case "$*" in *PKNAME*) echo nvme0n1 ;; '
                            f"*) printf '/dev/nvme0n1 disk\\n{dev} disk\\n' ;; esac\n")
    _stub(bin_dir, "blkid", f'case "$*" in *"-s UUID"*) cat {tmp_path}/uuid 2>/dev/null ;; '
                            f'*) exit $(cat {tmp_path}/blkid.rc) ;; esac\n')
    _stub(bin_dir, "mkfs.ext4", f'echo "mkfs $*" >> {log}; echo 1234-abcd > {tmp_path}/uuid\n')
    _stub(bin_dir, "mount", f'echo "mount $*" >> {log}\n')
    _stub(bin_dir, "systemctl", "exit 0\n")
    _stub(bin_dir, "sleep", "exit 0\n")
    return {"dir": tmp_path, "bin": bin_dir, "dev": dev, "log": log}


def _run_disk(box: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{box['bin']}:{os.environ['PATH']}"}
    return subprocess.run(["sh", str(box["dir"] / "data-disk")], env=env, capture_output=True,
                          text=True, timeout=30)


def test_a_blank_nitro_disk_is_formatted_and_mounted_with_nofail(disk_box: dict[str, Path]) -> None:
    (disk_box["dir"] / "blkid.rc").write_text("2")  # blkid -p: no signature at all
    res = _run_disk(disk_box)
    assert res.returncode == 0, res.stderr
    calls = disk_box["log"].read_text()
    assert f"-L riftdrill-data {disk_box['dev']}" in calls  # the non-root NVMe disk, not sdf
    assert f"mount {disk_box['dir'] / 'mnt'}" in calls
    fstab = (disk_box["dir"] / "fstab").read_text()
    assert fstab.startswith("UUID=1234-abcd ") and "nofail" in fstab
    _run_disk(disk_box)  # a second boot: no second fstab line
    assert (disk_box["dir"] / "fstab").read_text() == fstab


def test_a_disk_with_a_filesystem_is_never_formatted(disk_box: dict[str, Path]) -> None:
    (disk_box["dir"] / "blkid.rc").write_text("0")
    (disk_box["dir"] / "uuid").write_text("feed-beef")
    res = _run_disk(disk_box)
    assert res.returncode == 0, res.stderr
    assert "mkfs" not in disk_box["log"].read_text()
    assert "UUID=feed-beef " in (disk_box["dir"] / "fstab").read_text()


def test_a_disk_blkid_cannot_judge_is_left_alone(disk_box: dict[str, Path]) -> None:
    (disk_box["dir"] / "blkid.rc").write_text("8")  # ambivalent: several signatures
    res = _run_disk(disk_box)
    assert res.returncode == 1 and "not formatting" in res.stderr
    assert not disk_box["log"].exists()


# ---- the GCP boot race --------------------------------------------------------------------

def _hmac_script(tmp_path: Path, failures: int) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = render(templates_dir() / "cloud-init" / "gcs-hmac-credentials.sh.tftpl",
                    {"secret_path": "projects/p/secrets/s/versions/latest", "access_id": "GOOG1X"})
    script = script.replace("/etc/riftdrill/credentials.env", str(tmp_path / "credentials.env"))
    (tmp_path / "creds.sh").write_text(script)
    (tmp_path / "fails").write_text(str(failures))
    secret = base64.b64encode(b"s3cret").decode()
    _stub(bin_dir, "curl", f"""n=$(cat {tmp_path}/fails)
echo "curl" >> {tmp_path}/curl.log
if [ "$n" -gt 0 ]; then echo $((n - 1)) > {tmp_path}/fails; exit 22; fi
case "$*" in
  *token*) echo '{{"access_token": "tok"}}' ;;
  *) echo '{{"payload": {{"data": "{secret}"}}}}' ;;
esac
""")
    _stub(bin_dir, "sleep", f'echo "$1" >> {tmp_path}/sleeps.log\n')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["sh", str(tmp_path / "creds.sh")], env=env, capture_output=True,
                          text=True, timeout=30)


def test_hmac_fetch_retries_while_iam_propagates(tmp_path: Path) -> None:
    res = _hmac_script(tmp_path, failures=4)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "credentials.env").read_text() == (
        "KAFKA_S3_ACCESS_KEY=GOOG1X\nKAFKA_S3_SECRET_KEY=s3cret\n")
    assert (tmp_path / "sleeps.log").read_text().split() == ["5", "10", "20", "40"]


def test_hmac_fetch_gives_up_after_a_bounded_number_of_attempts(tmp_path: Path) -> None:
    res = _hmac_script(tmp_path, failures=100)
    assert res.returncode != 0 and "giving up after 8 attempts" in res.stderr
    assert len((tmp_path / "curl.log").read_text().split()) == 8
    assert (tmp_path / "sleeps.log").read_text().split() == ["5", "10", "20", "40", "60", "60", "60"]
    assert not (tmp_path / "credentials.env").exists()


def test_a_failed_boot_is_retried_by_a_bounded_unit() -> None:
    doc = render_cloud_init("automq", AUTOMQ)
    unit = _files(doc)["/etc/systemd/system/riftdrill-install.service"]
    assert "Restart=on-failure" in unit and "ExecStart=/usr/local/sbin/riftdrill-install" in unit
    burst = int(re.search(r"StartLimitBurst=(\d+)", unit).group(1))  # type: ignore[union-attr]
    interval = int(re.search(r"StartLimitIntervalSec=(\d+)", unit).group(1))  # type: ignore[union-attr]
    assert 0 < burst <= 30 and interval > 0
    runcmd = yaml.safe_load(doc)["runcmd"]
    assert ["systemctl", "enable", "riftdrill-install.service"] in runcmd
    assert ["systemctl", "start", "--no-block", "riftdrill-install.service"] in runcmd
    assert ["/usr/local/sbin/riftdrill-install"] not in runcmd  # no one-shot run nothing repairs


# ---- the HCL: disks, AMI, no replacement on a second apply --------------------------------

def test_launch_template_maps_the_amis_root_device_and_a_data_volume() -> None:
    lt = _block(_code(AWS_MAIN), 'resource "aws_launch_template" "node"')
    devices = re.findall(r"device_name = (\S+)", lt)
    assert devices == ["data.aws_ami.node.root_device_name", "local.data_device_name"]
    assert f'data_device_name = "{DATA_DEVICE}"' in AWS_MAIN.read_text()
    assert "var.data_volume_size_gb" in lt and lt.count("encrypted             = true") == 2
    assert "image_id      = var.ami_id" in lt


def test_the_ami_is_pinned_by_id() -> None:
    main = _code(AWS_MAIN)
    assert "most_recent" not in main
    data = _block(main, 'data "aws_ami" "node"')
    assert "values = [var.ami_id]" in data and 'name   = "image-id"' in data
    variables = (ROOT / "infra" / "modules" / "aws-cluster" / "variables.tf").read_text()
    assert "default" not in _block(variables, 'variable "ami_id"')  # required
    env = (ROOT / "infra" / "envs" / "aws-gcp" / "main.tf").read_text()
    assert "ami_id                   = var.aws_ami_id" in env


def test_nothing_replaces_a_broker_on_a_second_apply() -> None:
    main = _code(AWS_MAIN)
    assert "latest_version" not in main
    instance = _block(main, 'resource "aws_instance" "node"')
    assert 'version = "$Default"' in instance
    ignored = re.search(r"ignore_changes = \[([^\]]*)\]", instance).group(1)  # type: ignore[union-attr]
    assert {s.strip() for s in ignored.split(",")} >= {"ami", "user_data", "user_data_base64",
                                                      "launch_template"}
    assert "update_default_version = true" in _block(main, 'resource "aws_launch_template" "node"')
    gce = _block(_code(GCP_MAIN), 'resource "google_compute_instance" "node"')
    assert 'metadata["user-data"]' in gce and "boot_disk[0].initialize_params[0].image" in gce


def test_asg_mode_is_gone() -> None:
    infra = "".join(_code(p) for p in (ROOT / "infra").rglob("*.tf"))
    assert "aws_autoscaling_group" not in infra and "broker_asg_enabled" not in infra
    drivers = (ROOT / "src" / "riftdrill" / "drivers" / "aws.py").read_text()
    assert "autoscaling" not in drivers


def test_gce_attaches_the_data_disk_the_cloud_init_looks_for() -> None:
    main = _code(GCP_MAIN)
    gce = _block(main, 'resource "google_compute_instance" "node"')
    attached = _block(gce, "attached_disk")
    assert 'device_name = "data"' in attached and GCP_DATA_DEVICE.endswith("/google-data")
    assert f'data_device = "{GCP_DATA_DEVICE}"' in main
    assert "var.data_disk_size_gb" in _block(main, 'resource "google_compute_disk" "data"')


# ---- print-ami against moto ---------------------------------------------------------------


@pytest.fixture
def ec2(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.DEFAULT_SESSION = None
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset",
                                                  method="POST"), timeout=10).close()
    return boto3.client("ec2", region_name=REGION)


def test_print_ami_finds_the_ubuntu_image_through_describe_images(ec2: Any) -> None:
    owner = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101"
    image = ec2.register_image(Name=name, Architecture="x86_64", RootDeviceName="/dev/sda1",
                               VirtualizationType="hvm")["ImageId"]
    ec2.register_image(Name="ubuntu/images/hvm-ssd-gp3/ubuntu-jammy-22.04-amd64-server-20261101",
                       Architecture="x86_64", RootDeviceName="/dev/sda1")
    found = ami.current_ubuntu_ami(ec2, REGION, owner=owner)
    assert (found.image_id, found.name, found.root_device_name) == (image, name, "/dev/sda1")
    # The CLI the script runs: the id alone, or JSON.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-m", "riftdrill.cloud.ami", "--region", REGION,
                          "--owner", owner, "--json"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["image_id"] == image


def test_print_ami_says_so_when_nothing_matches(ec2: Any) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-m", "riftdrill.cloud.ami", "--region", REGION,
                          "--owner", "000000000000"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "no available image named" in res.stderr


def test_the_newest_available_image_wins() -> None:
    images = [
        {"ImageId": "ami-0000000000000000a", "Name": "a", "CreationDate": "2026-10-01T00:00:00.000Z"},
        {"ImageId": "ami-0000000000000000b", "Name": "b", "CreationDate": "2026-11-20T00:00:00.000Z",
         "RootDeviceName": "/dev/sda1"},
        {"ImageId": "ami-0000000000000000c", "Name": "c", "CreationDate": "2026-12-01T00:00:00.000Z",
         "State": "deregistered"},
    ]
    assert ami.newest_image(images, REGION).image_id == "ami-0000000000000000b"
    with pytest.raises(ami.AmiNotFoundError, match=REGION):
        ami.newest_image([], REGION)


# ---- drill.sh never applies to a cloud ----------------------------------------------------

def _drill(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    calls = tmp_path / "rd-calls.log"
    rd = tmp_path / "rd"
    rd.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    rd.chmod(0o755)
    env = {**os.environ, "RD": str(rd), "PY": sys.executable, "RIFTDRILL_HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "drill.sh"), "", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    return res, calls.read_text() if calls.exists() else ""


def test_a_cloud_drill_without_a_deployment_is_refused(tmp_path: Path) -> None:
    res, calls = _drill(tmp_path, "--target", "aws-gcp")
    assert res.returncode == 2 and "make deploy TARGET=aws-gcp" in res.stderr
    assert calls == ""
    res, calls = _drill(tmp_path, "--target", "aws-gcp", "--engine", "kafka")
    assert res.returncode == 2 and "takes no deploy options" in res.stderr and calls == ""


def test_a_cloud_drill_drills_what_is_deployed_without_applying(tmp_path: Path) -> None:
    from riftdrill import inventory
    from tests.unit.test_cloud_aws import _inventory

    env = {"instance": "i-0123456789abcdef0", "buckets": ["d", "o"],
           "role": "arn:aws:iam::123456789012:role/rd"}
    inventory.save(_inventory(env), tmp_path / ".riftdrill" / "inventory.json")
    res, calls = _drill(tmp_path, "--target", "aws-gcp")
    assert res.returncode == 0, res.stderr
    assert calls.splitlines() == ["heal", "drill --suite"]  # no deploy
