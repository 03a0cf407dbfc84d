"""A hub run verified: observe the end (hub/observe.py), judge it row by row (verify/hub.py).

A run with producer ledgers gets its hub report beside the partitions' (verifier.py); a run
with only the hub's workload is verified here alone.
"""

from __future__ import annotations

from pathlib import Path

from riftdrill.errors import RiftdrillError
from riftdrill.hub.observe import FENCE_WAIT_S, observe
from riftdrill.hub.pipeline import DatabaseRef
from riftdrill.hub.rows import read_rows, rows_path
from riftdrill.inventory import Inventory
from riftdrill.security.client import client_security
from riftdrill.verify.contract import run_contract
from riftdrill.verify.hub import HubReport, check_hub
from riftdrill.verify.report import VerifyReport


def has_hub_ledger(run_dir: Path) -> bool:
    return rows_path(run_dir).is_file()


def check_hub_run(run_dir: Path, inv: Inventory, deadline_s: float = FENCE_WAIT_S) -> HubReport:
    hub = inv.require_hub()
    ledger = read_rows(rows_path(run_dir))
    src, dst = hub.database("source"), hub.database("sink")
    table = ledger.header.table
    seen = observe(DatabaseRef(src.address, src.port, src.dbname),
                   DatabaseRef(dst.address, dst.port, dst.dbname), table,
                   ledger.header.fence_id, inv.bootstrap(src.cloud),
                   f"{hub.topic_prefix}.public.{table}", f"connect-{hub.sink_connector}",
                   deadline_s, client_security(inv.security, "verifier"))
    return check_hub(ledger.changes, seen.source, seen.target, seen.cdc, seen.fence)


def verify_hub_only(run_dir: Path, inv: Inventory,
                    deadline_s: float = FENCE_WAIT_S) -> VerifyReport:
    """A run whose only load is the hub's workload."""
    if not has_hub_ledger(run_dir):
        raise RiftdrillError(f"{rows_path(run_dir)} does not exist: this run has no hub "
                             "workload to verify; run one with `riftdrill hub load`")
    hub = inv.require_hub()
    report = VerifyReport(run_dir=str(run_dir), clusters=[c.name for c in inv.clusters])
    report.hub = check_hub_run(run_dir, inv, deadline_s)
    contract = run_contract([], consumers_checked=False, connector_delivery=hub.delivery)
    return report.finish(contract)
