"""`riftdrill cloud cost-estimate`: the cloud drill's cost guard (riftdrill.report.estimate)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from riftdrill.errors import ValidationError
from riftdrill.report import estimate as est
from riftdrill.report.cost import load_prices

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
KEYS = {"hours", "currency", "prices_as_of", "nodes", "link_gb_per_direction", "lines", "total",
        "complete", "notes", "budget_usd", "within_budget"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RIFTDRILL_HOME": str(ROOT), "PYTHONPATH": str(ROOT / "src"),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "riftdrill", "cloud", "cost-estimate", *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_the_estimate_takes_the_terraform_defaults() -> None:
    e = est.estimate(load_prices(ROOT / "prices.yaml"), INFRA, 2)
    assert e.complete, e.notes
    assert e.nodes["aws"].brokers == 3 and e.nodes["aws"].controllers == 3
    assert e.nodes["aws"].broker_type == "m7i.xlarge"
    assert e.nodes["gcp"].controller_type == "n2-standard-2"
    items = {line.item for line in e.lines}
    assert "vpn_tunnel in gcp (x4)" in items and "nat_gateway in aws (x1)" in items
    assert e.total == pytest.approx(sum(line.drill for line in e.lines), abs=1e-3)
    # Everything but link egress (0 here) is paid by the hour: twice the hours, twice the cost.
    assert est.estimate(load_prices(ROOT / "prices.yaml"), INFRA, 4).total == pytest.approx(
        2 * e.total, rel=1e-3)


def test_counts_and_link_change_the_estimate() -> None:
    prices = load_prices(ROOT / "prices.yaml")
    base = est.estimate(prices, INFRA, 1)
    more = est.estimate(prices, INFRA, 1, brokers_per_cloud=6, link_gb=10)
    assert more.nodes["gcp"].brokers == 6
    egress = sum(line.drill for line in more.lines if line.item.startswith("egress"))
    assert egress == pytest.approx(10 * (0.09 + 0.12))
    assert more.total > base.total + egress


def test_a_part_without_a_price_is_a_note_and_the_estimate_incomplete(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "prices.yaml").read_text())
    del raw["network_hour"]["gcp"]
    del raw["controller_instance_hour"]
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(raw))
    e = est.estimate(load_prices(path), INFRA, 1)
    assert not e.complete
    assert "no network_hour price for gcp vpn_tunnel" in e.notes
    assert any("controllers priced as brokers" in n for n in e.notes)


def test_the_network_parts_are_the_ones_the_modules_create() -> None:
    def count(module: str, resource: str) -> str:
        text = (INFRA / "modules" / module / "main.tf").read_text()
        m = re.search(rf'^resource "{resource}" "\w+" \{{\n\s+count\s+=\s+(.+)$', text, re.M)
        assert m, f"{resource} not found with a count in {module}"
        return m.group(1).strip()

    assert count("interconnect", "aws_vpn_connection") == str(est.NETWORK_PARTS["aws"]["vpn_connection"])
    assert count("interconnect", "google_compute_vpn_tunnel") == str(est.NETWORK_PARTS["gcp"]["vpn_tunnel"])
    assert count("aws-cluster", "aws_nat_gateway") == "var.enable_nat_gateway ? 1 : 0"
    assert count("gcp-cluster", "google_compute_router_nat") == "var.enable_cloud_nat ? 1 : 0"


def test_over_budget_exits_2_with_one_line_and_the_json() -> None:
    res = _cli("--hours", "3", "--budget-usd", "1", "--json")
    assert res.returncode == 2, res.stderr
    data = json.loads(res.stdout)
    assert set(data) == KEYS
    assert data["within_budget"] is False and data["budget_usd"] == 1
    assert set(data["nodes"]) == {"aws", "gcp"}
    assert {"item", "quantity", "unit", "unit_price", "drill", "monthly"} <= set(data["lines"][0])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"estimated cost {data['total']:.2f} USD" in lines[0]
    assert "budget of 1.00 USD" in lines[0]


def test_within_budget_exits_0() -> None:
    res = _cli("--hours", "1", "--budget-usd", "500", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["within_budget"] is True and 0 < data["total"] < 500
    text = _cli("--hours", "1")
    assert text.returncode == 0 and "total" in text.stdout


@pytest.mark.parametrize("args", [["--hours", "0"], ["--hours", "1", "--budget-usd", "-5"],
                                  ["--hours", "1", "--link-gb", "-1"]])
def test_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    res = _cli(*args)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stdout == ""


def test_a_budget_in_another_currency_is_refused(tmp_path: Path) -> None:
    e = est.estimate(load_prices(ROOT / "prices.yaml"), INFRA, 1).model_copy(update={"currency": "EUR"})
    with pytest.raises(ValidationError, match="USD"):
        est.check_budget(e, 10)
