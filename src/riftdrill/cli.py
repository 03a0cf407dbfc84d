"""`riftdrill`: deploy, status, faults, heal, destroy (load, drill, verify, report mount here too).

Errors a user can cause print one line and exit 2 (usage errors too: `RiftdrillGroup.main`);
every command a script may read has --json, one JSON shape per command.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import NoArgsIsHelpError  # typer 0.29 vendors click
from typer.core import TyperGroup

from riftdrill import faults, inventory
from riftdrill.errors import NotDeployedError, RiftdrillError
from riftdrill.inventory import (
    ConnectorDelivery,
    Direction,
    Engine,
    LabEngine,
    Role,
    SecurityMode,
    SetupName,
    Target,
    Topology,
)

if TYPE_CHECKING:
    from riftdrill.cloud.status import Leftovers

EXIT_CODES = ("Exit codes: 0 ok; 1 a verdict failed (drill, verify, smoke, report --figures "
              "--check); 2 bad input: one line on stderr naming the problem and the fix; "
              "130 interrupted (a drill heals its faults first).")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _choice_message(exc: typer.TyperException) -> str | None:
    """A bad choice in the project's words: `unknown engine 'x'; choose one of: kafka, ...`."""
    param = getattr(exc, "param", None)
    descriptor = getattr(param, "type_descriptor", None)
    errors = getattr(exc.__cause__, "errors", None)  # typer validates with pydantic
    if param is None or descriptor is None or not descriptor.is_choice or errors is None:
        return None
    value = errors()[0].get("input")
    name = (param.name or "value").replace("_", " ")
    return f"unknown {name} {value!r}; choose one of: {', '.join(map(str, descriptor.choices))}"


def usage_line(exc: typer.TyperException) -> str:
    """A click/typer usage error as one line naming the problem and where the help is."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else " (see --help)"
    message = (_choice_message(exc) or exc.format_message()).rstrip(".")
    return _one_line(f"riftdrill: error: {message}{hint}")


class RiftdrillGroup(TyperGroup):
    """The root command: every way out is an exit code, bad input is one line (exit 2).

    Done here rather than in `main()` so that click's test runner sees the same behaviour."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            # Not standalone: click would print usage errors as a multi-line box.
            rc = super().main(args, prog_name, complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except RiftdrillError as exc:
            # Plain print: rich would wrap the one line at the terminal width.
            print(f"riftdrill: error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except NoArgsIsHelpError as exc:  # `riftdrill`, `riftdrill fault`: the help, exit 2
            exc.show()
            sys.exit(2)
        except typer.TyperException as exc:  # click's usage errors
            print(usage_line(exc), file=sys.stderr)
            sys.exit(2)
        except (typer.Abort, KeyboardInterrupt):
            print("riftdrill: interrupted", file=sys.stderr)
            sys.exit(130)
        # Not standalone, click returns the code of a typer.Exit instead of exiting.
        sys.exit(rc if isinstance(rc, int) else 0)


def _package_version() -> str:
    try:
        return version("riftdrill")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


# Markdown: help paragraphs are wrapped to the terminal, not at the docstrings' line breaks.
app = typer.Typer(cls=RiftdrillGroup, name="riftdrill", no_args_is_help=True,
                  rich_markup_mode="markdown", epilog=EXIT_CODES,
                  help="Two-cloud Kafka-compatible lab, chaos drills and a replay verifier.")
fault_app = typer.Typer(no_args_is_help=True, help="Inject or heal one fault by hand.")
app.add_typer(fault_app, name="fault")
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
if TYPE_CHECKING:
    LabEngineChoice = str
    SetupChoice = str
    RoleChoice = str
else:  # typer takes list[Enum] but not list[Literal]: the Literal's values as an Enum
    LabEngineChoice = StrEnum("LabEngineChoice", [(e, e) for e in get_args(LabEngine)])
    SetupChoice = StrEnum("SetupChoice", [(e, e) for e in get_args(SetupName)])
    RoleChoice = StrEnum("RoleChoice", [(e, e) for e in get_args(Role)])
BrokerArg = Annotated[str, typer.Argument(help="The broker: its name (e.g. aws-1) or node id.")]
LinkArg = Annotated[str | None, typer.Argument(
    help="The cross-cloud link's name (default: the only link).")]
StoreArg = Annotated[str, typer.Argument(help="The object store: its name or its cloud's.")]


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


def _print_version(value: bool) -> None:
    if value:
        print(f"riftdrill {_package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    _version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print riftdrill's version and exit.")] = False,
) -> None:
    if ctx.invoked_subcommand not in ("heal", "destroy", "deploy", None):
        _warn_stale_faults()


