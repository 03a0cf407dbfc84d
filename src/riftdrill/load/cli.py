"""`riftdrill load`: run a load headless against whatever the inventory describes.

    riftdrill load --rate 1000 --duration 60 --size 1024            # foreground, live progress
    riftdrill load --rate 1000 --duration 600 --background          # returns at once; then
    riftdrill load status [--run RUN]                                # and
    riftdrill load stop [--run RUN]
    riftdrill load --workload examples/omb/1-topic-6-partitions-1kb.yaml   # an OMB workload

With --workload, the file decides rate, duration, size, partitions, keys and the producer and
consumer counts (load/omb.py); one of those flags given too is refused, every other flag
(topic, acks, profile, placement, ...) applies as usual.

RUN is a run id under results/runs or a run directory, as for every command (`--run-dir` is
the old spelling); status and stop default to the newest run.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from riftdrill import inventory, paths
from riftdrill.errors import RiftdrillError
from riftdrill.load import omb
from riftdrill.load.remote import is_remote, load_on_vms
from riftdrill.load.runner import (
    LoadResult,
    load_status,
    placement_of,
    run_load,
    start_load,
    stop_load,
)
from riftdrill.load.spec import DEFAULT_FENCE_WAIT_S, Acks, Compression, KeyMode, LoadSpec, Profile

app = typer.Typer(help="Open-model Kafka load with a ledger of every ack.", no_args_is_help=False)


def _fail(exc: RiftdrillError) -> typer.Exit:
    print(f"riftdrill: error: {exc}", file=sys.stderr)
    return typer.Exit(2)


def default_run_dir() -> Path:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-load"
    return paths.results_dir() / "runs" / run_id


def _print_result(res: LoadResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res.to_json(), indent=1))
        return
    a, e, d = res.ack_latency_ms, res.e2e_latency_ms, res.publish_delay_ms
    print(
        f"sent {res.sent} (target {res.target_count})  acked {res.acked}  failed {res.failed}  "
        f"consumed {res.consumed}  corrupt {res.corrupt}\n"
        f"ack latency ms   p50 {a['p50']}  p99 {a['p99']}  p99.9 {a['p99_9']}  max {a['max']}\n"
        f"e2e latency ms   p50 {e['p50']}  p99 {e['p99']}  p99.9 {e['p99_9']}  max {e['max']}\n"
        f"publish delay ms p50 {d['p50']}  p99 {d['p99']}  max {d['max']}\n"
        + (f"load generator   main threads on a CPU {g['main_cpu_s']} s, waiting for one "
           f"{g['main_wait_s']} s (in {g['starved_seconds']} of {g['process_seconds']} "
           f"process-seconds {g['starved_ms']:g} ms or more)\n" if (g := res.generator) else "")
        + f"results: {res.run_dir / 'load'}"
    )


@app.callback(invoke_without_command=True)
def load(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="total messages/s over all producers")] = 1000,
    duration: Annotated[float, typer.Option(help="seconds of sending")] = 60,
    size: Annotated[int, typer.Option(help="record value bytes (32-byte header incl.)")] = 1024,
    topic: Annotated[str, typer.Option(help="topic to produce to and consume from")] = "riftdrill",
    partitions: Annotated[int, typer.Option(help="used when the topic is created")] = 6,
    replication_factor: Annotated[int | None, typer.Option(help="default: inventory's")] = None,
    acks: Annotated[Acks, typer.Option(help="producer acks (idempotence needs all or -1)")] = "all",
    profile: Annotated[
        Profile,
        typer.Option(help="idempotent | legacy. Producer contract: idempotent = idempotence, "
                          "acks=all, <= 5 in flight; legacy = idempotence off, 1000000 in flight"),
    ] = "idempotent",
    idempotence: Annotated[
        bool | None, typer.Option(help="default: on for idempotent, off for legacy")
    ] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(help="max.in.flight.requests.per.connection (default: profile's)")
    ] = None,
    compression: Annotated[Compression, typer.Option(help="producer compression.type")] = "none",
    linger_ms: Annotated[float, typer.Option(help="producer linger.ms")] = 5,
    batch_size: Annotated[int, typer.Option(help="producer batch.size (bytes)")] = 65536,
    keys: Annotated[KeyMode, typer.Option(
        help="record keys: none, round-robin over --key-count keys, or one key per message "
             "(per-key)")] = "round-robin",
    key_count: Annotated[int, typer.Option(help="distinct keys (round-robin)")] = 64,
    placement: Annotated[
        list[str] | None, typer.Option(help="cloud(s) running producers; default all")
    ] = None,
    producers_per_cloud: Annotated[int, typer.Option(help="producer processes per cloud")] = 1,
    consumers: Annotated[bool, typer.Option(help="run consumers (e2e latency)")] = True,
    consumers_per_cloud: Annotated[int, typer.Option(help="consumers per cloud")] = 1,
    delivery_timeout_ms: Annotated[int, typer.Option(
        help="producer message.timeout.ms: a send stuck this long becomes an error")] = 30000,
    fence_wait_s: Annotated[
        float, typer.Option(help="at the end, how long consumers may read on to the fences")
    ] = DEFAULT_FENCE_WAIT_S,
    run: Annotated[str | None, typer.Option(
        "--run", "--run-dir", help="the new run: a run id under results/runs or a directory; "
        "default results/runs/<utc>-load")] = None,
    background: Annotated[bool, typer.Option(help="start and return; see status/stop")] = False,
    trace_memory: Annotated[bool, typer.Option(
        help="diagnostic: each load process logs tracemalloc's top growing lines to "
             "load/workers/<worker>/tracemalloc.txt (slower; not for figures)")] = False,
    allocator: Annotated[str, typer.Option(
        help="each load process's C allocator: auto (jemalloc when installed), jemalloc, "
             "glibc")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    workload: Annotated[Path | None, typer.Option(
        help="an OpenMessaging Benchmark workload YAML: it sets rate, duration, size, "
             "partitions, keys, producers and consumers (docs/load.md)")] = None,
) -> None:
    """Run a load (no subcommand), or `status` / `stop` a background one."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        omb_fields = ({} if workload is None
                      else _workload_fields(ctx, workload, placement or None))  # fmt: skip
        common: dict[str, Any] = dict(
            topic=topic, replication_factor=replication_factor, acks=acks, profile=profile,
            idempotence=idempotence, max_in_flight=max_in_flight, compression=compression,
            linger_ms=linger_ms, batch_size=batch_size, key_count=key_count,
            placement=placement or None, delivery_timeout_ms=delivery_timeout_ms,
            fence_wait_s=fence_wait_s, trace_memory=trace_memory, allocator=allocator,
        )  # fmt: skip
        # With --workload the file decides these (flags for them were refused above).
        decided = omb_fields if workload is not None else dict(
            rate_per_s=rate, duration_s=duration, size_bytes=size, partitions=partitions,
            keys=keys, producers_per_cloud=producers_per_cloud, consumers=consumers,
            consumers_per_cloud=consumers_per_cloud,
        )  # fmt: skip
        spec = LoadSpec(**common, **decided)
        rd = paths.new_run_dir(run) if run else default_run_dir()
        inv = inventory.load()
        if background:  # run-spec in the background: on the load VMs when there are some
            pid = start_load(spec, rd)
            out: dict[str, Any] = {"pid": pid, "run_dir": str(rd)}
            print(json.dumps(out) if as_json else f"load running as pid {pid} in {rd}")
            return
        # private brokers (a cloud target with load VMs): the load runs on the VMs
        res = (load_on_vms(spec, rd, inv) if is_remote(inv)
               else run_load(spec, rd, inv, progress=not as_json))
    except RiftdrillError as exc:
        raise _fail(exc) from None
    _print_result(res, as_json)


