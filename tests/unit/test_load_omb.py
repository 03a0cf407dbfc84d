"""OMB workloads in: every field maps onto the LoadSpec or is refused in one line naming it and
the fix (exit 2); the samples under examples/omb load; a flag the workload decides is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riftdrill import inventory
from riftdrill.load import omb
from riftdrill.load.spec import LoadSpec
from tests.unit.test_cli import invoke
from tests.unit.test_inventory import sample

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "omb"
BASE: dict[str, Any] = {"name": "w", "topics": 1, "partitionsPerTopic": 6, "messageSize": 1024,
                        "subscriptionsPerTopic": 1, "producersPerTopic": 2,
                        "consumerPerSubscription": 2, "producerRate": 1000,
                        "testDurationMinutes": 5}  # fmt: skip


def test_fields_map_onto_the_load_spec() -> None:
    got = omb.workload_spec({**BASE, "warmupDurationMinutes": 0.5,
                             "keyDistributor": "KEY_ROUND_ROBIN"}, clouds=2)  # fmt: skip
    spec = LoadSpec(**got)
    assert (spec.rate_per_s, spec.duration_s, spec.warmup_s, spec.size_bytes, spec.partitions,
            spec.keys, spec.producers_per_cloud, spec.consumers, spec.consumers_per_cloud,
            spec.workload_name) == (1000, 330, 30, 1024, 6, "round-robin", 1, True, 1, "w")
    # OMB's defaults: a 1-minute warm-up, no key
    assert omb.workload_spec(BASE, clouds=1)["warmup_s"] == 60
    assert omb.workload_spec(BASE, clouds=1)["keys"] == "none"
    tenth = omb.workload_spec({**BASE, "warmupDurationMinutes": 0.1,
                               "testDurationMinutes": 0.25}, clouds=1)  # fmt: skip
    assert (tenth["warmup_s"], tenth["duration_s"]) == (6.0, 21.0)  # no 6.000000000000001
    no_consumers = omb.workload_spec({**BASE, "subscriptionsPerTopic": 0}, clouds=2)
    assert no_consumers["consumers"] is False and no_consumers["consumers_per_cloud"] == 0


def test_a_backlog_adds_its_build_time_to_the_duration() -> None:
    got = omb.workload_spec({**BASE, "consumerBacklogSizeGB": 0.01, "backlogDrainRatio": 0.9,
                             "warmupDurationMinutes": 0}, clouds=2)  # fmt: skip
    spec = LoadSpec(**got)
    assert spec.backlog_bytes == int(0.01 * 1024**3) and spec.backlog_drain_ratio == 0.9
    # 10.7 MB at 1000 msg/s of 1 KiB: 10.486 s to build, then the 5-minute test
    assert spec.duration_s == pytest.approx(300 + 10.486, abs=0.001)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_samples_load(path: Path) -> None:
    spec = LoadSpec(**omb.workload_spec(omb.read_workload(path), clouds=2))
    assert spec.workload_name and spec.rate_per_s <= 2000  # lab-sized


@pytest.mark.parametrize(("change", "needle"), [
    ({"topics": 2}, "topics: riftdrill loads one topic per run: set topics: 1"),
    ({"payloadFile": "payload/payload-1Kb.data"}, "payloadFile"),
    ({"useRandomizedPayloads": True}, "useRandomizedPayloads"),
    ({"randomBytesRatio": 0.5}, "randomBytesRatio"),
    ({"consumerBacklogSizeGB": -1}, "consumerBacklogSizeGB"),
    ({"backlogDrainRatio": 1.5}, "backlogDrainRatio"),
    ({"consumerBacklogSizeGB": 1, "subscriptionsPerTopic": 0}, "needs consumers"),
    ({"subscriptionsPerTopic": 2}, "subscriptionsPerTopic: 2"),
    ({"producerRate": 0}, "maximum sustainable rate"),
    ({"producersPerTopic": 3}, "producersPerTopic: 3 does not split evenly over 2"),
    ({"keyDistributor": "ZIPF"}, "keyDistributor"),
    ({"messageSize": "1kb"}, "messageSize"),
    ({"partitionsPerTopic": 1.5}, "partitionsPerTopic: 1.5 must be a whole number"),
    ({"testDurationMinutes": None}, "testDurationMinutes is missing"),
])  # fmt: skip
def test_what_cannot_be_honoured_is_refused_by_name(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(omb.WorkloadError, match=needle.replace(".", r"\.")) as exc:
        omb.workload_spec({**BASE, **change}, clouds=2)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(text)
    return path


def test_cli_refuses_an_unknown_field_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: w\nproducerRate: 10\nretentionMinutes: 5\n")
    result = invoke(["load", "--workload", str(path)], tmp_path)
    assert result.exit_code == 2
    assert "unknown OMB field(s) retentionMinutes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_refuses_a_flag_the_workload_decides(tmp_path: Path) -> None:
    path = write(tmp_path, "name: w\nproducerRate: 10\n")
    result = invoke(["load", "--workload", str(path), "--rate", "50", "--duration", "3"], tmp_path)
    assert result.exit_code == 2
    assert "--rate, --duration conflicts with --workload" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_splits_counts_over_the_placement(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory, "load", lambda path=None: sample())  # clouds aws and gcp
    path = write(tmp_path, "\n".join(f"{k}: {v}" for k, v in {**BASE, "producersPerTopic": 3}
                                     .items()))  # fmt: skip
    result = invoke(["load", "--workload", str(path)], tmp_path)
    assert result.exit_code == 2 and "does not split evenly over 2" in result.stderr
    # one placement cloud takes all three
    got = omb.workload_spec(omb.read_workload(path), clouds=1)
    assert got["producers_per_cloud"] == 3
