"""Cost per drill: the price table's validation and the arithmetic a published number rests on."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from riftdrill.chaos.summary import RunSummary
from riftdrill.drivers.usage import count_recorded_requests, store_usage_delta
from riftdrill.errors import ValidationError
from riftdrill.report.cost import (
    HOURS_PER_MONTH,
    load_prices,
    price_usage,
    usage_from_summary,
)

ROOT = Path(__file__).resolve().parents[2]


def _prices(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "prices.yaml"
    p.write_text("""as_of: "2025-06-01"
currency: USD
egress_per_gb: {aws: 0.09, gcp: 0.12}
object_store:
  s3: {put_per_1000: 0.005, get_per_1000: 0.0004, storage_gb_month: 0.023}
  gcs: {put_per_1000: 0.005, get_per_1000: 0.0004, storage_gb_month: 0.020}
instance_hour: {aws: 0.2, gcp: 0.1}
""" + extra)
    return p


def _summary(**kw: object) -> RunSummary:
    base: dict[str, object] = {"run_id": "r", "experiment": "e", "engine": "kafka",
                               "started_at": "2026-01-01T00:00:00+00:00",
                               "ended_at": "2026-01-01T01:00:00+00:00"}  # exactly one hour
    return RunSummary.model_validate({**base, **kw})


def test_shipped_price_table_is_valid_and_dated() -> None:
    prices = load_prices(ROOT / "prices.yaml")
    assert prices.as_of and set(prices.egress_per_gb) == {"aws", "gcp"}
    assert set(prices.object_store) == {"s3", "gcs"} and set(prices.instance_hour) == {"aws", "gcp"}


@pytest.mark.parametrize(("extra", "message"), [
    ("egress_per_tb: {aws: 90}\n", "unknown field 'egress_per_tb'"),
    ("", None),
])
def test_unknown_field_is_an_error_naming_it(tmp_path: Path, extra: str, message: str | None) -> None:
    path = _prices(tmp_path, extra)
    if message is None:
        load_prices(path)
        return
    with pytest.raises(ValidationError, match=message):
        load_prices(path)


def test_unknown_nested_field_and_bad_value_are_named(tmp_path: Path) -> None:
    path = _prices(tmp_path)
    path.write_text(path.read_text().replace("put_per_1000: 0.005, get", "put_per_1k: 0.005, get", 1))
    with pytest.raises(ValidationError, match=r"unknown field 'object_store.s3.put_per_1k'"):
        load_prices(path)
    path = _prices(tmp_path)
    path.write_text(path.read_text().replace("aws: 0.2", "aws: -1"))
    with pytest.raises(ValidationError, match=r"instance_hour.aws"):
        load_prices(path)
    with pytest.raises(ValidationError, match=r"not found"):
        load_prices(tmp_path / "nope.yaml")


def test_one_hour_drill_cost_and_month(tmp_path: Path) -> None:
    prices = load_prices(_prices(tmp_path))
    summary = _summary(
        link_bytes={"aws-to-gcp": {"bytes": 10_000_000_000, "packets": 1},
                    "gcp-to-aws": {"bytes": 5_000_000_000, "packets": 1}},
        store_usage={"aws-s3": {"cloud": "aws", "api": "s3", "put": 2000, "get": 10000,
                                "other": 50, "stored_bytes": 100_000_000_000}},
        brokers=[{"name": "aws-1", "cloud": "aws"}, {"name": "aws-2", "cloud": "aws"},
                 {"name": "gcp-1", "cloud": "gcp"}])
    cost = price_usage(usage_from_summary(summary), prices)
    by = {c.item: c for c in cost.lines}
    assert by["egress aws-to-gcp"].drill == pytest.approx(10 * 0.09)  # 10 GB out of AWS
    assert by["egress gcp-to-aws"].drill == pytest.approx(5 * 0.12)
    assert by["aws-s3 PUT/LIST"].drill == pytest.approx(2 * 0.005)
    assert by["aws-s3 GET"].drill == pytest.approx(10 * 0.0004)  # DELETEs ("other") are free
    assert by["aws-s3 storage"].monthly == pytest.approx(100 * 0.023)
    assert by["aws-s3 storage"].drill == pytest.approx(100 * 0.023 / HOURS_PER_MONTH)
    assert by["brokers in aws (instance)"].quantity == pytest.approx(2.0)  # 2 brokers x 1 h
    assert by["brokers in aws (instance)"].drill == pytest.approx(0.4)
    assert by["brokers in gcp (instance)"].monthly == pytest.approx(HOURS_PER_MONTH * 0.1)
    # A one-hour drill: traffic per month is 730 times the drill's.
    assert by["egress aws-to-gcp"].monthly == pytest.approx(0.9 * HOURS_PER_MONTH)
    assert cost.drill_total == pytest.approx(sum(c.drill for c in cost.lines))
    assert cost.monthly_total == pytest.approx(
        (0.9 + 0.6 + 0.01 + 0.004 + 0.4 + 0.1) * HOURS_PER_MONTH + 2.3)


def test_brokers_from_params_and_unpriced_things_become_notes(tmp_path: Path) -> None:
    prices = load_prices(_prices(tmp_path))
    summary = _summary(params={"brokers_per_cloud": 3},
                       link_bytes={"aws-to-azure": {"bytes": 1, "packets": 1},
                                   "azure-to-aws": {"bytes": 1, "packets": 1}})
    usage = usage_from_summary(summary)
    assert usage.brokers_by_cloud == {"aws": 3, "azure": 3}
    cost = price_usage(usage, prices)
    assert any("no egress price for 'azure'" in n for n in cost.notes)
    assert any("no instance_hour price for cloud 'azure'" in n for n in cost.notes)
    assert any("object stores: usage not measured" in n for n in cost.notes)
    assert {c.item for c in cost.lines} == {"egress aws-to-azure", "brokers in aws (instance)"}
    nothing = price_usage(usage_from_summary(_summary()), prices)
    assert nothing.lines == [] and nothing.drill_total == 0
    assert any("broker-hours not priced" in n for n in nothing.notes)


def test_moto_recording_counts_writes_lists_reads() -> None:
    lines = [json.dumps(e).encode() for e in [
        {"method": "PUT", "url": "http://s/b/k1", "headers": {"Content-Length": "100"}},
        {"method": "POST", "url": "http://s/b/k2?uploads", "headers": {"content-length": "0"}},
        {"method": "GET", "url": "http://s/b?list-type=2", "headers": {}},
        {"method": "GET", "url": "http://s/b/k1", "headers": {}},
        {"method": "HEAD", "url": "http://s/b/k1", "headers": {}},
        {"method": "DELETE", "url": "http://s/b/k1", "headers": {}},
        {"method": "POST", "url": "http://s/moto-api/recorder/start-recording", "headers": {}},
    ]] + [b""]
    assert count_recorded_requests(lines) == {"put": 3, "get": 2, "other": 1, "bytes_in": 100}


def test_store_usage_delta() -> None:
    before = {"aws-s3": {"cloud": "aws", "api": "s3", "objects": 2, "stored_bytes": 100,
                         "requests": {"put": 5, "get": 1, "other": 0, "bytes_in": 100}},
              "gcp-gcs": {"cloud": "gcp", "api": "gcs", "objects": 1, "stored_bytes": 10,
                          "generations": {"b/a": 1}}}
    after = {"aws-s3": {"cloud": "aws", "api": "s3", "objects": 4, "stored_bytes": 300,
                        "requests": {"put": 9, "get": 11, "other": 1, "bytes_in": 300}},
             "gcp-gcs": {"cloud": "gcp", "api": "gcs", "objects": 2, "stored_bytes": 40,
                         "generations": {"b/a": 2, "b/b": 1}},
             "x": {"cloud": "aws", "api": "s3", "error": "ConnectError: refused"}}
    d = store_usage_delta(before, after)
    assert d["aws-s3"] == {"cloud": "aws", "api": "s3", "objects": 4, "stored_bytes": 300,
                                "put": 4, "get": 10, "other": 1, "bytes_in": 200,
                                "requests_measured": True, "method": "moto request recording"}
    assert d["gcp-gcs"]["put"] == 2 and d["gcp-gcs"]["bytes_in"] == 30  # a rewrite + a new object
    assert d["gcp-gcs"]["requests_measured"] is False
    assert d["x"]["requests_measured"] is False and "refused" in d["x"]["method"]


def test_collect_store_usage_reports_an_unreachable_store() -> None:
    from riftdrill.drivers.usage import collect_store_usage
    from riftdrill.inventory import ObjectStore

    store = ObjectStore(name="gcp-gcs", cloud="gcp", api="gcs", endpoint="http://127.0.0.1:9",
                        address="127.0.0.1", port=9, buckets=["b"])
    out = collect_store_usage(SimpleNamespace(stores=[store]))
    assert set(out["gcp-gcs"]) == {"cloud", "api", "error"}
    assert "Connection" in out["gcp-gcs"]["error"] or "refused" in out["gcp-gcs"]["error"]


def test_a_hub_run_prices_its_workers_and_databases_like_brokers(tmp_path: Path) -> None:
    """topology hub: a Connect worker and a PostgreSQL per cloud of the link, an instance-hour
    each per hour, at the broker's price unless prices.yaml names the hub's own machines."""
    link = {"aws-to-gcp": {"bytes": 0, "packets": 0}, "gcp-to-aws": {"bytes": 0, "packets": 0}}
    summary = _summary(topology="hub", link_bytes=link)
    usage = usage_from_summary(summary)
    assert usage.hub_by_cloud == {"connect_worker": {"aws": 1, "gcp": 1},
                                  "database": {"aws": 1, "gcp": 1}}
    by = {c.item: c for c in price_usage(usage, load_prices(_prices(tmp_path))).lines}
    worker = by["Kafka Connect workers in aws (instance, as a broker)"]
    assert (worker.quantity, worker.unit, worker.drill) == (1.0, "instance-hour", 0.2)
    assert worker.monthly == pytest.approx(HOURS_PER_MONTH * 0.2)
    assert by["PostgreSQL servers in gcp (instance, as a broker)"].drill == pytest.approx(0.1)
    own = load_prices(_prices(tmp_path, "hub_instance_hour: {database: {aws: 0.5}}\n"
                                        "hub_instance_type: {database: {aws: db.m6i.large}}\n"))
    by = {c.item: c for c in price_usage(usage, own).lines}
    assert by["PostgreSQL servers in aws (db.m6i.large)"].drill == pytest.approx(0.5)
    assert by["PostgreSQL servers in gcp (instance, as a broker)"].drill == pytest.approx(0.1)
    hub_lines = [k for k in by if k.startswith(("Kafka Connect", "PostgreSQL"))]
    assert len(hub_lines) == 4 and not any(k.startswith("brokers") for k in by)  # none known
    # another topology has no hub; a hub run without link bytes says it priced none
    assert usage_from_summary(_summary(topology="stretched", link_bytes=link)).hub_by_cloud == {}
    bare = usage_from_summary(_summary(topology="hub"))
    assert bare.hub_by_cloud == {} and any("hub hours not priced" in n for n in bare.notes)


def test_a_hub_price_for_an_unknown_role_is_named(tmp_path: Path) -> None:
    path = _prices(tmp_path, "hub_instance_hour: {kafka_connect: {aws: 0.5}}\n")
    with pytest.raises(ValidationError, match=r"hub_instance_hour\.kafka_connect"):
        load_prices(path)


# ---- baseline vs fault, prices with sources, two committed runs (issue 19) ------------------

def _timeline(rates: list[int], t0: int = 1000) -> list[dict[str, object]]:
    return [{"t": t0 + i, "sent": r, "acked": r} for i, r in enumerate(rates)]


def test_a_month_is_the_baseline_rate_and_the_fault_is_the_extra(tmp_path: Path) -> None:
    """100 records/s before the fault, 300/s (retries) during it: a month at 100/s, and what the
    run used beyond 100/s over its load seconds is the fault's own cost."""
    from riftdrill.report.cost import load_rates

    # the first second is partial, the second cloud's producers start a second later
    timeline = _timeline([50, 60] + [100] * 9 + [300] * 10)
    fault = {"kind": "kill_broker", "target": "aws-1", "start_s": 1011.0, "end_s": 1021.0}
    rates = load_rates(timeline, 1011.0)
    assert (rates.records_sent, rates.load_s, rates.baseline_s) == (4010, 21.0, 10.0)
    assert rates.baseline_records_per_s == 100.0  # the median: the ramp is not the steady state
    assert (rates.since_fault_records, rates.since_fault_s) == (3000, 10.0)
    summary = _summary(link_bytes={"aws-to-gcp": {"bytes": 4_010_000_000, "packets": 1}},
                       fault_windows=[fault])
    cost = price_usage(usage_from_summary(summary, timeline), load_prices(_prices(tmp_path)))
    egress = cost.lines[0]
    assert cost.month_basis == "baseline"
    per_record_gb = 4.01 / 4010
    assert egress.monthly == pytest.approx(per_record_gb * 100 * HOURS_PER_MONTH * 3600 * 0.09)
    assert egress.fault == pytest.approx(per_record_gb * (3000 - 100 * 10) * 0.09)
    assert egress.drill == pytest.approx(4.01 * 0.09)
    assert cost.fault_total == pytest.approx(egress.fault)
    # no baseline window (the fault came first): the run's average, said in a note
    early = price_usage(usage_from_summary(summary, _timeline([100] * 20, t0=1011)),
                        load_prices(_prices(tmp_path)))
    assert early.month_basis == "run_average" and early.fault_total == 0
    assert any("no baseline window" in n for n in early.notes)
    assert any(n.startswith("cross-zone transfer: not measured") for n in early.notes)


