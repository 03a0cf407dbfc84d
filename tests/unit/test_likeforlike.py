"""The like-for-like load bench's judging: publish delay from CreateTime, the bisection, ratios."""

from __future__ import annotations

import pytest

from riftdrill.load import likeforlike as lff


def test_publish_delay_is_the_send_time_minus_the_due_time_after_the_warmup() -> None:
    # 1000/s: record i is due at i ms; the tool sent records 2000.. 7 ms late, in shuffled order
    times = [i for i in range(2000)] + [i + 7 for i in range(2000, 3000)]
    delays = lff.publish_delays_ms(list(reversed(times)), 1000.0, warmup_s=1.0)
    # whole milliseconds, floored: a record may have been sent up to 1 ms after its CreateTime,
    # so the latest start the records allow is 1 ms after the first send; records due in the
    # second after that first send are not judged
    assert len(delays) == 2001
    assert delays[:1001] == [0.0] * 1001 and set(delays[1001:]) == {6.0}
    assert lff.quantile(delays, 0.99) == 6.0 and lff.quantile(delays, 0.5) == 0.0


def test_a_throttlers_burst_ahead_of_the_schedule_is_no_delay() -> None:
    # ProducerPerformance sleeps in 2 ms chunks: a burst sends records before they are due
    times = [0, 0, 0, 0, 4, 4, 4, 4]
    assert lff.publish_delays_ms(times, 1000.0, warmup_s=0,
                                 early_ms=lff.EARLY_MS["kafka_perf"]) == [0.0] * 8


def test_a_late_first_record_does_not_hide_later_stalls() -> None:
    # ProducerPerformance's clock starts, its first send waits 300 ms for metadata, a burst
    # catches up, then it keeps the schedule but for one 10 ms stall at 2 s. Anchored at the
    # first record every record looked 300 ms early and the stall no delay at all.
    rate = 1000.0
    times = [max(300, i) for i in range(4000)]
    times[2000:2010] = [2010] * 10
    pp = lff.EARLY_MS["kafka_perf"]
    delays = lff.publish_delays_ms(times, rate, warmup_s=1.0, early_ms=pp)
    # judged: due from 1 s after the first send (300 ms) on; the anchor is 2 + 1 ms late
    assert len(delays) == 4000 - 1297 and max(delays) == 10.0 - pp - 1.0
    assert sorted(delays)[-8:] == [0.0, 1, 2, 3, 4, 5, 6, 7]  # only the stalled records
    # riftdrill, never early: the same records are judged 2 ms later (its pacing allows less)
    rd = lff.publish_delays_ms(times, rate, warmup_s=1.0, early_ms=lff.EARLY_MS["riftdrill"])
    assert max(rd) == 10.0 - 1.0


