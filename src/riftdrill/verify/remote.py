"""The verifier on a cloud target: the final read on a load VM, the judgement here.

The ledgers are on the operator's machine (riftdrill.load.remote brought them back); only a
load VM reaches the brokers. `verify_remote` sends one VM the question (which clusters and
topics the ledgers wrote to), the VM answers with verify/final_read.py (fences, replay,
presence) through the carrier bucket, and `verify_run` judges those answers here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from riftdrill.cloud.transport import NodeAccess
from riftdrill.errors import RiftdrillError
from riftdrill.inventory import Inventory
from riftdrill.load.ledger import ProducerLedger
from riftdrill.load.remote import (
    Bundle,
    access_for,
    final_read_script,
    operator_bundle,
    require_remote,
    run_url,
    stage_bundle,
)
from riftdrill.load.spec import LoadSpec
from riftdrill.verify import final_read
from riftdrill.verify.final_read import ClusterRead, FinalReadRequest
from riftdrill.verify.report import VerifyReport
from riftdrill.verify.verifier import ledger_heads, verify_run

FINAL_READ_TIMEOUT_S = 900.0



def final_read_request(run_dir: Path, inv: Inventory) -> FinalReadRequest:
    """What the VM must read: the clusters and topics the ledgers wrote to (as verify_run
    reads them), and the partition count the run's topic was made with."""
    heads = ledger_heads(run_dir, inv)
    topics: dict[str, set[str]] = {}
    for h in heads:
        topics.setdefault(h.cluster, set()).update(h.topics)
    starts = [h.schedule_start_ns for h in heads]
    since_ns = min(starts) if starts and all(starts) else 0
    spec_file = run_dir / "load" / "spec.json"
    spec = LoadSpec.from_json(json.loads(spec_file.read_text())) if spec_file.exists() else None
    partitions = {spec.topic: spec.partitions} if spec else {}
    return FinalReadRequest(
        clusters={c: ClusterRead(topics=sorted(t), since_ns=since_ns) for c, t in topics.items()},
        partitions=partitions)


def verify_remote(run_dir: Path, inv: Inventory, access: Mapping[str, NodeAccess],
                  bundle: Bundle, cloud: str | None = None,
                  timeout_s: float = FINAL_READ_TIMEOUT_S,
                  clusters: Sequence[str] | None = None,
                  producers: Sequence[ProducerLedger] | None = None) -> VerifyReport:
    """verify_run over the ledgers in `run_dir`, with the final read done on the load VM of
    `cloud` (default: the first cloud that has one). Returns the VerifyReport."""
    if not inv.load_nodes:
        raise RiftdrillError("the inventory lists no load VM; re-apply the env to create them")
    node = inv.load_node(cloud) if cloud else inv.load_nodes[0]
    require_remote(inv, [node.cloud])
    a = access[node.cloud]
    run = run_dir.name
    here = run_dir / "load" / "remote" / "final-read"
    here.mkdir(parents=True, exist_ok=True)
    (here / "request.json").write_text(final_read_request(run_dir, inv).model_dump_json(indent=1))
    (here / "inventory.json").write_text(inv.model_dump_json(indent=1) + "\n")
    stage_bundle(node, a, bundle)
    a.carrier.put(here / "inventory.json", run_url(node, run, "inventory.json"))
    a.carrier.put(here / "request.json", run_url(node, run, "final-read/request.json"))
    r = a.transport.run(node, final_read_script(node, bundle, run), timeout_s)
    if r.status != "success":
        last = (r.stderr.strip() or r.stdout.strip() or f"exit {r.exit_code}").splitlines()[-1]
        raise RiftdrillError(f"the final read on the {node.cloud} load VM {r.status}: {last}")
    a.carrier.get(run_url(node, run, "final-read/result.npz"), here / "result.npz")
    shipped = final_read.load(here / "result.npz")
    return verify_run(run_dir, inv, clusters=clusters, replay=shipped.replay(),
                      fence=shipped.fence(), presence=shipped.presence(), producers=producers)


def verify_on_vms(run_dir: Path, inv: Inventory, clusters: Sequence[str] | None = None,
                  producers: Sequence[ProducerLedger] | None = None) -> VerifyReport:
    """What `riftdrill verify` and the drills run on a cloud target with load VMs."""
    from riftdrill import paths

    bundle = operator_bundle(paths.state_dir() / "load-bundle")
    return verify_remote(run_dir, inv, access_for(inv), bundle, clusters=clusters,
                         producers=producers)
