"""The soak's nemesis schedule: exact, reproducible from its seed, bounded, refused when bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riftdrill.chaos import nemesis as nm
from riftdrill.errors import ValidationError
from riftdrill.inventory import Broker, Cloud, Cluster, Inventory, Link

BROKERS = ("aws-1", "aws-2", "gcp-1", "gcp-2")
FIVE_KINDS = "broker-kill,broker-pause,link-sever,link-asymmetric,link-degrade"


def lab(emulated: bool = True) -> Inventory:
    clouds = [Cloud(name=n, provider="lab", cidr=f"198.18.{i}.0/24")
              for i, n in enumerate(("aws", "gcp"), start=1)]
    brokers = [Broker(id=i, name=n, cloud=n[:3], cluster="c", address=f"198.18.{i}.11", port=9092,
                      roles=["broker"]) for i, n in enumerate(BROKERS, start=1)]
    return Inventory(target="local", engine="kafka", engine_version="4.4.0", topology="stretched",
                     replication_factor=3, min_insync_replicas=2, clouds=clouds,
                     clusters=[Cluster(name="c", clouds=["aws", "gcp"], brokers=[1, 2, 3, 4],
                                       bootstrap={"aws": "198.18.1.11:9092"})],
                     brokers=brokers, stores=[],
                     links=[Link(name="aws-gcp", a="aws", b="gcp", emulated=emulated)])


def test_a_fixed_schedule_rotates_kinds_and_targets_every_interval() -> None:
    kinds, targets = nm.parse_kinds(FIVE_KINDS, lab())
    s = nm.plan(kinds, targets, soak_s=180, interval_s=12, hold_s=5)
    assert [f.at_s for f in s.faults] == [12.0 * i for i in range(1, 15)]
    assert [f.kind for f in s.faults[:6]] == [*kinds, kinds[0]]
    assert len(s.faults) >= 10 and len({f.kind for f in s.faults}) >= 4  # the lab test's profile
    kills = [f.target for f in s.faults if f.kind == "broker-kill"]
    assert kills == ["aws-1", "aws-2", "gcp-1"]  # each kill another broker
    assert all(f.at_s + f.hold_s <= 180 for f in s.faults)


def test_a_random_schedule_is_the_same_for_the_same_seed_and_stays_within_bounds() -> None:
    kinds, targets = nm.parse_kinds(nm.DEFAULT_KINDS, lab())
    a = nm.plan(kinds, targets, soak_s=600, interval_s=15, hold_s=5, seed=7, mode="random")
    b = nm.plan(kinds, targets, soak_s=600, interval_s=15, hold_s=5, seed=7, mode="random")
    c = nm.plan(kinds, targets, soak_s=600, interval_s=15, hold_s=5, seed=8, mode="random")
    assert a == b and a.faults != c.faults
    gaps = [y.at_s - x.at_s for x, y in zip(a.faults, a.faults[1:], strict=False)]
    assert all(7.5 - 1e-6 <= g <= 22.5 + 1e-6 for g in gaps)


def test_never_more_than_max_concurrent_and_never_two_on_one_resource() -> None:
    kinds, targets = nm.parse_kinds("broker-kill,link-sever,link-degrade", lab())
    s = nm.plan(kinds, targets, soak_s=300, interval_s=4, hold_s=10, max_concurrent=3)
    for f in s.faults:
        active = [g for g in s.faults if g.at_s <= f.at_s < g.at_s + g.hold_s]
        assert len(active) <= 3
        res = [nm.KINDS[g.kind].resource(g.target) for g in active]
        assert len(res) == len(set(res)), active


def test_a_leader_kill_never_overlaps_another_broker_fault() -> None:
    """The leader it finds may be any broker, and its heal restarts every faulted broker."""
    assert nm.clash("broker:*", "broker:aws-1") and nm.clash("broker:aws-1", "broker:*")
    assert not nm.clash("broker:*", "link:aws-gcp") and not nm.clash("broker:a", "broker:b")
    kinds, targets = nm.parse_kinds("leader-kill,broker-kill,broker-pause,link-flap", lab())
    assert targets["leader-kill"] == ["leader"] and targets["link-flap"] == ["aws-gcp"]
    s = nm.plan(kinds, targets, soak_s=300, interval_s=8, hold_s=10, max_concurrent=2)
    assert {"leader-kill", "link-flap"} <= {f.kind for f in s.faults}
    for f in s.faults:
        active = [g for g in s.faults if g.at_s <= f.at_s < g.at_s + g.hold_s]
        brokers = [g for g in active if g.kind in ("leader-kill", "broker-kill", "broker-pause")]
        if any(g.kind == "leader-kill" for g in active):
            assert len(brokers) == 1, active


@pytest.mark.parametrize(("kinds", "kwargs", "says"), [
    ("", {}, "no fault kinds"),
    ("broker-kill,disk-fill", {}, "unknown fault kind 'disk-fill'"),
    ("mirror-kill", {}, "fault kind mirror-kill has nothing to inject into"),
    ("broker-kill", {"hold_s": 60, "soak_s": 60}, "fault_hold_s 60 is not shorter than soak_s 60"),
    ("broker-kill", {"interval_s": 5, "hold_s": 12},
     "would overlap 2 faults at 10 s, more than max_concurrent=1"),
    ("link-sever,link-degrade", {"interval_s": 5, "hold_s": 8, "max_concurrent": 2},
     "has no free target"),
    ("broker-kill", {"schedule_mode": "chaotic"}, "invalid schedule 'chaotic'"),
    ("broker-kill", {"interval_s": 50, "soak_s": 40, "hold_s": 5}, "no fault fits"),
    ("broker-kill", {"seed": "x"}, "invalid seed"),
])
def test_bad_input_is_one_line_naming_it(kinds: str, kwargs: dict[str, object],
                                         says: str) -> None:
    args: dict[str, object] = {"soak_s": 120, "interval_s": 15, "hold_s": 5}
    mode = str(kwargs.pop("schedule_mode", "fixed"))
    args.update(kwargs)
    with pytest.raises(ValidationError) as e:
        names, targets = nm.parse_kinds(kinds, lab())
        nm.plan(names, targets, mode=mode, **args)  # type: ignore[arg-type]
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_degrade_needs_the_links_weather_emulator() -> None:
    """A lab deployed with WAN none has no emulator to give the link weather: the soak refuses
    link-degrade before anything is injected (it once failed at its sixth fault)."""
    with pytest.raises(ValidationError, match=r"fault kind link-degrade has nothing to inject "
                       r"into.*weather emulator.*WAN=metro"):
        nm.parse_kinds("broker-kill,link-degrade", lab(emulated=False))
    names, _ = nm.parse_kinds("broker-kill,link-sever", lab(emulated=False))
    assert names == ["broker-kill", "link-sever"]


def test_a_recorded_schedule_replays_fault_for_fault(tmp_path: Path) -> None:
    kinds, targets = nm.parse_kinds(nm.DEFAULT_KINDS, lab())
    s = nm.plan(kinds, targets, soak_s=120, interval_s=15, hold_s=5, seed=3, mode="random")
    path = tmp_path / "nemesis.json"
    path.write_text(json.dumps({**s.to_json(), "outcomes": []}))
    assert nm.load_replay(path, lab()) == s
    data = json.loads(path.read_text())
    data["faults"][0]["target"] = "aws-9"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="no such target in this lab"):
        nm.load_replay(path, lab())


class FakeClock:
    """Seconds that pass only when the nemesis sleeps or a fault action takes time."""

    def __init__(self, costs: dict[str, float] | None = None) -> None:
        self.t = 0.0
        self.costs = costs or {}
        self.log: list[tuple[float, str, int]] = []

    def sleep_s(self, s: float) -> bool:
        self.t += s
        return True

    def act(self, what: str) -> object:
        def run(f: nm.PlannedFault) -> None:
            self.log.append((round(self.t, 3), what, f.index))
            self.t += self.costs.get(f"{what}:{f.kind}", 0.0)
        return run


def _execute(s: nm.Schedule, clock: FakeClock) -> dict[int, nm.Outcome]:
    outcomes = {f.index: nm.Outcome(f.index) for f in s.faults}
    nm.execute(s, outcomes, inject=clock.act("inject"), heal=clock.act("heal"),  # type: ignore[arg-type]
               sleep_s=clock.sleep_s, on_change=lambda: None, clock=lambda: clock.t)
    return outcomes


def test_each_fault_is_held_its_hold_and_healed_before_the_next() -> None:
    kinds, targets = nm.parse_kinds("broker-kill", lab())
    s = nm.plan(kinds, targets, soak_s=40, interval_s=10, hold_s=10)
    clock = FakeClock()
    out = _execute(s, clock)
    assert clock.log == [(10.0, "inject", 0), (20.0, "heal", 0), (20.0, "inject", 1),
                         (30.0, "heal", 1), (30.0, "inject", 2), (40.0, "heal", 2)]
    assert [(o.injected_at_s, o.healed_at_s, o.error) for o in out.values()] == [
        (10.0, 20.0, None), (20.0, 30.0, None), (30.0, 40.0, None)]


def test_a_slow_heal_makes_the_next_fault_late_never_shorter_and_time_up_stops_injecting() -> None:
    kinds, targets = nm.parse_kinds("broker-kill,link-sever", lab())
    s = nm.plan(kinds, targets, soak_s=60, interval_s=10, hold_s=5)
    clock = FakeClock({"heal:broker-kill": 30.0})  # a restart that takes 30 s
    out = _execute(s, clock)
    # kill at 10, restart 15-45; the sever due at 20 waits for the slot: 45-50, held 5 s
    assert clock.log[:4] == [(10.0, "inject", 0), (15.0, "heal", 0), (45.0, "inject", 1),
                             (50.0, "heal", 1)]
    late = out[1]
    assert late.injected_at_s == 45.0 and late.healed_at_s == 50.0
    # planned at 30 and 40 (a kill then a sever): the kill at 50, healed 55-85; then time is up
    assert out[2].injected_at_s == 50.0 and out[2].healed_at_s == 85.0
    assert out[3].injected_at_s is None and out[3].error == "not injected: the soak's time was up"


def test_an_interrupted_schedule_heals_what_it_opened() -> None:
    kinds, targets = nm.parse_kinds("link-sever", lab())
    s = nm.plan(kinds, targets, soak_s=60, interval_s=10, hold_s=5)
    log: list[str] = []
    sleeps = iter([True, False])  # the second wait (for the heal) is interrupted
    outcomes = {f.index: nm.Outcome(f.index) for f in s.faults}
    interrupted = nm.execute(s, outcomes, inject=lambda f: log.append(f"inject {f.index}"),
                             heal=lambda f: log.append(f"heal {f.index}"),
                             sleep_s=lambda _s: next(sleeps), on_change=lambda: None)
    assert interrupted and log == ["inject 0", "heal 0"]
    assert outcomes[0].healed_at_s is not None and outcomes[1].injected_at_s is None


def test_a_failing_injection_heals_the_open_faults_and_raises() -> None:
    kinds, targets = nm.parse_kinds("broker-kill,link-sever", lab())
    s = nm.plan(kinds, targets, soak_s=60, interval_s=4, hold_s=6, max_concurrent=2)
    healed: list[int] = []

    def inject(f: nm.PlannedFault) -> None:
        if f.index == 1:
            raise RuntimeError("link gone")

    clock = FakeClock()
    outcomes = {f.index: nm.Outcome(f.index) for f in s.faults}
    with pytest.raises(RuntimeError, match="link gone"):
        nm.execute(s, outcomes, inject=inject, heal=lambda f: healed.append(f.index),
                   sleep_s=clock.sleep_s, on_change=lambda: None, clock=lambda: clock.t)
    assert healed == [0] and outcomes[0].error == "RuntimeError: link gone"


def test_a_cloud_soak_needs_an_explicit_budget() -> None:
    nm.check_cloud_budget("local", 0)  # the lab: no budget
    with pytest.raises(ValidationError, match="needs an explicit budget: --var budget_usd"):
        nm.check_cloud_budget("aws-gcp", 0)
    nm.check_cloud_budget("aws-gcp", 13)
    with pytest.raises(ValidationError, match="invalid budget_usd"):
        nm.check_cloud_budget("aws-gcp", "lots")


def test_the_drills_settings_build_the_schedule_with_every_bound_checked() -> None:
    s = nm.schedule_from(lab(), kinds="", soak_s="120", interval_s="15", fault_hold_s="5",
                         load_max_s="180")
    assert s.kinds == nm.DEFAULT_KINDS.split(",") and len(s.faults) == 7
    with pytest.raises(ValidationError, match="raise load_max_s"):
        nm.schedule_from(lab(), soak_s=120, load_max_s=179)


def test_the_heal_of_a_refused_degrade_on_a_link_without_emulator_is_a_no_op() -> None:
    """heal_all syncs the weather of every degraded link it forgets: on a link with no
    emulator there is nothing to give back, unless a degrade is still recorded (refused)."""
    from riftdrill.drivers.local import LocalDriver
    from riftdrill.errors import FaultError
    from riftdrill.inventory import Fault

    inv = lab(emulated=False)
    effect = LocalDriver().sync_weather(inv, "aws-gcp")
    assert effect.confirmed_by == "no weather emulator, no degrade recorded"
    inv.faults.append(Fault(id="d", kind="degrade_link", target="aws-gcp"))
    with pytest.raises(FaultError, match="has no weather emulator"):
        LocalDriver().sync_weather(inv, "aws-gcp")