def test_a_start_up_is_left_out_for_a_second_after_the_first_send_no_longer() -> None:
    # a 1.5 s wait for metadata: the catch-up burst after it is start-up, not judged; a stall
    # later is, and so is a tool still catching up a second after its first send
    times = [max(1500, i) for i in range(5000)]
    times[3000:3010] = [3010] * 10
    judged = lff.publish_delays_ms(times, 1000.0, warmup_s=1.0, early_ms=2.0)
    assert len(judged) == 5000 - 2497 and max(judged) == 7.0
    slow = [max(1500, i // 2 + 750) if i < 3000 else i for i in range(5000)]  # catches up at 3 s
    late = lff.publish_delays_ms(slow, 1000.0, warmup_s=1.0, early_ms=2.0)
    assert max(late) > 200  # the catch-up after the first second is judged as late


def test_the_anchor_is_the_latest_start_the_records_allow() -> None:
    # on time to the millisecond, floored: no record may look late
    times = [int(i * 1000 / 3000) for i in range(9000)]  # 3000/s for 3 s
    assert set(lff.publish_delays_ms(times, 3000.0, warmup_s=1.0)) == {0.0}
    # a tool that was late from its first record to its last shows its growing lateness
    behind = [int(i * 1000 / 2500) for i in range(9000)]  # 2500/s against a 3000/s schedule
    delays = lff.publish_delays_ms(behind, 3000.0, warmup_s=1.0)
    assert delays[-1] == pytest.approx(9000 * (0.4 - 1 / 3) - 1, abs=1.5)


def test_a_trial_passes_under_the_goal_with_its_records_in_the_topic() -> None:
    def trial(p99: float | None, read_back: int, acked_per_s: float | None = 1000.0) -> lff.Trial:
        return lff.Trial("kafka_perf", 1000.0, 8.0, due=8000, read_back=read_back,
                         publish_delay_p99_ms=p99, publish_delay_max_ms=p99,
                         acked_per_s=acked_per_s).judge()

    assert trial(4.9, 8000).ok and trial(4.9, 8000, acked_per_s=990.0).ok
    assert not trial(5.0, 8000).ok  # "under 5 ms"
    assert not trial(0.0, 7990).ok  # 10 records short of 99.9 %
    assert not trial(None, 8000).ok  # nothing to judge is no pass
    # sends on time, acks behind: the producer's buffer hid the cluster's pace
    assert not trial(0.0, 8000, acked_per_s=985.0).ok
    assert not trial(0.0, 8000, acked_per_s=None).ok


def test_the_bisection_brackets_the_highest_passing_rate() -> None:
    seen: list[float] = []

    def run(rate: float) -> lff.Trial:
        seen.append(rate)
        return lff.Trial("riftdrill", rate, 8.0, due=8, read_back=8,
                         publish_delay_p99_ms=1.0 if rate <= 2500 else 50.0,
                         publish_delay_max_ms=None, acked_per_s=rate)

    found = lff.search_max_rate("riftdrill", run, 8000.0, steps=6)
    assert seen == [8000.0, 4000.0, 2000.0, 3000.0, 2500.0, 2800.0]
    assert found.best_per_s == 2500.0 and not found.at_ceiling
    assert [t.ok for t in found.trials] == [False, False, True, False, True, False]


def test_a_tool_passing_at_its_ceiling_is_not_searched_further() -> None:
    def run(rate: float) -> lff.Trial:
        return lff.Trial("kafka_perf", rate, 8.0, 8, 8, 0.5, 0.5, acked_per_s=rate)

    found = lff.search_max_rate("kafka_perf", run, 3000.0, steps=5)
    assert found.best_per_s == 3000.0 and len(found.trials) == 1 and found.at_ceiling


def test_a_tool_failing_everywhere_sustains_zero() -> None:
    def run(rate: float) -> lff.Trial:
        return lff.Trial("kafka_perf", rate, 8.0, 8, 8, 99.0, 99.0, acked_per_s=rate)

    found = lff.search_max_rate("kafka_perf", run, 1000.0, steps=5)
    assert found.best_per_s == 0.0 and all(not t.ok for t in found.trials)


def test_ratios_are_per_round_with_their_spread() -> None:
    r = lff.ratios([20_000, 30_000, 25_000], [25_000, 25_000, 25_000])
    assert r.per_round == [0.8, 1.2, 1.0] and (r.median, r.min, r.max) == (1.0, 0.8, 1.2)
    assert lff.ratios([1.0], [0.0]) == lff.Ratio([], None, None, None)
    with pytest.raises(ValueError):
        lff.ratios([1.0, 2.0], [1.0])  # rounds must pair up


def test_steady_rate_leaves_out_the_first_and_last_window() -> None:
    assert lff.steady_rate([5.0, 100.0, 110.0, 90.0, 7.0]) == 100.0
    assert lff.steady_rate([100.0, 100.0]) is None  # no steady window at all


def test_cpu_per_record_is_each_tools_median_over_the_trials_that_measured_it() -> None:
    def trial(tool: lff.Tool, due: int, cpu_s: float | None) -> lff.Trial:
        return lff.Trial(tool=tool, target_rate_per_s=due / 8, duration_s=8.0, due=due,
                         read_back=due, publish_delay_p99_ms=1.0, publish_delay_max_ms=2.0,
                         tool_cpu_s=cpu_s)

    assert trial("riftdrill", 10_000, 1.5).tool_cpu_us_per_record == 150.0
    assert trial("riftdrill", 10_000, None).tool_cpu_us_per_record is None
    assert trial("riftdrill", 0, 1.0).tool_cpu_us_per_record is None
    searches = [lff.Search("riftdrill", 1000, trials=[trial("riftdrill", 10_000, 1.0),
                                                      trial("riftdrill", 20_000, 4.0)]),
                lff.Search("riftdrill", 1000, trials=[trial("riftdrill", 10_000, 3.0),
                                                      trial("riftdrill", 10_000, None)]),
                lff.Search("kafka_perf", 1000, trials=[trial("kafka_perf", 100_000, 2.0)])]
    assert lff.cpu_per_record(searches) == {
        "riftdrill": {"median_us": 200.0, "trials": 3},
        "kafka_perf": {"median_us": 20.0, "trials": 1}}
    assert lff.cpu_per_record([]) == {"riftdrill": {"median_us": None, "trials": 0},
                                      "kafka_perf": {"median_us": None, "trials": 0}}


def test_end_offsets_ask_again_while_a_leader_does_not_know_the_new_topic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A partition the leader calls unknown for a moment (broker code 3), and the client's own
    # code for it: both asked again; any other error is raised at once.
    from confluent_kafka import KafkaError, KafkaException

    from riftdrill.load import bench

    monkeypatch.setattr(bench.time, "sleep", lambda s: None)

    class Reader:
        def __init__(self, errors: list[int]) -> None:
            self.errors = errors

        def get_watermark_offsets(self, tp: object, timeout: float) -> tuple[int, int]:
            if self.errors:
                raise KafkaException(KafkaError(self.errors.pop(0)))
            return 0, 7

    flaky = [KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION]
    assert bench._ends(Reader(flaky)) == dict.fromkeys(range(bench.PARTITIONS), 7)
    with pytest.raises(KafkaException):
        bench._ends(Reader([KafkaError.TOPIC_AUTHORIZATION_FAILED]))
