"""Open-model rate control: records are due on a fixed schedule, whatever the sender did."""

from riftdrill.load.schedule import OpenSchedule

S = 1_000_000_000


def test_due_count_follows_the_rate_not_the_loop() -> None:
    s = OpenSchedule(rate_per_s=1000, start_ns=10 * S)
    assert s.due_count(10 * S - 1) == 0
    assert s.due_count(10 * S) == 1  # seq 0 is due at start
    assert s.due_count(11 * S) == 1001
    # A sender stalled for 2 s owes every record of those 2 s, not fewer.
    assert s.due_count(13 * S) == 3001


def test_intended_times_are_exact_and_do_not_drift() -> None:
    s = OpenSchedule(rate_per_s=3, start_ns=0)
    assert [s.intended_ns(i) for i in range(4)] == [0, 333_333_333, 666_666_666, 1_000_000_000]
    assert s.intended_ns(3_000_000) == 1_000_000 * S  # long runs: no accumulated error


def test_bounded_schedule_stops_at_rate_times_duration() -> None:
    s = OpenSchedule(rate_per_s=250, start_ns=0, duration_s=20)
    assert s.total == 5000
    assert s.due_count(3600 * S) == 5000


def test_split_rate_over_producers_sums_to_the_target() -> None:
    producers = [OpenSchedule(1000 / 3, 0, 20) for _ in range(3)]
    assert abs(sum(p.total or 0 for p in producers) - 20000) <= len(producers)  # rounding only


def test_the_send_pause_never_spins_once_the_schedule_is_done() -> None:
    from riftdrill.load.schedule import MAX_SLEEP_S, send_pause_s

    s = OpenSchedule(rate_per_s=1000, start_ns=0, duration_s=1.0)
    # sends due: no pause; ahead of schedule: until the next one, at most MAX_SLEEP_S
    assert send_pause_s(10, 20, False, s.intended_ns(10), 0) == 0.0
    assert send_pause_s(20, 20, False, s.intended_ns(20), s.intended_ns(20) - 500_000) == 0.0005
    assert send_pause_s(20, 20, False, 10**9, 0) == MAX_SLEEP_S
    # every record sent, its next due time long past: the old code slept 0 here, and spun
    now = 5 * 10**9
    assert send_pause_s(s.total or 0, s.due_count(now), True, s.intended_ns(1000), now) \
        == MAX_SLEEP_S
