"""`riftdrill compare` / `make compare`: the same drills on each deployment pattern.

A setup is an engine in a topology (`report.compare.SETUPS`): stretched kafka (one cluster over
both clouds), kafka per cloud joined by MirrorMaker 2, and shared-storage tansu. For each setup:
deploy the lab with it over the same cross-cloud link, run the drills with the same load, then
replace a broker (kill it, give it an empty disk, start it) and time until it serves its share
again, counting the log bytes copied onto it. The runs and replacements become one
results/compare/<id>/ rendered side by side.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from riftdrill import faults, inventory, paths
from riftdrill.deploy import DEFAULT_WAN, DeploySpec, one_security
from riftdrill.deploy import deploy_lab as deploy
from riftdrill.drivers import redactor_for
from riftdrill.errors import ValidationError
from riftdrill.inventory import Broker, Inventory
from riftdrill.report.compare import SETUPS, BrokerReplacement, Setup, setup_name
from riftdrill.security.client import client_security

COMPARE_EXPERIMENTS = ("broker-kill", "link-sever", "object-store-outage")
DEFAULT_SETUPS = tuple(SETUPS)  # every pattern the lab builds


def resolve_setups(names: tuple[str, ...]) -> tuple[Setup, ...]:
    """The named setups, in order, each once; an unknown name is a ValidationError."""
    out: list[Setup] = []
    for name in names:
        if name not in SETUPS:
            raise ValidationError(f"unknown setup {name!r}; choose from: {', '.join(SETUPS)}")
        if SETUPS[name] not in out:
            out.append(SETUPS[name])
    return tuple(out)


def _dir_bytes(path: Path) -> int:
    """Bytes actually written: Kafka preallocates sparse index files, so sizes would overstate."""
    if not path.exists():
        return 0
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def _kafka_in_sync(inv: Inventory, broker: Broker) -> bool:
    """Every partition with a replica on `broker` has it back in the ISR."""
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": inv.bootstrap(broker.cloud),
                      **client_security(inv.security, "verifier").librdkafka()}
                     ).list_topics(timeout=10)
    if broker.id not in md.brokers:
        return False
    return all(broker.id in p.isrs for t in md.topics.values() for p in t.partitions.values()
               if broker.id in p.replicas)


def replace_broker(inv: Inventory, timeout_s: float = 180) -> BrokerReplacement:
    from riftdrill.engines import kafka
    from riftdrill.lab.health import round_trip
    from riftdrill.security import credentials

    setup = setup_name(inv.engine, inv.topology)
    admin = client_security(inv.security, "broker")  # the lab's own check: the super user
    broker = inv.brokers_in("gcp")[-1]
    data_dir = paths.lab_dir() / "data" / f"broker-{broker.name}"
    started = time.monotonic()
    # This process owns the fault: if it dies before the restart, commands warn about it.
    faults.kill_broker(broker, owner_pid=os.getpid())
    if inv.engine == "kafka":
        # A fresh machine: the disk is gone, the node keeps its id and re-joins empty.
        shutil.rmtree(data_dir, ignore_errors=True)
        config = paths.lab_dir() / "config" / f"broker-{broker.name}.properties"
        # A controller's bootstrap metadata carries the SCRAM credentials (engines/kafka.py).
        scram = (credentials.scram_credentials(credentials.Secrets(Path(inv.security.secrets_dir)))
                 if inv.security.enabled and "controller" in broker.roles else [])
        kafka.format_storage(broker.name, data_dir, config, broker.cluster, scram)
    faults.restart_broker(inv, broker)
    deadline = started + timeout_s
    note = ""
    while True:
        try:
            if inv.engine == "kafka":
                ready = _kafka_in_sync(inv, broker)
                note = "in the ISR of every partition it hosts"
            else:
                round_trip(broker.bootstrap, 1, timeout_s=10, security=admin)
                ready, note = True, "serves a produce/consume round trip (stateless: no catch-up)"
        except Exception:
            ready = False
        if ready:
            break
        if time.monotonic() > deadline:
            return BrokerReplacement(engine=inv.engine, setup=setup, broker=broker.name,
                                     replacement_s=None,
                                     bytes_moved=_dir_bytes(data_dir),
                                     note=f"not serving after {timeout_s:.0f} s")
        time.sleep(0.5)
    moved = _dir_bytes(data_dir) if inv.engine == "kafka" else 0
    return BrokerReplacement(engine=inv.engine, setup=setup, broker=broker.name,
                             replacement_s=round(time.monotonic() - started, 1), bytes_moved=moved,
                             note=note)


def run_compare(setups: tuple[Setup, ...], experiments: tuple[str, ...] = COMPARE_EXPERIMENTS,
                var_items: list[str] | None = None, wan: str | None = None,
                compare_id: str | None = None,
                progress: Callable[[str], None] = print) -> Path:
    from riftdrill.chaos.runner import plan_drill, run_drill
    from riftdrill.report.compare import build_compare, write_compare
    from riftdrill.report.cost import load_prices
    from riftdrill.report.render import render_compare
    from riftdrill.report.runs import load_run

    wan = wan or DEFAULT_WAN
    # Like with like: every setup in one security mode (open if any engine cannot be secured).
    specs = one_security([DeploySpec(engine=s.engine, topology=s.topology, wan=wan)
                          for s in setups])
    for spec in specs:
        spec.validate()  # every setup and the link, before anything is deployed
    for exp in experiments:
        plan_drill(exp, var_items)  # an unknown drill or variable fails before the first deploy
    if specs:  # said once the input is known good: a refusal stays one line
        progress(f"compare: every setup with security {specs[0].security}")
    compare_id = compare_id or "compare-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dirs: list[Path] = []
    replacements: list[BrokerReplacement] = []
    for setup, spec in zip(setups, specs, strict=True):
        progress(f"compare: deploying {setup.name} ({setup.pattern}; link {wan})")
        deploy(spec)
        faults.heal_all()
        for exp in experiments:
            progress(f"compare: {setup.name}: drill {exp}")
            result = run_drill(plan_drill(exp, var_items), echo=False)
            run_dirs.append(result.run_dir)
        progress(f"compare: {setup.name}: broker replacement")
        replacements.append(replace_broker(inventory.load()))
    doc = build_compare(compare_id, [load_run(d, need_timeline=False) for d in run_dirs],
                        title=f"{' vs '.join(s.name for s in setups)}: {', '.join(experiments)}"
                              f" (link {wan})")
    doc.replacements = replacements
    out = write_compare(doc, paths.results_dir(), redactor_for(inventory.load()))
    render_compare(out if out.is_dir() else out.parent, load_prices())
    return out
