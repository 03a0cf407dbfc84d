"""Probes that only mean something on some engines say so instead of reporting a healthy 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos import probes
from tests.unit.test_chaos_targets import inv


def test_isr_probe_is_not_applicable_on_a_stateless_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    tansu = inv().model_copy(update={"engine": "tansu"})
    monkeypatch.setattr(probes.inventory, "load", lambda *a, **k: tansu)
    monkeypatch.setattr(probes, "_partitions", lambda topic: pytest.fail("no metadata needed"))
    out = probes.under_replicated_partitions("t")
    assert isinstance(out, str) and out.startswith("not applicable: tansu")


def _metrics(run: Path, worker: str, seconds: list[tuple[int, int, int]]) -> None:
    """seconds: (t, sent, acked), each acked record 20 ms."""
    from riftdrill.load import histograms

    d = run / "load" / "workers" / worker
    d.mkdir(parents=True)
    with open(d / "metrics.jsonl", "w") as f:
        for t, sent, acked in seconds:
            hist = histograms.new_histogram()
            for _ in range(acked):
                histograms.record_us(hist, 20_000)
            f.write(json.dumps({"t": t, "sent": sent, "acked": acked, "lag": 0,
                                "hist_us": {"ack_latency": histograms.encode(hist)}}) + "\n")


def test_a_cloud_that_sends_and_gets_no_ack_fails_the_latency_hypothesis(tmp_path: Path) -> None:
    """The merged p99 is aws's alone when gcp gets nothing acked: the hypothesis must not hold
    (it did, for Tansu's gcp half under the inter-region link, docs/findings.md)."""
    _metrics(tmp_path, "aws-0-11", [(100 + i, 100, 100) for i in range(10)])
    _metrics(tmp_path, "gcp-1-12", [(100 + i, 100, 0) for i in range(10)])
    conf = {"run_dir": str(tmp_path), "owner_pid": 0}
    assert probes.p99_ack_latency_ms(10, conf) == pytest.approx(20, rel=0.05)
    assert probes.silent_clouds(probes._load_seconds(10, tmp_path)) == ["gcp"]
    assert probes.p99_ack_latency_within(1000, 10, 0, conf) is False


def test_every_cloud_acked_holds_the_latency_hypothesis(tmp_path: Path) -> None:
    _metrics(tmp_path, "aws-0-11", [(100 + i, 100, 100) for i in range(10)])
    _metrics(tmp_path, "gcp-1-12", [(100 + i, 100, 90) for i in range(10)])
    conf = {"run_dir": str(tmp_path), "owner_pid": 0}
    assert probes.p99_ack_latency_within(1000, 10, 0, conf) is True


def test_the_baseline_starts_once_every_clouds_load_has_an_ack(tmp_path: Path) -> None:
    """start_load waits for a first ack in every cloud (bounded); a cloud that has none by the
    bound is named, and left to the verdict's baseline check."""
    from riftdrill.chaos.actions import wait_load_ready

    _metrics(tmp_path, "aws-0-11", [(100, 100, 0), (101, 100, 100)])
    _metrics(tmp_path, "gcp-1-12", [(100, 100, 0), (101, 100, 0)])
    waited, missing = wait_load_ready(tmp_path / "load", ["aws", "gcp"], timeout_s=0.3)
    assert missing == ["gcp"] and waited >= 0.3
    with open(tmp_path / "load" / "workers" / "gcp-1-12" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"t": 102, "sent": 100, "acked": 3}) + "\n")
    waited, missing = wait_load_ready(tmp_path / "load", ["aws", "gcp"], timeout_s=5)
    assert missing == [] and waited < 1