@app.command()
def deploy(
    target: Annotated[Target | None, typer.Option(help="the lab on this machine, or aws-gcp")] = None,
    engine: Annotated[Engine | None, typer.Option(
        help="kafka or tansu (local); automq or kafka (aws-gcp)")] = None,
    topology: Annotated[Topology | None, typer.Option(
        help="one cluster over both clouds, or one per cloud")] = None,
    brokers_per_cloud: Annotated[int | None, typer.Option(help="brokers in each cloud")] = None,
    replication_factor: Annotated[int | None, typer.Option(
        "--rf", help="default topic replication factor")] = None,
    min_insync_replicas: Annotated[int | None, typer.Option(
        "--min-isr", help="min.insync.replicas of topics")] = None,
    wan: Annotated[str | None, typer.Option(
        help="the cross-cloud link's weather (local): inter-region (default), metro, none, or "
             "latency=25ms,jitter=5ms,loss=0%,rate=1000mbit")] = None,
    hub_delivery: Annotated[ConnectorDelivery | None, typer.Option(
        help="topology hub: the CDC source's delivery; exactly-once is KIP-618 (transactions), "
             "and the verdict then fails a change read twice")] = None,
    security: Annotated[SecurityMode | None, typer.Option(
        help="sasl-tls: TLS on every listener, SASL/SCRAM-SHA-512, ACLs per principal "
             "(docs/security.md); off: plaintext (the default for now)")] = None,
    dry_run: Annotated[bool, typer.Option(help="aws-gcp: show the plan, change nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Provision the cluster with Terraform and write the inventory (idempotent).

    Options left out keep what is deployed. Nothing deployed: local kafka, stretched, 2 brokers
    per cloud, RF 3, min ISR 2 (aws-gcp: terraform.tfvars, else the env's defaults).

    An option that differs from the deployed lab is named on stderr, then the lab is torn down
    and deployed again as asked."""
    from riftdrill.deploy import DeployRequest, deployed_spec, plan_deploy
    from riftdrill.deploy import deploy as do_deploy

    request = DeployRequest(target=target, engine=engine, topology=topology,
                            brokers_per_cloud=brokers_per_cloud,
                            replication_factor=replication_factor,
                            min_insync_replicas=min_insync_replicas, wan=wan,
                            hub_delivery=hub_delivery, security=security)
    plan = plan_deploy(request, deployed_spec())
    plan.spec.validate()
    notice = plan.notice()

    def announce() -> None:  # after the checks, before the first change
        if notice:
            err.print(f"riftdrill: {notice}", highlight=False, soft_wrap=True)

    with _Progress(not as_json, f"deploying {plan.title()}") as progress:
        inv = do_deploy(plan.spec, progress, dry_run=dry_run, cloud_vars=plan.cloud_vars,
                        announce=announce)
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
    target: Annotated[Target | None, typer.Option(
        help="what to destroy: the local lab or aws-gcp (default: what is deployed)")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="aws-gcp: do not ask for confirmation")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tear everything down: processes, namespaces, veths, nft tables, data. No-op if nothing.
    Without --target: aws-gcp when its inventory stands, else the local lab.

    `--json`: `{target, terraform_destroyed, namespaces_removed, processes_killed, seconds}`."""
    import time

    from riftdrill.deploy import destroy as do_destroy
    from riftdrill.lab.net import preflight

    if target is None:
        target = _deployed_target()
    if target == "aws-gcp":
        from riftdrill.cloud.deploy import destroy as cloud_destroy
        from riftdrill.deploy import workspace
        from riftdrill.drivers.cloud import check_deployment

        started = time.monotonic()
        with _Progress(not as_json, "destroying aws-gcp") as progress:
            done = cloud_destroy(workspace("aws-gcp"), yes, progress,
                                 check_deployment=check_deployment)
        if as_json:  # the lab's shape: nothing of the lab's kind to remove on a cloud
            _emit({"target": target, "terraform_destroyed": done, "namespaces_removed": [],
                   "processes_killed": [], "seconds": round(time.monotonic() - started, 2)})
        else:
            out.print("aws-gcp destroyed" if done else "nothing deployed on aws-gcp")
        return
    preflight()
    with _Progress(not as_json, "destroying") as progress:
        report = do_destroy(progress, orphans=orphans)
    if as_json:
        _emit({"target": target, **asdict(report)})
    elif report.namespaces_removed or report.terraform_destroyed:
        out.print(f"destroyed in {report.seconds:.1f}s: {', '.join(report.namespaces_removed)}")
    else:
        out.print("nothing deployed; nothing to destroy")


def _deployed_target() -> Target:
    """The target whose inventory stands, else local (whose destroy also sweeps leftovers)."""
    try:
        inv = inventory.load()
    except RiftdrillError:
        return "local"
    return "aws-gcp" if inv.target == "aws-gcp" else "local"


def status_data(inv: inventory.Inventory, measure_rtt: bool = True) -> dict[str, Any]:
    """What `riftdrill status` shows; `measure_rtt`: a TCP ping-pong across each link (~1 s)."""
    from riftdrill.drivers import observer_for

    drv = observer_for(inv)  # reads only: no guard
    severed = {f.target: f.direction for f in inv.faults_on("sever_link")}
    blocked = {f.target for f in inv.faults_on("block_object_store")}
    return {
        "target": inv.target, "engine": inv.engine, "engine_version": inv.engine_version,
        "topology": inv.topology,
        "clouds": [c.model_dump() for c in inv.clouds],
        "brokers": [{**b.model_dump(), "state": drv.broker_state(inv, b)} for b in inv.brokers],
        "stores": [{**s.model_dump(), "state": "blocked" if s.name in blocked else "open"}
                   for s in inv.stores],
        "links": [{**lk.model_dump(),
                   "state": f"severed ({severed[lk.name]})" if lk.name in severed else "up",
                   "rtt_ms": drv.link_rtt(inv, lk.name) if measure_rtt else None}
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
    from riftdrill.lab.wan import from_json

    for lk in data["links"]:
        weather = from_json(lk).describe() if lk.get("emulated") else "no emulation (wire speed)"
        rtt = lk.get("rtt_ms") or {}
        measured = (f"measured round trip {rtt['median_ms']:g} ms (median of {rtt['samples']}, "
                    f"{rtt['min_ms']:g}-{rtt['max_ms']:g})" if "median_ms" in rtt
                    else f"round trip not measured: {rtt.get('error', 'skipped')}")
        out.print(f"link {lk['name']} ({lk['a']} <-> {lk['b']}): {lk['state']}; "
                  f"profile {lk.get('wan')}: {weather}; {measured}")
    for c in data["clusters"]:
        for cloud, servers in c["bootstrap"].items():
            out.print(f"bootstrap {c['name']} from {cloud}: {servers}")
    for m in data["mirrors"]:
        out.print(f"mirror {m['name']}: {m['source']} -> {m['target']} topics {m['topics']}")
    sec = inv.security
    out.print(f"security {sec.mode}" + (
        f": TLS + SASL {sec.mechanism}, ACLs per principal "
        f"({', '.join(sorted(sec.principals.values()))}); secrets in {sec.secrets_dir}"
        if sec.enabled else ""))
    if data["faults"]:
        t = Table("active fault", "kind", "target", "direction", "since")
        for f in data["faults"]:
            t.add_row(f["id"], f["kind"], f["target"], f["direction"], f["started_at"])
        out.print(t)
    else:
        out.print("no active faults")


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """What is deployed: clouds, brokers alive/dead, stores, link state, active faults; and what
    an aws-gcp apply that did not finish left behind (`riftdrill destroy --target aws-gcp`)."""
    from riftdrill.cloud.status import leftovers
    from riftdrill.deploy import workspace

    try:
        inv: inventory.Inventory | None = inventory.load()
    except NotDeployedError:
        inv = None
    cloud_ws = workspace("aws-gcp")
    partial = leftovers(cloud_ws, inv.target if inv else None)
    if inv is None:
        if partial is not None:
            if as_json:
                _emit({"deployed": "partial", "target": "aws-gcp", "reason": partial.reason,
                       "resources": partial.resources})
                return
            _print_partial(partial)
            return
        if as_json:
            _emit({"deployed": False})
            return
        out.print("nothing deployed (run `make deploy`)")
        return
    if as_json:
        _emit({"deployed": True, **status_data(inv), **({"partial": {
            "target": "aws-gcp", "reason": partial.reason, "resources": partial.resources}}
            if partial else {})})
        return
    _print_status(inv)
    if partial is not None:
        _print_partial(partial)


def _print_partial(partial: Leftovers) -> None:
    out.print(f"aws-gcp: {partial.reason}; {len(partial.resources)} resource(s) exist "
              "(`riftdrill destroy --target aws-gcp` removes them):")
    for address in partial.resources:
        out.print(f"  {address}")


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
def acls(as_json: JsonOpt = False) -> None:
    """What each principal may do on the deployed clusters (security sasl-tls; docs/security.md).

    `--json`: `{security, principals: {role: name}, acls: {role: [{principal, resource, name,
    pattern, operation}]}}`."""
    from riftdrill.security.acls import inventory_plan

    inv = inventory.load()
    plan = inventory_plan(inv)
    if as_json:
        _emit({"security": inv.security.mode, "principals": inv.security.principals,
               "acls": {role: [asdict(a) for a in rules] for role, rules in plan.items()}})
        return
    if not inv.security.enabled:
        out.print("security off: no authorizer, no principals, no ACLs")
        return
    out.print(f"super user: User:{inv.security.principal('broker')} (the brokers, the lab's checks)")
    for role, rules in plan.items():
        out.print(f"[bold]{role}[/bold]")
        for rule in rules:
            out.print(f"  {rule.describe()}", highlight=False)


@app.command()
def smoke(as_json: JsonOpt = False) -> None:
    """Produce and consume one record with a real Kafka client from inside each cloud.
    Exit 1 when a cloud fails the round trip."""
    import subprocess

    from riftdrill.security.client import client_security

    inv = inventory.load()
    admin = client_security(inv.security, "broker")  # the lab's own check: the super user
    results: list[dict[str, Any]] = []
    for cloud in inv.clouds:
        cluster = inv.cluster_of(cloud.name)
        rf = inv.cluster_rf(cluster.name)[0]
        cmd = [sys.executable, "-m", "riftdrill.lab", "roundtrip", inv.bootstrap(cloud.name), str(rf),
               *([admin.file] if admin.enabled else [])]
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
    failed = [r["cloud"] for r in results if not r["ok"]]
    if failed:  # a verdict, not bad input: exit 1
        print(f"riftdrill: smoke test failed in: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


def _fault_done(what: str, as_json: bool, fault: Any = None) -> None:
    if as_json:
        _emit({"ok": True, "action": what, "fault": fault.model_dump() if fault else None})
    else:
        out.print(what + (f" (fault {fault.id})" if fault else ""))


@fault_app.command("kill")
def fault_kill(broker: BrokerArg, as_json: JsonOpt = False) -> None:
    """SIGKILL a broker (name or node id)."""
    fault = faults.kill_broker(inventory.load().broker(broker), owner_pid=0)  # 0: by hand
    _fault_done(f"killed {broker}", as_json, fault)


@fault_app.command("pause")
def fault_pause(broker: BrokerArg, as_json: JsonOpt = False) -> None:
    """SIGSTOP a broker: alive to the kernel, silent to its peers."""
    fault = faults.pause_broker(inventory.load().broker(broker), owner_pid=0)
    _fault_done(f"paused {broker}", as_json, fault)


@fault_app.command("resume")
def fault_resume(broker: BrokerArg, as_json: JsonOpt = False) -> None:
    """SIGCONT a paused broker."""
    inv = inventory.load()
    faults.resume_broker(inv, inv.broker(broker))
    _fault_done(f"resumed {broker}", as_json)


@fault_app.command("restart")
def fault_restart(broker: BrokerArg, as_json: JsonOpt = False) -> None:
    """Bring a killed or paused broker back."""
    inv = inventory.load()
    faults.restart_broker(inv, inv.broker(broker))
    _fault_done(f"restarted {broker}", as_json)


@fault_app.command("sever")
def fault_sever(
    link: LinkArg = None,
    direction: Annotated[Direction, typer.Option(
        help="both ways, or only packets from the link's a side to b (a-to-b) or back")] = "both",
    as_json: JsonOpt = False,
) -> None:
    """Cut the cross-cloud link (both ways, or one way for an asymmetric partition)."""
    _fault_done(f"severed {link or 'link'} ({direction})", as_json,
                faults.sever_link(inventory.load().link(link), direction, owner_pid=0))


@fault_app.command("degrade")
def fault_degrade(
    link: LinkArg = None,
    weather: Annotated[str, typer.Option(
        help="the weather while degraded: a WAN profile name or "
             "latency=300ms,jitter=50ms,loss=2%,rate=10mbit")] = "latency=300ms,jitter=50ms,"
                                                              "loss=2%,rate=10mbit",
    direction: Annotated[Direction, typer.Option(
        help="both ways, or only packets from the link's a side to b (a-to-b) or back")] = "both",
    as_json: JsonOpt = False,
) -> None:
    """Give the cross-cloud link bad weather until `fault restore` (the lab's emulator)."""
    from riftdrill.lab.wan import degraded, from_json, parse_profile

    bad = parse_profile(weather)
    lk = inventory.load().link(link)
    weather_now = degraded(from_json(lk.model_dump()), bad, direction)
    _fault_done(f"degraded {lk.name} ({direction}): {bad.describe()}", as_json,
                faults.degrade_link(lk, weather_now, owner_pid=0))


@fault_app.command("restore")
def fault_restore(link: LinkArg = None, as_json: JsonOpt = False) -> None:
    """Give the cross-cloud link back the weather it was deployed with."""
    faults.restore_link(inventory.load().link(link))
    _fault_done(f"restored {link or 'link'}", as_json)


@fault_app.command("brownout")
def fault_brownout(
    store: StoreArg,
    weather: Annotated[str, typer.Option(
        help="latency=500ms,jitter=200ms,errors=20%,status=503,throttle=50rps,burst=10 "
             "(any subset)")] = "latency=500ms,jitter=200ms,errors=20%",
    as_json: JsonOpt = False,
) -> None:
    """Give an object store weather until `fault clear-brownout`: latency, 503/500 errors,
    throttling (the lab's store proxy)."""
    from riftdrill.lab.storeweather import parse_weather

    w = parse_weather(weather)
    st = inventory.load().store(store)
    _fault_done(f"brownout on {st.name}: {w.describe()}", as_json,
                faults.brownout_store(st, w.to_json(), owner_pid=0))


@fault_app.command("clear-brownout")
def fault_clear_brownout(store: StoreArg, as_json: JsonOpt = False) -> None:
    """The object store answers normally again."""
    st = inventory.load().store(store)
    faults.clear_store_weather(st)
    _fault_done(f"cleared the weather of {st.name}", as_json)


@fault_app.command("heal-link")
def fault_heal_link(link: LinkArg = None, as_json: JsonOpt = False) -> None:
    """Restore the cross-cloud link (every direction severed by hand or by a drill)."""
    faults.heal_link(inventory.load().link(link))
    _fault_done(f"healed {link or 'link'}", as_json)


@fault_app.command("kill-worker")
def fault_kill_worker(
    worker: Annotated[str, typer.Argument(help="Connect worker name or cloud (TOPOLOGY=hub).")],
    as_json: JsonOpt = False,
) -> None:
    """SIGKILL a Kafka Connect worker of the hub; `heal` (or restart-worker) starts it again."""
    fault = faults.kill_worker(inventory.load().require_hub().worker(worker), owner_pid=0)
    _fault_done(f"killed Connect worker {worker}", as_json, fault)


@fault_app.command("restart-worker")
def fault_restart_worker(
    worker: Annotated[str, typer.Argument(help="Connect worker name or cloud.")],
    as_json: JsonOpt = False,
) -> None:
    """Start a killed Connect worker again."""
    inv = inventory.load()
    faults.restart_worker(inv, inv.require_hub().worker(worker))
    _fault_done(f"restarted Connect worker {worker}", as_json)


ConnectorArg = Annotated[str, typer.Argument(
    help="hub connector: name or role (source, sink) (TOPOLOGY=hub)")]


@fault_app.command("pause-connector")
def fault_pause_connector(connector: ConnectorArg, as_json: JsonOpt = False) -> None:
    """Pause a hub connector through Connect's REST API, recorded as a fault: `heal` (or
    resume-connector) resumes it. (`riftdrill hub connector pause` is the same call, not
    recorded: nothing would resume it.)"""
    name = inventory.load().require_hub().connector(connector)
    fault = faults.pause_connector(name, owner_pid=0)
    _fault_done(f"paused connector {name}", as_json, fault)


@fault_app.command("resume-connector")
def fault_resume_connector(connector: ConnectorArg, as_json: JsonOpt = False) -> None:
    """Resume a paused hub connector (returns once its tasks run)."""
    inv = inventory.load()
    name = inv.require_hub().connector(connector)
    faults.resume_connector(inv, name)
    _fault_done(f"resumed connector {name}", as_json)


DatabaseArg = Annotated[str, typer.Argument(
    help="hub database: name (pg-aws) or role (source, sink) (TOPOLOGY=hub)")]


@fault_app.command("crash-database")
def fault_crash_database(database: DatabaseArg, as_json: JsonOpt = False) -> None:
    """Crash a hub database (every server process at once, WAL replay at the next start);
    `heal` (or restart-database) starts it again."""
    fault = faults.kill_database(inventory.load().require_hub().database(database), owner_pid=0)
    _fault_done(f"crashed database {database}", as_json, fault)


@fault_app.command("restart-database")
def fault_restart_database(database: DatabaseArg, as_json: JsonOpt = False) -> None:
    """Start a crashed hub database again (returns once it accepts connections)."""
    inv = inventory.load()
    faults.restart_database(inv, inv.require_hub().database(database))
    _fault_done(f"restarted database {database}", as_json)


@fault_app.command("pause-database")
def fault_pause_database(database: DatabaseArg, as_json: JsonOpt = False) -> None:
    """Freeze a hub database (SIGSTOP of every server process); `heal` (or resume-database)
    lets it run again."""
    fault = faults.pause_database(inventory.load().require_hub().database(database), owner_pid=0)
    _fault_done(f"paused database {database}", as_json, fault)


@fault_app.command("resume-database")
def fault_resume_database(database: DatabaseArg, as_json: JsonOpt = False) -> None:
    """Let a frozen hub database run again."""
    inv = inventory.load()
    faults.resume_database(inv, inv.require_hub().database(database))
    _fault_done(f"resumed database {database}", as_json)


RoleArg = Annotated[RoleChoice, typer.Argument(
    help="The role (principal) acted on (security sasl-tls; `riftdrill acls` lists them).")]


@fault_app.command("revoke-acl")
def fault_revoke_acl(role: RoleArg = "load", as_json: JsonOpt = False) -> None:
    """Revoke a role's write ACLs on every cluster (its producers are refused); `heal` (or
    restore-acl) gives them back. Needs a lab deployed with SECURITY=sasl-tls."""
    fault = faults.revoke_acl(inventory.load(), str(role), owner_pid=0)
    _fault_done(f"revoked the write ACLs of {role}", as_json, fault)


@fault_app.command("restore-acl")
def fault_restore_acl(role: RoleArg = "load", as_json: JsonOpt = False) -> None:
    """Give a role its write ACLs back (and re-create whatever of the ACL plan is missing)."""
    faults.restore_acl(inventory.load(), str(role))
    _fault_done(f"restored the write ACLs of {role}", as_json)


@fault_app.command("rotate-scram")
def fault_rotate_scram(role: RoleArg = "load", as_json: JsonOpt = False) -> None:
    """Give a role's principal a new SCRAM password on every cluster and in its client file
    (only load: the others' logins are read at start); `heal` (or finish-rotation) forgets it,
    completing a rotation a crash interrupted. Needs a lab deployed with SECURITY=sasl-tls."""
    fault = faults.rotate_scram(inventory.load(), str(role), owner_pid=0)
    _fault_done(f"rotated the password of {role}", as_json, fault)


@fault_app.command("finish-rotation")
def fault_finish_rotation(role: RoleArg = "load", as_json: JsonOpt = False) -> None:
    """End a role's rotation (completing it if a crash interrupted it)."""
    faults.finish_rotation(inventory.load(), str(role))
    _fault_done(f"finished the rotation of {role}", as_json)


@fault_app.command("block-store")
def fault_block(store: StoreArg, as_json: JsonOpt = False) -> None:
    """Drop all traffic to one cloud's object store (name or cloud)."""
    fault = faults.block_object_store(inventory.load().store(store), owner_pid=0)
    _fault_done(f"blocked {store}", as_json, fault)


@fault_app.command("unblock-store")
def fault_unblock(store: StoreArg, as_json: JsonOpt = False) -> None:
    """Let traffic reach the object store again."""
    faults.unblock_object_store(inventory.load().store(store))
    _fault_done(f"unblocked {store}", as_json)


@app.command()
def compare(
    setup: Annotated[list[SetupChoice] | None, typer.Option(
        "--setup", help="setups to compare (repeatable): kafka (stretched), kafka-per-cloud "
                        "(MirrorMaker 2), tansu (shared storage); default: all three")] = None,
    engine: Annotated[list[LabEngineChoice] | None, typer.Option(
        "--engine", help="an engine's default setup (repeatable; kafka = stretched)")] = None,
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", help="drills to run (repeatable); default: the comparison set")] = None,
    var: Annotated[list[str] | None, typer.Option(
        "--var", help="NAME=VALUE for every drill (repeatable)")] = None,
    wan: Annotated[str | None, typer.Option(
        "--wan", help="the cross-cloud link for every setup: a profile (inter-region, metro, "
                      "none) or latency=..,jitter=..,loss=..,rate=..; default: inter-region")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the same drills on each setup over the same link, time a broker replacement, render
    side by side."""
    from riftdrill.compare import COMPARE_EXPERIMENTS, DEFAULT_SETUPS, resolve_setups, run_compare

    progress = (lambda line: None) if as_json else (lambda line: err.print(line))
    names = tuple(str(s) for s in setup or []) + tuple(str(e) for e in engine or [])
    setups = resolve_setups(names or DEFAULT_SETUPS)
    compare_dir = run_compare(setups, tuple(experiment or COMPARE_EXPERIMENTS), var or [],
                              wan=wan, progress=progress)  # None: the lab's default link
    if as_json:
        _emit({"compare": str(compare_dir)})
    else:
        out.print(f"comparison: {compare_dir}")


@functools.cache
def mounted_app() -> typer.Typer:
    """The whole CLI: `app` with the sub-apps of other packages mounted (once)."""
    _mount_optional()
    return app


def _mount_optional() -> None:
    """Sub-apps of other packages, mounted when present."""
    import importlib

    for module, name in (("riftdrill.load.cli", "load"), ("riftdrill.verify.cli", "verify"),
                         ("riftdrill.chaos.cli", "drill"), ("riftdrill.report.cli", "report"),
                         ("riftdrill.chaos.experiments", "experiments"),
                         ("riftdrill.chaos.calibrate", "slo"), ("riftdrill.hubcli", "hub"),
                         ("riftdrill.compat.cli", "compat"), ("riftdrill.cloudcli", "cloud")):
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
    mounted_app()()  # RiftdrillGroup.main turns every outcome into an exit code
