"""`riftdrill hub`: the integration hub's workload and its connectors' lifecycle (REST API).

Mounted by the main CLI. Exit 2 (a RiftdrillError, one line) for bad input, a lab without a hub
or a worker that refuses a request.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from riftdrill import inventory
from riftdrill.errors import RiftdrillError, ValidationError

app = typer.Typer(help="The integration hub (TOPOLOGY=hub): its row workload and connectors.",
                  no_args_is_help=True, add_completion=False)

ACTIONS = ("status", "pause", "resume", "restart", "delete", "create")


def _print(data: Any, json_out: bool) -> None:
    if json_out:
        print(json.dumps(data, indent=2))
    else:
        for k, v in data.items() if isinstance(data, dict) else enumerate(data):
            print(f"{k}: {v}")


@app.command("load")
def load(
    run: Annotated[str, typer.Option(help="Run directory or run id (created).")],
    rate: Annotated[float, typer.Option(help="Changes per second (open model).")] = 50.0,
    duration_s: Annotated[float, typer.Option("--duration-s", help="How long.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the change mix.")] = 0,
    drain_s: Annotated[float, typer.Option(
        "--drain-s", help="After the load, how long to wait for the sink to show every "
        "change's final state.")] = 60.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Insert, update and delete rows in the source database into a new table of the run's
    own, every attempt in <run>/load/hub/rows.jsonl, while a tail watches the sink's table for
    the change lag (commit in source -> visible in the sink); `riftdrill verify --run` judges
    the run row by row."""
    from riftdrill.load.hubload import start_hub_load
    from riftdrill.paths import new_run_dir

    inv = inventory.load()
    hub = inv.require_hub()
    run_dir = new_run_dir(run)
    started = time.monotonic()
    load = start_hub_load(hub, run_dir, rate, duration_s, drain_s, seed,
                          progress=None if json_out else print)
    try:
        while load.running():
            time.sleep(0.2)
    finally:
        outcome = load.finish()  # Ctrl-C: stop now, drain, write the figures
    if outcome.error:
        raise RiftdrillError(f"the hub's row workload failed: {outcome.error}")
    _print({"run": str(run_dir), **outcome.summary(),
            "elapsed_s": round(time.monotonic() - started, 3)}, json_out)


@app.command("connector")
def connector(
    action: Annotated[str, typer.Argument(help=f"One of: {', '.join(ACTIONS)}.")],
    name: Annotated[str | None, typer.Argument(
        help="Connector name (default: both of the hub's connectors).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """A connector's lifecycle through Connect's REST API: status, pause, resume, restart
    (with its tasks), delete, create (the hub's own configuration)."""
    from riftdrill.hub import pipeline

    if action not in ACTIONS:
        raise ValidationError(f"unknown action {action!r}; choose one of: {', '.join(ACTIONS)}")
    inv = inventory.load()
    hub = inv.require_hub()
    known = (hub.source_connector, hub.sink_connector)
    if name is not None and name not in known:
        raise ValidationError(f"no connector {name!r} in the hub; connectors are: "
                              f"{', '.join(known)}")
    rest = pipeline.ConnectRest([w.rest_url for w in hub.workers])
    out: dict[str, Any] = {}
    for n in [name] if name else list(known):
        if action == "create":
            src, dst = hub.database("source"), hub.database("sink")
            rf = inv.cluster_rf(inv.clusters[0].name)[0]
            p = pipeline.Pipeline(hub.source_connector, hub.sink_connector, hub.topic_prefix, rf,
                                  pipeline.DatabaseRef(src.address, src.port),
                                  pipeline.DatabaseRef(dst.address, dst.port))
            config = pipeline.source_config(p) if n == hub.source_connector else pipeline.sink_config(p)
            pipeline.create(rest, n, config)
        elif action != "status":
            getattr(rest, action)(n)
        if action == "delete":
            out[n] = "deleted"
            continue
        status = rest.status(n)
        conn, tasks = pipeline.state_of(status)
        out[n] = {"state": conn, "tasks": tasks,
                  "worker": status.get("connector", {}).get("worker_id")}
    _print(out, json_out)