def _workload_fields(ctx: typer.Context, path: Path, placement: list[str] | None) -> dict[str, Any]:
    """LoadSpec fields from an OMB workload; a flag the workload decides is refused."""
    # By name: typer ships its own click, whose enum is not the click package's.
    given = [f"--{n.replace('_', '-')}" for n in omb.WORKLOAD_OPTIONS
             if getattr(ctx.get_parameter_source(n), "name", None) == "COMMANDLINE"]  # fmt: skip
    if given:
        raise omb.WorkloadError(f"{', '.join(given)} conflicts with --workload, which sets it: "
                                f"edit {path} or drop the flag")  # fmt: skip
    data = omb.read_workload(path)
    clouds = placement_of(LoadSpec(rate_per_s=1, duration_s=1, placement=placement),
                          inventory.load())  # fmt: skip
    return omb.workload_spec(data, len(clouds))


RunOpt = Annotated[str | None, typer.Option(
    "--run", "--run-dir", help="a run id under results/runs or a run directory (default: the "
    "newest run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _run_dir(run: str | None) -> Path:
    try:
        return paths.resolve_run_dir(run)
    except RiftdrillError as exc:
        raise _fail(exc) from None


@app.command()
def status(run: RunOpt = None, as_json: JsonOpt = False) -> None:
    """Counts so far and whether the background load still runs."""
    st = load_status(_run_dir(run))
    if as_json:
        print(json.dumps(st, indent=1))
    else:
        last = st["last_second"]
        print(
            f"{'running' if st['running'] else 'stopped'} (pid {st['pid']})  sent {st['sent']}  "
            f"acked {st['acked']}  failed {st['failed']}  consumed {st['consumed']}  "
            f"last second {last['acked']} acks, p99 {last['ack_latency_p99_ms']} ms"
        )


@app.command()
def stop(
    run: RunOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="seconds to wait for a clean stop (default: the drain and fence wait "
                          "of the run's spec, plus merging)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a background load cleanly (ledger and metrics flushed) and print its result."""
    run_dir = _run_dir(run)
    res = stop_load(run_dir, timeout)
    if res is None:
        raise _fail(RiftdrillError(f"no load result in {run_dir}/load"))
    _print_result(res, as_json)


@app.command("run-spec", hidden=True)
def run_spec(
    spec_path: Path,
    run_dir: Path,
    inventory_path: Annotated[Path | None, typer.Option("--inventory")] = None,
) -> None:
    """What start_load runs in the background: a spec file, no live progress."""
    try:
        spec = LoadSpec.from_json(json.loads(spec_path.read_text()))
        inv = inventory.load(inventory_path)
        # The operator's side of a cloud target runs the load VMs; a VM's own share (run_clouds
        # set) runs here, as a local run.
        if is_remote(inv) and spec.run_clouds is None:
            res = load_on_vms(spec, run_dir, inv)
        else:
            res = run_load(spec, run_dir, inv, progress=False)
    except RiftdrillError as exc:
        raise _fail(exc) from None
    _print_result(res, as_json=True)


def main() -> None:
    app()
