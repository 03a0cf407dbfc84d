"""How riftdrill reaches a cloud target's load VMs: a transport runs a shell script on a VM, a
carrier moves files between the operator and the VM through the deployment's bucket.

- AWS: SSM Run Command (`AWS-RunShellScript`), S3. The agent runs the script itself, so a run
  survives the operator's connection; Run Command returns at most 24 000 characters of output,
  which is why results travel through the bucket, never through stdout.
- GCP: `gcloud compute ssh --tunnel-through-iap` (IAP TCP forwarding, OS Login), GCS.

Everything above (riftdrill.load.remote) sees only the two protocols, so its tests use
moto for SSM/S3 and a fake for GCP.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from riftdrill.errors import RiftdrillError
from riftdrill.inventory import LoadNode

CommandStatus = Literal["success", "failed", "timed-out"]
SSM_DOCUMENT = "AWS-RunShellScript"
SSM_POLL_S = 2.0
SSM_PENDING = ("Pending", "InProgress", "Delayed")
SCRIPT_END = "RIFTDRILL_SCRIPT_END"
# The script arrives on stdin: saved to a file first, so nothing it runs can read the rest of it.
IAP_REMOTE_COMMAND = ('f=$(mktemp /tmp/riftdrill-XXXXXX.sh) && cat > "$f" && '
                      'sudo bash "$f" < /dev/null; rc=$?; rm -f "$f"; exit $rc')


class TransportError(RiftdrillError):
    """A load VM could not be reached or did not run what it was sent."""


@dataclass(frozen=True)
class CommandResult:
    status: CommandStatus
    exit_code: int
    stdout: str  # what the transport returned of it (SSM: the first 24 000 characters)
    stderr: str


class Transport(Protocol):
    def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
        """Run `script` (bash, as root) on `node`; returns once it ended or `timeout_s` passed."""
        ...


class Carrier(Protocol):
    def put(self, path: Path, url: str) -> None: ...

    def get(self, url: str, path: Path) -> None:
        """Raises TransportError when the object does not exist."""
        ...

    def exists(self, url: str) -> bool: ...


def split_url(url: str, scheme: Literal["s3", "gs"]) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    u = urlparse(url)
    if u.scheme != scheme or not u.netloc:
        raise RiftdrillError(f"{url!r} is not a {scheme}:// object URL")
    return u.netloc, u.path.lstrip("/")


# -- AWS ------------------------------------------------------------------------------------


class SsmTransport:
    """SSM Run Command: send, then poll the invocation until it ended."""

    def __init__(self, ssm: Any, poll_s: float = SSM_POLL_S,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ssm = ssm
        self.poll_s = poll_s
        self.sleep = sleep
        self.clock = clock

    def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
        try:
            sent = self.ssm.send_command(
                InstanceIds=[node.handle], DocumentName=SSM_DOCUMENT,
                Comment=f"riftdrill load node {node.name}"[:100],
                Parameters={"commands": [ssm_command(script)],
                            "executionTimeout": [str(int(timeout_s))]},
                TimeoutSeconds=max(30, int(timeout_s)),  # to be delivered; the agent may be late
            )  # fmt: skip
        except Exception as exc:  # botocore's errors name the cause (instance not managed, ...)
            raise TransportError(f"SSM could not send the command to {node.name} "
                                 f"({node.handle}): {exc}") from exc
        command_id = sent["Command"]["CommandId"]
        deadline = self.clock() + timeout_s + 60  # the agent's own timeout ends it first
        while True:
            try:
                inv = self.ssm.get_command_invocation(CommandId=command_id,
                                                      InstanceId=node.handle)
            except self.ssm.exceptions.InvocationDoesNotExist:
                inv = {"Status": "Pending"}  # not registered yet: SSM is eventually consistent
            status = inv.get("Status", "Pending")
            if status not in SSM_PENDING:
                return _ssm_result(inv)
            if self.clock() > deadline:
                self.ssm.cancel_command(CommandId=command_id, InstanceIds=[node.handle])
                return CommandResult("timed-out", -1, inv.get("StandardOutputContent", ""),
                                     inv.get("StandardErrorContent", ""))
            self.sleep(self.poll_s)


def ssm_command(script: str) -> str:
    """The script as one AWS-RunShellScript command, run by bash whatever shell the agent
    uses (the scripts use bash's pipefail)."""
    if SCRIPT_END in script:
        raise RiftdrillError("a load node script may not contain its own end marker")
    # A file, not `bash -s`: a command in the script that reads stdin would eat the script.
    return (f'f=$(mktemp /tmp/riftdrill-XXXXXX.sh)\ncat > "$f" <<\'{SCRIPT_END}\'\n{script}\n'
            f'{SCRIPT_END}\nbash "$f" < /dev/null; rc=$?\nrm -f "$f"\nexit $rc')


def _ssm_result(inv: dict[str, Any]) -> CommandResult:
    status = inv["Status"]
    code = int(inv.get("ResponseCode", -1))
    kind: CommandStatus = ("success" if status == "Success" else
                           "timed-out" if status == "TimedOut" else "failed")
    return CommandResult(kind, code, inv.get("StandardOutputContent", ""),
                         inv.get("StandardErrorContent", ""))


class S3Carrier:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def put(self, path: Path, url: str) -> None:
        bucket, key = split_url(url, "s3")
        self.s3.upload_file(str(path), bucket, key)

    def get(self, url: str, path: Path) -> None:
        bucket, key = split_url(url, "s3")
        if not self.exists(url):
            raise TransportError(f"{url} does not exist: the load VM did not upload it")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(path))

    def exists(self, url: str) -> bool:
        bucket, key = split_url(url, "s3")
        found = self.s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        return any(o["Key"] == key for o in found)


