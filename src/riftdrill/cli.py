"""`riftdrill`: deploy, status, faults, heal, destroy (load, drill, verify, report mount here too).

Errors a user can cause print one line and exit 2; every command a script may read has --json.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from riftdrill import faults, inventory
from riftdrill.errors import NotDeployedError, RiftdrillError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Two-cloud Kafka-compatible lab, chaos drills and a replay verifier.")
fault_app = typer.Typer(no_args_is_help=True, help="Inject or heal one fault by hand.")
app.add_typer(fault_app, name="fault")
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


class _Progress:
    """A one-line live view of a long step; silent under --json."""

    SHOWN = ("Creating...", "Creation complete", "Destroying...", "Destruction complete",
             "Still creating", "Still destroying", "Apply complete", "Destroy complete",
             "riftdrill:", "tearing down", "sweeping")

    def __init__(self, enabled: bool, title: str) -> None:
        self.status = err.status(title) if enabled else None
        self.title = title

    def __enter__(self) -> _Progress:
        if self.status:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status:
            self.status.__exit__(None, None, None)

    def __call__(self, line: str) -> None:
        if self.status and any(s in line for s in self.SHOWN):
            self.status.update(f"{self.title}: {line[:110]}")
            if "complete" in line and ":" in line and "Still" not in line:
                err.print(f"  [dim]{line[:140]}[/dim]")


def _warn_stale_faults() -> None:
    """Faults recorded by a process that no longer exists were never healed: say so."""
    try:
        inv = inventory.load()
    except RiftdrillError:
        return
    from riftdrill.lab.procs import pid_alive

    stale = [f for f in inv.faults if f.by_pid and not pid_alive(f.by_pid)]
    if stale:
        names = ", ".join(f"{f.kind}:{f.target}" for f in stale)
        err.print(f"[yellow]warning:[/yellow] {len(stale)} fault(s) left by a process that died: "
                  f"{names}; run `riftdrill heal`")


@app.callback()
def _root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand not in ("heal", "destroy", "deploy", None):
        _warn_stale_faults()


@app.command()
def deploy(
    target: Annotated[str, typer.Option(help="local (the lab here) | aws-gcp")] = "local",
    engine: Annotated[str, typer.Option(help="kafka | tansu (lab); automq | kafka (aws-gcp)")] = "kafka",
    topology: Annotated[str, typer.Option(help="stretched | per-cloud")] = "stretched",
    brokers_per_cloud: Annotated[int, typer.Option(help="brokers in each cloud")] = 2,
    replication_factor: Annotated[int, typer.Option("--rf", help="default topic RF")] = 3,
    min_insync_replicas: Annotated[int, typer.Option("--min-isr")] = 2,
    wan_rate_mbit: Annotated[int | None, typer.Option(help="shape the link (Mbit/s)")] = None,
    wan_latency_ms: Annotated[float | None, typer.Option(help="link latency (needs netem)")] = None,
    dry_run: Annotated[bool, typer.Option(help="aws-gcp: show the plan, change nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Provision the cluster with Terraform and write the inventory (idempotent)."""
    from riftdrill.deploy import DeploySpec
    from riftdrill.deploy import deploy as do_deploy

    spec = DeploySpec(target=target, engine=engine, topology=topology,
                      brokers_per_cloud=brokers_per_cloud, replication_factor=replication_factor,
                      min_insync_replicas=min_insync_replicas, wan_rate_mbit=wan_rate_mbit,
                      wan_latency_ms=wan_latency_ms)
    spec.validate()
    with _Progress(not as_json, f"deploying {engine}/{topology} on {target}") as progress:
        inv = do_deploy(spec, progress, dry_run=dry_run)
    if inv is None:  # a dry run
        if as_json:
            _emit({"dry_run": True})
        return
    if as_json:
        _emit(inv.model_dump())
        return
    _print_status(inv)