def test_brokers_fall_back_on_the_target_envs_default_and_the_modules_types(tmp_path: Path) -> None:
    from riftdrill.report.deployment import deployment_defaults

    dep = deployment_defaults(ROOT / "infra", "local")
    assert dep.brokers_per_cloud == 2 and dep.source == "infra/envs/local"
    assert dep.broker_types == {"aws": "m7i.xlarge", "gcp": "n2-standard-4"}
    link = {"aws-to-gcp": {"bytes": 1, "packets": 1}, "gcp-to-aws": {"bytes": 1, "packets": 1}}
    usage = usage_from_summary(_summary(link_bytes=link), deployment=dep)
    assert usage.brokers_by_cloud == {"aws": 2, "gcp": 2}
    cost = price_usage(usage, load_prices(ROOT / "prices.yaml"))
    by = {c.item: c for c in cost.lines}
    assert by["brokers in aws (m7i.xlarge)"].quantity == pytest.approx(2.0)  # 2 x 1 h
    assert not any("prices.yaml prices" in n for n in cost.notes)  # the same machines
    # recorded brokers win; a controller-only node is no broker-hour
    recorded = usage_from_summary(_summary(link_bytes=link, brokers=[
        {"name": "aws-1", "cloud": "aws", "roles": ["broker", "controller"]},
        {"name": "aws-c", "cloud": "aws", "roles": ["controller"]}]), deployment=dep)
    assert recorded.brokers_by_cloud == {"aws": 1}
    assert "1 controller-only nodes: not priced" in recorded.notes


