"""Fault windows are timed by the fault's effect: the lab driver confirms each fault and heal
(pid gone, state stopped, nft rule listed back, store unreachable; broker listening, state
running, rule gone, store reachable) within a bounded wait, and the actions stamp the window
with that instant, the request time and what was observed."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from riftdrill.chaos import windows
from riftdrill.chaos.summary import FaultWindow, RunSummary
from riftdrill.drivers import local
from riftdrill.drivers.base import Effect
from riftdrill.errors import FaultError
from riftdrill.inventory import Fault

from .test_fault_actions import lab


@pytest.fixture()
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "CONFIRM_S", 0.2)
    monkeypatch.setattr(local, "POLL_S", 0.001)


class FakeProc:
    """One broker process: dies / stops a few polls after its signal, or never."""

    def __init__(self, polls: int | None) -> None:
        self.polls_left = polls  # None: the signal never takes effect
        self.signals: list[signal.Signals] = []

    def send(self, name: str, sig: signal.Signals) -> bool:
        self.signals.append(sig)
        return True

    def effect_shown(self) -> bool:
        if self.polls_left is None:
            return False
        self.polls_left -= 1
        return self.polls_left < 0


def test_a_kill_is_confirmed_when_the_pid_is_gone(monkeypatch: pytest.MonkeyPatch,
                                                  fast: None) -> None:
    proc = FakeProc(polls=3)
    monkeypatch.setattr(local.procs, "send", proc.send)
    monkeypatch.setattr(local.procs, "pid_of",
                        lambda name: None if proc.effect_shown() else 4711)
    inv = lab()
    effect = local.LocalDriver().kill_broker(inv, inv.broker("aws-1"))
    assert proc.signals == [signal.SIGKILL]
    assert effect.confirmed_by == "pid gone"
    assert effect.confirmed_ns > effect.requested_ns  # three polls later


def test_a_kill_that_does_not_take_effect_fails_within_the_bound(
        monkeypatch: pytest.MonkeyPatch, fast: None) -> None:
    proc = FakeProc(polls=None)
    monkeypatch.setattr(local.procs, "send", proc.send)
    monkeypatch.setattr(local.procs, "pid_of", lambda name: 4711)
    inv = lab()
    with pytest.raises(FaultError, match="survived SIGKILL"):
        local.LocalDriver().kill_broker(inv, inv.broker("aws-1"))


def test_a_pause_is_confirmed_by_state_stopped_and_fails_if_never(
        monkeypatch: pytest.MonkeyPatch, fast: None) -> None:
    inv = lab()
    proc = FakeProc(polls=2)
    monkeypatch.setattr(local.procs, "send", proc.send)
    monkeypatch.setattr(local.procs, "state",
                        lambda name: "paused" if proc.effect_shown() else "running")
    effect = local.LocalDriver().pause_broker(inv, inv.broker("gcp-1"))
    assert (proc.signals, effect.confirmed_by) == ([signal.SIGSTOP], "state stopped")
    monkeypatch.setattr(local.procs, "state", lambda name: "running")
    with pytest.raises(FaultError, match="did not show state stopped"):
        local.LocalDriver().pause_broker(inv, inv.broker("gcp-1"))


def test_a_restart_is_confirmed_when_the_broker_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = lab()
    calls: list[str] = []
    monkeypatch.setattr(local.procs, "restart", lambda name: calls.append(f"restart {name}"))
    monkeypatch.setattr(local.stores, "wait_listening",
                        lambda addr, port, name, timeout_s: calls.append(f"listening {port}"))
    effect = local.LocalDriver().start_broker(inv, inv.broker("aws-1"))
    assert calls == ["restart broker-aws-1", "listening 9092"]
    assert effect.confirmed_by == "broker listening"
    assert effect.confirmed_ns >= effect.requested_ns


class FakeNft:
    """The chain as `nft list` shows it: what the last script loaded, unless `lost`."""

    def __init__(self, lost: bool = False) -> None:
        self.rules: list[str] = []
        self.lost = lost

    def set_rules(self, ns: str, hook: str, rules: list[str]) -> None:
        self.rules = [] if self.lost else list(rules)

    def ns_run(self, ns: str, args: list[str], check: bool = True, **_: Any) -> str:
        assert args[:3] == ["nft", "list", "chain"]
        body = "\n".join(f"\t\t{r}" for r in self.rules)
        return f"table inet riftdrill {{\n\tchain forward {{\n{body}\n\t}}\n}}\n"


def _with_fault(kind: str, target: str, fault_id: str) -> Any:
    inv = lab()
    inv.faults.append(Fault(id=fault_id, kind=kind, target=target, direction="both", by_pid=0))
    return inv


def test_a_sever_is_confirmed_by_its_rules_listed_back_and_a_heal_by_them_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    nft = FakeNft()
    monkeypatch.setattr(local.net, "nft_set_rules", nft.set_rules)
    monkeypatch.setattr(local.net, "ns_run", nft.ns_run)
    inv = _with_fault("sever_link", "aws-gcp", "sever_link-aws-gcp-abc123")
    effect = local.LocalDriver().sync_link(inv, "aws-gcp")
    assert effect.confirmed_by == "nft rule listed"
    assert len(nft.rules) == 2 and all("sever_link-aws-gcp-abc123" in r for r in nft.rules)
    inv.faults.clear()
    assert local.LocalDriver().sync_link(inv, "aws-gcp").confirmed_by == "nft rules gone"
    assert nft.rules == []


def test_a_sever_whose_rules_are_not_listed_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    nft = FakeNft(lost=True)
    monkeypatch.setattr(local.net, "nft_set_rules", nft.set_rules)
    monkeypatch.setattr(local.net, "ns_run", nft.ns_run)
    monkeypatch.setattr(local, "wait_for",
                        lambda check, timeout_s=None, poll_s=None: None if not check() else 1)
    inv = _with_fault("sever_link", "aws-gcp", "sever_link-aws-gcp-abc123")
    with pytest.raises(FaultError, match="does not show them"):
        local.LocalDriver().sync_link(inv, "aws-gcp")


def test_a_store_block_is_confirmed_by_a_failed_connect_and_unblock_by_one_that_works(
        monkeypatch: pytest.MonkeyPatch, fast: None) -> None:
    reachable = {"198.18.1.5": True}
    monkeypatch.setattr(local.net, "nft_set_rules",
                        lambda ns, hook, rules: reachable.update({"198.18.1.5": not rules}))
    monkeypatch.setattr(local, "connects", lambda address, port: reachable[address])
    inv = _with_fault("block_object_store", "aws-s3", "block_object_store-aws-s3-1")
    effect = local.LocalDriver().sync_store(inv, "aws-s3")
    assert effect.confirmed_by.startswith("store unreachable")
    inv.faults.clear()
    assert local.LocalDriver().sync_store(inv, "aws-s3").confirmed_by.startswith(
        "store reachable")
    # a block the store does not feel is an error, not a window that starts too early
    monkeypatch.setattr(local.net, "nft_set_rules", lambda ns, hook, rules: None)
    inv = _with_fault("block_object_store", "aws-s3", "block_object_store-aws-s3-2")
    with pytest.raises(FaultError, match="still reachable"):
        local.LocalDriver().sync_store(inv, "aws-s3")


def test_an_old_fault_window_keeps_its_shape() -> None:
    old = {"kind": "kill_broker", "target": "aws-2", "direction": "both", "start_s": 1.0,
           "end_s": 2.0, "healed_by": "drill"}
    assert FaultWindow.model_validate(old).model_dump() == old
    w = windows.pair([{"event": "start", "kind": "kill_broker", "target": "aws-2", "ts_ns": 10**9}])
    assert w[0].to_summary() == {**old, "end_s": None}
    assert RunSummary  # the whole-summary round trip is tests/unit/test_summary.py's


def test_effect_since_is_now() -> None:
    e = Effect.since(5, "api returned")
    assert e.requested_ns == 5 and e.confirmed_ns > 5 and e.confirmed_by == "api returned"