# -- GCP ------------------------------------------------------------------------------------

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def gce_instance(handle: str) -> tuple[str, str, str]:
    """`projects/<p>/zones/<z>/instances/<name>` -> (project, zone, name)."""
    parts = handle.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "zones" or parts[4] != "instances":
        raise RiftdrillError(f"load node handle {handle!r} is not "
                             "projects/<project>/zones/<zone>/instances/<name>")
    return parts[1], parts[3], parts[5]


def iap_ssh_command(node: LoadNode, gcloud: str = "gcloud") -> list[str]:
    project, zone, name = gce_instance(node.handle)
    return [gcloud, "compute", "ssh", name, f"--project={project}", f"--zone={zone}",
            "--tunnel-through-iap", "--quiet", f"--command={IAP_REMOTE_COMMAND}"]


class IapTransport:
    """`gcloud compute ssh --tunnel-through-iap`, the script on stdin. The session lasts as
    long as the script: IAP is the operator's path, independent of the link a drill severs."""

    def __init__(self, runner: Runner = subprocess.run, gcloud: str = "gcloud") -> None:
        self.runner = runner
        self.gcloud = gcloud

    def run(self, node: LoadNode, script: str, timeout_s: float) -> CommandResult:
        cmd = iap_ssh_command(node, self.gcloud)
        try:
            done = self.runner(cmd, input=script, text=True, capture_output=True,
                               timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            return CommandResult("timed-out", -1, _text(exc.stdout), _text(exc.stderr))
        except FileNotFoundError as exc:
            raise TransportError(f"{self.gcloud} is not installed: the GCP load VM is reached "
                                 "with `gcloud compute ssh --tunnel-through-iap`") from exc
        if done.returncode == 255:  # ssh's own failure: IAP, OS Login, firewall
            raise TransportError(f"IAP ssh to {node.name} failed: "
                                 f"{_last_line(done.stderr) or 'exit 255'}")
        return CommandResult("success" if done.returncode == 0 else "failed", done.returncode,
                             done.stdout, done.stderr)


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


class GcsCarrier:
    """google-cloud-storage's client (the one the GCP driver uses)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _blob(self, url: str) -> Any:
        bucket, key = split_url(url, "gs")
        return self.client.bucket(bucket).blob(key)

    def put(self, path: Path, url: str) -> None:
        self._blob(url).upload_from_filename(str(path))

    def get(self, url: str, path: Path) -> None:
        blob = self._blob(url)
        if not blob.exists():
            raise TransportError(f"{url} does not exist: the load VM did not upload it")
        path.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(path))

    def exists(self, url: str) -> bool:
        return bool(self._blob(url).exists())


@dataclass(frozen=True)
class NodeAccess:
    """What reaches one cloud's load VM."""

    transport: Transport
    carrier: Carrier


def default_access(node: LoadNode, region: str | None = None) -> NodeAccess:
    """The real clients for `node` (credentials from the environment, as the drivers take them)."""
    if node.transport == "ssm":
        import boto3

        return NodeAccess(SsmTransport(boto3.client("ssm", region_name=region)),
                          S3Carrier(boto3.client("s3", region_name=region)))
    from google.cloud import storage  # type: ignore[attr-defined]

    project, _, _ = gce_instance(node.handle)
    return NodeAccess(IapTransport(), GcsCarrier(storage.Client(project=project)))


def shell_copy(node: LoadNode, src: str, dst: str) -> str:
    """The VM-side command that copies one object or file (either end may be a bucket URL; a
    path may start with the script's `$work`)."""
    if node.transport == "ssm":
        return f"aws s3 cp --only-show-errors {_word(src)} {_word(dst)}"
    return f"gcloud storage cp --quiet {_word(src)} {_word(dst)}"


def _word(word: str) -> str:
    if word.startswith("$work/") and '"' not in word and "`" not in word:
        return f'"{word}"'  # expands $work, nothing else of ours contains $
    return shlex.quote(word)