@app.command()
def destroy(
    orphans: Annotated[bool, typer.Option(help="also remove labs left by other checkouts")] = False,
    target: Annotated[str, typer.Option(help="local | aws-gcp")] = "local",
    yes: Annotated[bool, typer.Option("--yes", help="aws-gcp: do not ask for confirmation")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tear everything down: processes, namespaces, veths, nft tables, data. No-op if nothing."""
    from riftdrill.deploy import destroy as do_destroy
    from riftdrill.lab.net import preflight

    if target == "aws-gcp":
        from riftdrill.cloud.deploy import destroy as cloud_destroy
        from riftdrill.deploy import workspace

        with _Progress(not as_json, "destroying aws-gcp") as progress:
            done = cloud_destroy(workspace("aws-gcp"), yes, progress)
        if as_json:
            _emit({"target": target, "terraform_destroyed": done})
        else:
            out.print("aws-gcp destroyed" if done else "nothing deployed on aws-gcp")
        return
    if target != "local":
        raise RiftdrillError(f"unknown target {target!r}; choose one of: local, aws-gcp")
    preflight()
    with _Progress(not as_json, "destroying") as progress:
        report = do_destroy(progress, orphans=orphans)
    if as_json:
        _emit(asdict(report))
    elif report.namespaces_removed or report.terraform_destroyed:
        out.print(f"destroyed in {report.seconds:.1f}s: {', '.join(report.namespaces_removed)}")
    else:
        out.print("nothing deployed; nothing to destroy")


def status_data(inv: inventory.Inventory) -> dict[str, Any]:
    from riftdrill.drivers import driver_for

    drv = driver_for(inv)
    severed = {f.target: f.direction for f in inv.faults if f.kind == "sever_link"}
    blocked = {f.target for f in inv.faults if f.kind == "block_object_store"}
    return {
        "target": inv.target, "engine": inv.engine, "engine_version": inv.engine_version,
        "topology": inv.topology,
        "clouds": [c.model_dump() for c in inv.clouds],
        "brokers": [{**b.model_dump(), "state": drv.broker_state(inv, b)} for b in inv.brokers],
        "stores": [{**s.model_dump(), "state": "blocked" if s.name in blocked else "open"}
                   for s in inv.stores],
        "links": [{**lk.model_dump(),
                   "state": f"severed ({severed[lk.name]})" if lk.name in severed else "up"}
                  for lk in inv.links],
        "clusters": [c.model_dump() for c in inv.clusters],
        "mirrors": [m.model_dump() for m in inv.mirrors],
        "faults": [f.model_dump() for f in inv.faults],
    }


def _print_status(inv: inventory.Inventory) -> None:
    data = status_data(inv)
    out.print(f"[bold]{inv.engine} {inv.engine_version}[/bold] · {inv.topology} · target {inv.target}")
    t = Table("broker", "cloud", "cluster", "address", "roles", "state")
    for b in data["brokers"]:
        color = {"running": "green", "paused": "yellow", "dead": "red"}[b["state"]]
        t.add_row(b["name"], b["cloud"], b["cluster"], f"{b['address']}:{b['port']}",
                  ",".join(b["roles"]), f"[{color}]{b['state']}[/{color}]")
    out.print(t)
    t = Table("store", "cloud", "api", "endpoint", "buckets", "state")
    for s in data["stores"]:
        t.add_row(s["name"], s["cloud"], s["api"], s["endpoint"], ",".join(s["buckets"]), s["state"])
    out.print(t)
    for lk in data["links"]:
        latency = ""
        if lk.get("latency_ms"):
            latency = f" latency {lk['latency_ms']} ms" + ("" if lk["latency_emulated"]
                                                           else " (NOT emulated: no netem)")
        out.print(f"link {lk['name']} ({lk['a']} <-> {lk['b']}): {lk['state']}{latency}")
    for c in data["clusters"]:
        for cloud, servers in c["bootstrap"].items():
            out.print(f"bootstrap {c['name']} from {cloud}: {servers}")
    for m in data["mirrors"]:
        out.print(f"mirror {m['name']}: {m['source']} -> {m['target']} topics {m['topics']}")
    if data["faults"]:
        t = Table("active fault", "kind", "target", "direction", "since")
        for f in data["faults"]:
            t.add_row(f["id"], f["kind"], f["target"], f["direction"], f["started_at"])
        out.print(t)
    else:
        out.print("no active faults")


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """What is deployed: clouds, brokers alive/dead, stores, link state, active faults."""
    try:
        inv = inventory.load()
    except NotDeployedError:
        from riftdrill.deploy import workspace

        cloud_ws = workspace("aws-gcp")
        if cloud_ws.has_state():
            # A partial cloud apply leaves no inventory: show what exists so it can be destroyed.
            from riftdrill.cloud.status import existing_resources

            resources = existing_resources(cloud_ws.show())
            if as_json:
                _emit({"deployed": "partial", "target": "aws-gcp", "resources": resources})
                return
            out.print(f"aws-gcp: partial deployment, {len(resources)} resource(s) exist "
                      "(`riftdrill destroy --target aws-gcp` removes them):")
            for address in resources:
                out.print(f"  {address}")
            return
        if as_json:
            _emit({"deployed": False})
            return
        out.print("nothing deployed (run `make deploy`)")
        return
    if as_json:
        _emit({"deployed": True, **status_data(inv)})
    else:
        _print_status(inv)


@app.command()
def heal(as_json: JsonOpt = False) -> None:
    """Undo every fault recorded in the inventory."""
    healed = faults.heal_all()
    if as_json:
        _emit({"healed": [f.model_dump() for f in healed]})
    else:
        out.print(f"healed {len(healed)} fault(s)" +
                  (": " + ", ".join(f"{f.kind}:{f.target}" for f in healed) if healed else ""))


@app.command()
def smoke(as_json: JsonOpt = False) -> None:
    """Produce and consume one record with a real Kafka client from inside each cloud."""
    import subprocess

    inv = inventory.load()
    results: list[dict[str, Any]] = []
    for cloud in inv.clouds:
        cluster = inv.cluster_of(cloud.name)
        rf = min(inv.replication_factor, len(cluster.brokers))
        cmd = [sys.executable, "-m", "riftdrill.lab", "roundtrip", inv.bootstrap(cloud.name), str(rf)]
        if cloud.namespace:
            cmd = ["ip", "netns", "exec", cloud.namespace, *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        results.append({"cloud": cloud.name, "ok": proc.returncode == 0,
                        "detail": (proc.stdout + proc.stderr).strip()})
    if as_json:
        _emit(results)
    else:
        for r in results:
            out.print(f"{r['cloud']}: {'[green]ok[/green]' if r['ok'] else '[red]FAILED[/red]'} "
                      f"{r['detail']}")
    if not all(r["ok"] for r in results):
        raise RiftdrillError("smoke test failed in: "
                             + ", ".join(r["cloud"] for r in results if not r["ok"]))


def _fault_done(what: str, as_json: bool, fault: Any = None) -> None:
    if as_json:
        _emit({"ok": True, "action": what, "fault": fault.model_dump() if fault else None})
    else:
        out.print(what + (f" (fault {fault.id})" if fault else ""))


@fault_app.command("kill")
def fault_kill(broker: str, as_json: JsonOpt = False) -> None:
    """SIGKILL a broker (name or node id)."""
    _fault_done(f"killed {broker}", as_json, faults.kill_broker(broker))


@fault_app.command("pause")
def fault_pause(broker: str, as_json: JsonOpt = False) -> None:
    """SIGSTOP a broker: alive to the kernel, silent to its peers."""
    _fault_done(f"paused {broker}", as_json, faults.pause_broker(broker))


@fault_app.command("resume")
def fault_resume(broker: str, as_json: JsonOpt = False) -> None:
    faults.resume_broker(broker)
    _fault_done(f"resumed {broker}", as_json)


@fault_app.command("restart")
def fault_restart(broker: str, as_json: JsonOpt = False) -> None:
    """Bring a killed or paused broker back."""
    faults.restart_broker(broker)
    _fault_done(f"restarted {broker}", as_json)


@fault_app.command("sever")
def fault_sever(
    link: Annotated[str | None, typer.Argument()] = None,
    direction: Annotated[str, typer.Option(help="both | a-to-b | b-to-a")] = "both",
    as_json: JsonOpt = False,
) -> None:
    """Cut the cross-cloud link (both ways, or one way for an asymmetric partition)."""
    if direction not in ("both", "a-to-b", "b-to-a"):
        raise RiftdrillError(f"unknown direction {direction!r}; use both, a-to-b or b-to-a")
    _fault_done(f"severed {link or 'link'} ({direction})", as_json,
                faults.sever_link(link, direction))  # type: ignore[arg-type]


@fault_app.command("heal-link")
def fault_heal_link(link: Annotated[str | None, typer.Argument()] = None,
                    as_json: JsonOpt = False) -> None:
    faults.heal_link(link)
    _fault_done(f"healed {link or 'link'}", as_json)


@fault_app.command("block-store")
def fault_block(store: str, as_json: JsonOpt = False) -> None:
    """Drop all traffic to one cloud's object store (name or cloud)."""
    _fault_done(f"blocked {store}", as_json, faults.block_object_store(store))


@fault_app.command("unblock-store")
def fault_unblock(store: str, as_json: JsonOpt = False) -> None:
    faults.unblock_object_store(store)
    _fault_done(f"unblocked {store}", as_json)


@app.command()
def compare(
    engine: Annotated[list[str] | None, typer.Option("--engine", help="default: kafka tansu")] = None,
    experiment: Annotated[list[str] | None, typer.Option("--experiment", help="drills to run")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="drill variable k=v")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the same drills on kafka and tansu, time a broker replacement, render side by side."""
    from riftdrill.compare import COMPARE_EXPERIMENTS, run_compare
    from riftdrill.deploy import ENGINES

    progress = (lambda line: None) if as_json else (lambda line: err.print(line))
    compare_dir = run_compare(tuple(engine or ENGINES), tuple(experiment or COMPARE_EXPERIMENTS),
                              var or [], progress=progress)
    if as_json:
        _emit({"compare": str(compare_dir)})
    else:
        out.print(f"comparison: {compare_dir}")


def _mount_optional() -> None:
    """Sub-apps of other packages, mounted when present."""
    import importlib

    for module, name in (("riftdrill.load.cli", "load"), ("riftdrill.verify.cli", "verify"),
                         ("riftdrill.chaos.cli", "drill"), ("riftdrill.report.cli", "report")):
        try:
            sub = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        if isinstance(getattr(sub, "app", None), typer.Typer):
            app.add_typer(sub.app, name=name)
        elif callable(getattr(sub, "command", None)):
            app.command(name)(sub.command)


def main() -> None:
    _mount_optional()
    try:
        rc = app(standalone_mode=False)
        # Without standalone mode click returns a sub-command's typer.Exit code instead of exiting.
        sys.exit(rc if isinstance(rc, int) else 0)
    except RiftdrillError as exc:
        # Plain print: rich would wrap the one line at the terminal width.
        print(f"riftdrill: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("riftdrill: interrupted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("riftdrill: interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