def test_prices_with_a_source_and_date_per_line(tmp_path: Path) -> None:
    from riftdrill.report.cost import price_entries

    path = _prices(tmp_path)
    path.write_text(path.read_text().replace(
        "egress_per_gb: {aws: 0.09, gcp: 0.12}",
        'egress_per_gb: {aws: {price: 0.09, source: "list", as_of: "2025-06-01"}, gcp: 0.12}'))
    assert load_prices(path).egress_per_gb == {"aws": 0.09, "gcp": 0.12}  # both forms
    path.write_text(path.read_text().replace('source: "list"', 'sourse: "list"'))
    with pytest.raises(ValidationError, match=r"unknown field 'egress_per_gb\.aws\.sourse'"):
        load_prices(path)
    path.write_text(path.read_text().replace('sourse: "list", ', ""))
    with pytest.raises(ValidationError, match=r"egress_per_gb\.aws\.source: Field required"):
        load_prices(path)
    # the shipped table: every price has its source and date, and says it was not fetched
    import yaml

    text = (ROOT / "prices.yaml").read_text()
    _, entries = price_entries(yaml.safe_load(text))
    assert entries and all(e is not None and e.source and e.as_of for e in entries.values()), \
        [k for k, e in entries.items() if e is None]
    assert "not fetched" in text


RUNS = ROOT / "results" / "runs"


@pytest.mark.parametrize(("a", "b"), [
    ("20261202T032002Z-broker-kill", "20261202T064452Z-broker-kill"),  # kafka, stretched, lab
])
def test_two_committed_runs_of_a_drill_price_within_10_percent(a: str, b: str) -> None:
    """Recomputed from each run's files as `riftdrill report` does (runs.load_run, then
    render.run_cost): broker-hours, store requests and link egress on the baseline rate."""
    from riftdrill.report.render import run_cost
    from riftdrill.report.runs import load_run

    prices = load_prices(ROOT / "prices.yaml")
    runs = [load_run(RUNS / r) for r in (a, b)]
    assert {(r.summary.experiment, r.summary.engine, r.summary.topology) for r in runs} == {
        ("broker-kill", "kafka", "stretched")}
    costs = [run_cost(r, prices) for r in runs]
    assert all(c.month_basis == "baseline" for c in costs)
    for c in costs:  # complete: brokers, stores and both link directions are priced
        items = {line.item.split(" (")[0] for line in c.lines}
        assert {"brokers in aws", "brokers in gcp", "egress aws-to-gcp", "egress gcp-to-aws",
                "aws-s3 PUT/LIST", "gcp-gcs PUT/LIST"} <= items
    low, high = sorted(c.monthly_total for c in costs)
    assert high <= 1.10 * low, (low, high)
    # the part that moves with the run (traffic and requests), not only the brokers' hours
    traffic = sorted(sum(line.monthly for line in c.lines if not line.item.startswith("brokers"))
                     for c in costs)
    assert traffic[1] <= 1.10 * traffic[0], traffic
